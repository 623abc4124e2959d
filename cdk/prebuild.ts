/**
 * The npm package's build (`npm run build`, run by `npm pack`): `tsx cdk/prebuild.ts <outdir>` compiles cdk/,
 * functions/ and cli/ with tsc into <outdir> (JavaScript and declarations), copies the state machine's
 * definition beside them, and builds every function's bundle ahead of time into
 * <outdir>/assets/<engines>/<function>/ (index.mjs, chunks/, source maps) for each set of engines a policy
 * can use, with cdk/bundling.ts's one esbuild build, exactly as a synth from source builds them. A
 * consumer's synth then copies the matching bundle and adds its policy.json (cdk/constructs/jit-function.ts),
 * so it needs neither esbuild nor TypeScript nor Docker.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ALL_ENGINES,
  buildFunction,
  type Engine,
  HANDLER_NAMES,
  handlerEntry,
  PROJECT_ROOT,
} from './bundling.js';

/** The directory name of a set of engines: `postgres`, `mysql` or `postgres+mysql` (ALL_ENGINES order). */
export function enginesKey(engines: readonly Engine[]): string {
  return ALL_ENGINES.filter((engine) => engines.includes(engine)).join('+');
}

/** Every non-empty set of engines, each in ALL_ENGINES order. */
export function engineSets(): Engine[][] {
  const sets: Engine[][] = [];
  for (let mask = 1; mask < 1 << ALL_ENGINES.length; mask++) {
    sets.push(ALL_ENGINES.filter((_, i) => (mask & (1 << i)) !== 0));
  }
  return sets;
}

/** Every function's bundle for every set of engines, into `outdir` (emptied first). */
export async function prebuild(outdir: string, log: (line: string) => void = () => undefined): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  for (const engines of engineSets()) {
    await Promise.all(
      HANDLER_NAMES.map((name) =>
        buildFunction({
          entry: handlerEntry(name),
          outdir: join(outdir, enginesKey(engines), name),
          engines,
        }),
      ),
    );
    log(`built ${HANDLER_NAMES.length} functions for ${enginesKey(engines)}`);
  }
}

/** The whole package build into `outdir`: compiled code and declarations, the ASL, the prebuilt bundles. */
export async function buildPackage(
  outdir: string,
  log: (line: string) => void = () => undefined,
): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(PROJECT_ROOT, 'tsconfig.build.json'), '--outDir', outdir], {
    stdio: 'inherit',
  });
  log(`compiled into ${outdir}`);
  cpSync(join(PROJECT_ROOT, 'state-machines'), join(outdir, 'state-machines'), { recursive: true });
  await prebuild(join(outdir, 'assets'), log);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const outdir = process.argv[2];
  if (!outdir) {
    console.error('usage: tsx cdk/prebuild.ts <outdir>');
    process.exit(2);
  }
  await buildPackage(resolve(outdir), console.log);
}
