/**
 * Builds every handler exactly as JitFunction does (cdk/bundling.ts `buildFunction`) for a policy's engines
 * and prints, per function:
 *
 * - start KB: what a cold start loads, index.mjs plus the chunks it imports statically (minified, no maps);
 * - total KB: the whole asset's code, with the chunks loaded on first use (SDK clients, database drivers);
 * - import ms: median time for a fresh Node process to import index.mjs, and its ratio to an empty function;
 * - all-chunks ms: the same with every chunk imported too, what a container pays by the time it has used
 *   every lazily loaded part (a first database call, a first mail).
 *
 * Targets (issue #5): start ≤ 400 KB and import ≤ 3× the empty function, for every function.
 *
 *   npx tsx bench/bundles.ts [policy file, default examples/policy.aws.yaml]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type BundleLayout,
  buildFunction,
  bundleLayout,
  type Engine,
  HANDLER_NAMES,
  handlerEntry,
  PROJECT_ROOT,
  policyEngines,
} from '../cdk/bundling.js';
import { loadPolicyFile } from '../functions/shared/config.js';

export const DEFAULT_POLICY_FILE = join(PROJECT_ROOT, 'examples/policy.aws.yaml');

export const MAX_BUNDLE_KB = 400;
export const MAX_IMPORT_RATIO = 3;
const RUNS = 7;

export interface FunctionResult {
  name: string;
  /** index.mjs and its static imports: what the cold start parses. */
  startKb: number;
  /** Every .mjs in the asset. */
  totalKb: number;
  chunks: number;
  importMs: number;
  importRatio: number;
  allChunksMs: number;
  allChunksRatio: number;
}

export interface BundlesResult {
  policyFile: string;
  /** The engines the policy's targets use: the bundles below leave the other drivers out. */
  engines: Engine[];
  functions: FunctionResult[];
  /** For a policy with both engines: the functions whose bundle differs for a postgres-only policy. */
  postgresOnly?: FunctionResult[];
  emptyImportMs: number;
  maxBundleKb: number;
  maxTotalKb: number;
  maxImportRatio: number;
  maxAllChunksRatio: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Milliseconds for a fresh `node` to start, import `files` in order and exit, median of RUNS: what a cold
 * start pays for the code, with the empty function's number as the floor.
 */
function coldImportMs(files: readonly string[]): number {
  const script = files.map((file) => `await import(${JSON.stringify(pathToFileURL(file).href)});`).join('');
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      stdio: 'ignore',
      env: { ...process.env, AWS_REGION: 'eu-west-1' },
    });
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return median(samples);
}

const kb = (layout: BundleLayout, files: readonly string[]) =>
  Math.round(files.reduce((sum, file) => sum + (layout.bytes.get(file) ?? 0), 0) / 102.4) / 10;

function measure(name: string, layout: BundleLayout, emptyImportMs: number): FunctionResult {
  const importMs = coldImportMs([layout.entry]);
  const lazy = layout.all.filter((file) => !layout.start.includes(file));
  const allChunksMs = coldImportMs([layout.entry, ...lazy]);
  return {
    name,
    startKb: kb(layout, layout.start),
    totalKb: kb(layout, layout.all),
    chunks: layout.all.length - 1,
    importMs: Math.round(importMs * 10) / 10,
    importRatio: Math.round((importMs / emptyImportMs) * 100) / 100,
    allChunksMs: Math.round(allChunksMs * 10) / 10,
    allChunksRatio: Math.round((allChunksMs / emptyImportMs) * 100) / 100,
  };
}

async function layoutOf(entry: string, outdir: string, engines: readonly Engine[]): Promise<BundleLayout> {
  return bundleLayout(await buildFunction({ entry, outdir, engines }));
}

export async function run(options: { policyFile?: string } = {}): Promise<BundlesResult> {
  const policyFile = options.policyFile ?? DEFAULT_POLICY_FILE;
  const engines = policyEngines(loadPolicyFile(policyFile));
  const work = mkdtempSync(join(tmpdir(), 'jitdb-bundles-'));
  try {
    const emptyEntry = join(work, 'empty.ts');
    writeFileSync(emptyEntry, 'export const handler = async () => ({});\n');
    const empty = await layoutOf(emptyEntry, join(work, 'empty'), engines);
    const emptyImportMs = coldImportMs([empty.entry]);
    const functions: FunctionResult[] = [];
    const postgresOnly: FunctionResult[] = [];
    for (const name of HANDLER_NAMES) {
      const entry = handlerEntry(name);
      if (!existsSync(entry)) throw new Error(`${entry} does not exist`);
      const layout = await layoutOf(entry, join(work, name), engines);
      functions.push(measure(name, layout, emptyImportMs));
      if (engines.length > 1) {
        const pgLayout = await layoutOf(entry, join(work, `${name}-postgres`), ['postgres']);
        if (kb(pgLayout, pgLayout.all) !== kb(layout, layout.all))
          postgresOnly.push(measure(name, pgLayout, emptyImportMs));
      }
    }
    return {
      policyFile,
      engines,
      functions,
      ...(postgresOnly.length > 0 ? { postgresOnly } : {}),
      emptyImportMs: Math.round(emptyImportMs * 10) / 10,
      maxBundleKb: Math.max(...functions.map((f) => f.startKb)),
      maxTotalKb: Math.max(...functions.map((f) => f.totalKb)),
      maxImportRatio: Math.max(...functions.map((f) => f.importRatio)),
      maxAllChunksRatio: Math.max(...functions.map((f) => f.allChunksRatio)),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function printTable(title: string, rows: FunctionResult[]): void {
  console.log(title);
  console.log(
    'function                  start KB  total KB  chunks  import ms  × empty  all-chunks ms  × empty',
  );
  for (const f of rows) {
    const flag = f.startKb > MAX_BUNDLE_KB || f.importRatio > MAX_IMPORT_RATIO ? '  over target' : '';
    console.log(
      [
        f.name.padEnd(24),
        String(f.startKb).padStart(9),
        String(f.totalKb).padStart(9),
        String(f.chunks).padStart(7),
        String(f.importMs).padStart(10),
        String(f.importRatio).padStart(8),
        String(f.allChunksMs).padStart(14),
        String(f.allChunksRatio).padStart(8),
      ].join(' ') + flag,
    );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run(process.argv[2] ? { policyFile: process.argv[2] } : {});
  console.log(`policy ${result.policyFile} (engines: ${result.engines.join(', ')})`);
  console.log(`empty function: import ${result.emptyImportMs} ms`);
  printTable(`\n${result.engines.join(' + ')} policy:`, result.functions);
  if (result.postgresOnly)
    printTable('\nthe same with a postgres-only policy (functions that differ):', result.postgresOnly);
  console.log(
    `\ncold start: max ${result.maxBundleKb} KB (target ≤ ${MAX_BUNDLE_KB}), max import ratio ${result.maxImportRatio}× (target ≤ ${MAX_IMPORT_RATIO}×)`,
  );
  console.log(
    `whole asset: max ${result.maxTotalKb} KB; every chunk loaded: max ratio ${result.maxAllChunksRatio}×`,
  );
}
