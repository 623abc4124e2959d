/**
 * Builds every function's bundle ahead of time, for the npm package: `tsx cdk/prebuild.ts <outdir>` writes
 * <outdir>/<engines>/<function>/ (index.mjs, chunks/, source maps) for each set of engines a policy can use,
 * with cdk/bundling.ts's one esbuild build, exactly as a synth from source builds them. A consumer's synth
 * then copies the matching bundle and adds its policy.json (cdk/constructs/jit-function.ts), so it needs
 * neither esbuild nor TypeScript nor Docker.
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ALL_ENGINES, buildFunction, type Engine, HANDLER_NAMES, handlerEntry } from './bundling.js';

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

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const outdir = process.argv[2];
  if (!outdir) {
    console.error('usage: tsx cdk/prebuild.ts <outdir>');
    process.exit(2);
  }
  await prebuild(resolve(outdir), console.log);
}
