import { fileURLToPath } from 'node:url';

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

/** Handlers that open connections to target databases: they run in the targets' VPC when one is given. */
export const DATABASE_HANDLERS: readonly HandlerName[] = [
  'api',
  'credentials',
  'grant',
  'revoke',
  'record-outcome',
  'expiry-sweeper',
  'execution-status-change',
];

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
 * tested and lets esbuild tree-shake it. `pg-native` is an optional binding pg only loads when asked to.
 */
export const EXTERNAL_MODULES = ['pg-native'];

/** Prefer ESM entry points so esbuild can tree-shake (the SDK and powertools ship both). */
export const MAIN_FIELDS = ['module', 'main'];

/** The same options in esbuild's own vocabulary (bench/bundles.ts). */
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
} as const;
