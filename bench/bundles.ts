/**
 * Builds every handler with exactly JitFunction's esbuild options (cdk/bundling.ts) for a policy's engines
 * and prints, per function, the minified bundle size and the median cold import time in a fresh Node
 * process, next to an empty function's. Targets: every bundle ≤ 400 KB, every import ≤ 3× the empty
 * function's. For a policy with both engines it also prints what a postgres-only policy would ship.
 *
 *   npx tsx bench/bundles.ts [policy file, default examples/policy.aws.yaml]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import {
  type Engine,
  esbuildOptions,
  HANDLER_NAMES,
  handlerEntry,
  PROJECT_ROOT,
  policyEngines,
} from '../cdk/bundling.js';
import { loadPolicyFile } from '../functions/shared/config.js';

export const DEFAULT_POLICY_FILE = join(PROJECT_ROOT, 'examples/policy.aws.yaml');

export const MAX_BUNDLE_KB = 400;
export const MAX_IMPORT_RATIO = 3;
const RUNS = 5;

export interface FunctionResult {
  name: string;
  bundleKb: number;
  importMs: number;
  importRatio: number;
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
  maxImportRatio: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Milliseconds for a fresh `node` to start, import the module and exit, median of RUNS: what a cold start
 * pays for the code, with the empty function's number as the floor.
 */
function coldImportMs(file: string): number {
  const script = `await import(${JSON.stringify(pathToFileURL(file).href)});`;
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

async function bundle(entry: string, outdir: string, engines: readonly Engine[]): Promise<string> {
  await build({ ...esbuildOptions(engines), entryPoints: { index: entry }, outdir });
  return join(outdir, 'index.mjs');
}

function measure(name: string, file: string, emptyImportMs: number): FunctionResult {
  const importMs = coldImportMs(file);
  return {
    name,
    bundleKb: Math.round((statSync(file).size / 1024) * 10) / 10,
    importMs: Math.round(importMs * 10) / 10,
    importRatio: Math.round((importMs / emptyImportMs) * 100) / 100,
  };
}

export async function run(options: { policyFile?: string } = {}): Promise<BundlesResult> {
  const policyFile = options.policyFile ?? DEFAULT_POLICY_FILE;
  const engines = policyEngines(loadPolicyFile(policyFile));
  const work = mkdtempSync(join(tmpdir(), 'jitdb-bundles-'));
  try {
    const emptyEntry = join(work, 'empty.ts');
    writeFileSync(emptyEntry, 'export const handler = async () => ({});\n');
    const emptyImportMs = coldImportMs(await bundle(emptyEntry, join(work, 'empty'), engines));
    const functions: FunctionResult[] = [];
    const postgresOnly: FunctionResult[] = [];
    for (const name of HANDLER_NAMES) {
      const entry = handlerEntry(name);
      if (!existsSync(entry)) throw new Error(`${entry} does not exist`);
      const file = await bundle(entry, join(work, name), engines);
      functions.push(measure(name, file, emptyImportMs));
      if (engines.length > 1) {
        const pgFile = await bundle(entry, join(work, `${name}-postgres`), ['postgres']);
        if (statSync(pgFile).size !== statSync(file).size)
          postgresOnly.push(measure(name, pgFile, emptyImportMs));
      }
    }
    return {
      policyFile,
      engines,
      functions,
      ...(postgresOnly.length > 0 ? { postgresOnly } : {}),
      emptyImportMs: Math.round(emptyImportMs * 10) / 10,
      maxBundleKb: Math.max(...functions.map((f) => f.bundleKb)),
      maxImportRatio: Math.max(...functions.map((f) => f.importRatio)),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function printTable(title: string, rows: FunctionResult[]): void {
  console.log(title);
  console.log('function                   bundle KB   import ms   × empty');
  for (const f of rows) {
    const flag = f.bundleKb > MAX_BUNDLE_KB || f.importRatio > MAX_IMPORT_RATIO ? '  over target' : '';
    console.log(
      `${f.name.padEnd(26)} ${String(f.bundleKb).padStart(9)}   ${String(f.importMs).padStart(9)}   ${String(f.importRatio).padStart(7)}${flag}`,
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
    `\nmax bundle ${result.maxBundleKb} KB (target ≤ ${MAX_BUNDLE_KB}); max import ratio ${result.maxImportRatio}× (target ≤ ${MAX_IMPORT_RATIO}×)`,
  );
}
