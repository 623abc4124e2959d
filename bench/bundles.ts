/**
 * Builds every handler with exactly JitFunction's esbuild options (cdk/bundling.ts) and prints, per
 * function, the minified bundle size and the median cold import time in a fresh Node process, next to an
 * empty function's. Targets: every bundle ≤ 400 KB, every import ≤ 3× the empty function's.
 *
 *   npx tsx bench/bundles.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { ESBUILD_OPTIONS, HANDLER_NAMES, handlerEntry } from '../cdk/bundling.js';

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
  functions: FunctionResult[];
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

async function bundle(entry: string, outdir: string): Promise<string> {
  await build({ ...ESBUILD_OPTIONS, entryPoints: { index: entry }, outdir });
  return join(outdir, 'index.mjs');
}

export async function run(): Promise<BundlesResult> {
  const work = mkdtempSync(join(tmpdir(), 'jitdb-bundles-'));
  try {
    const emptyEntry = join(work, 'empty.ts');
    writeFileSync(emptyEntry, 'export const handler = async () => ({});\n');
    const emptyImportMs = coldImportMs(await bundle(emptyEntry, join(work, 'empty')));
    const functions: FunctionResult[] = [];
    for (const name of HANDLER_NAMES) {
      const entry = handlerEntry(name);
      if (!existsSync(entry)) throw new Error(`${entry} does not exist`);
      const file = await bundle(entry, join(work, name));
      const importMs = coldImportMs(file);
      functions.push({
        name,
        bundleKb: Math.round((statSync(file).size / 1024) * 10) / 10,
        importMs: Math.round(importMs * 10) / 10,
        importRatio: Math.round((importMs / emptyImportMs) * 100) / 100,
      });
    }
    return {
      functions,
      emptyImportMs: Math.round(emptyImportMs * 10) / 10,
      maxBundleKb: Math.max(...functions.map((f) => f.bundleKb)),
      maxImportRatio: Math.max(...functions.map((f) => f.importRatio)),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  console.log(`empty function: import ${result.emptyImportMs} ms`);
  console.log('function                   bundle KB   import ms   × empty');
  for (const f of result.functions) {
    const flag = f.bundleKb > MAX_BUNDLE_KB || f.importRatio > MAX_IMPORT_RATIO ? '  over target' : '';
    console.log(
      `${f.name.padEnd(26)} ${String(f.bundleKb).padStart(9)}   ${String(f.importMs).padStart(9)}   ${String(f.importRatio).padStart(7)}${flag}`,
    );
  }
  console.log(
    `max bundle ${result.maxBundleKb} KB (target ≤ ${MAX_BUNDLE_KB}); max import ratio ${result.maxImportRatio}× (target ≤ ${MAX_IMPORT_RATIO}×)`,
  );
}
