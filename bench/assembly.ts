/**
 * Assembly mode next to source mode (issue #14): how long each takes to start, and how long one
 * auto-approved request takes from POST /requests to ACTIVE (evaluate → grant), warm and once cold.
 * Source mode runs the TypeScript handlers in one process; assembly mode the synthesized bundles, each in its
 * own process, every AWS call signed and evaluated against the function's role. Prints figures and ratios.
 *   npx tsx bench/assembly.ts [--requests 5]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApiClient } from '../cli/client.js';
import { synthesizeAssembly } from '../local/assembly/cloud-assembly.js';
import { startAssemblyRuntime } from '../local/assembly/runtime.js';
import { scenarioPolicyYaml } from '../local/assembly/scenario.js';
import { freePort } from '../local/free-port.js';
import { startRuntime } from '../local/runtime.js';
import { countArgument, type RunOptions, runSettings } from './support.js';

export interface ModeFigures {
  /** From the call to the runtime being ready (servers, and for assembly mode the synth). */
  startMs: number;
  /** The first request after start: the functions' cold starts included. */
  firstRequestMs: number;
  /** The median of the following requests. */
  warmRequestMs: number;
}

export interface AssemblyBenchResult {
  source: ModeFigures;
  assembly: ModeFigures & { synthMs: number };
  /** assembly / source, warm POST → ACTIVE. */
  warmRatio: number;
}

/** POST an auto-approved request, poll until ACTIVE; milliseconds. */
async function requestToActive(api: ApiClient): Promise<number> {
  const started = performance.now();
  const { id } = await api.post<{ id: string }>('/requests', {
    target: 'demo-pg',
    level: 'auto',
    duration: '10m',
    reason: 'bench',
  });
  for (;;) {
    const { status } = await api.get<{ status: string }>(`/requests/${id}`);
    if (status === 'ACTIVE') return performance.now() - started;
    if (status !== 'APPROVED' && status !== 'PENDING') throw new Error(`request ${id} ended ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function figures(api: ApiClient, requests: number, startMs: number): Promise<ModeFigures> {
  const firstRequestMs = await requestToActive(api);
  const warm: number[] = [];
  for (let i = 0; i < requests; i++) warm.push(await requestToActive(api));
  warm.sort((a, b) => a - b);
  return { startMs, firstRequestMs, warmRequestMs: warm[Math.floor(warm.length / 2)] ?? 0 };
}

const round = (n: number) => Math.round(n);

export async function run(options: RunOptions<'requests'> = {}): Promise<AssemblyBenchResult> {
  const { requests, log } = runSettings(options, { requests: 5 });
  const work = mkdtempSync(join(tmpdir(), 'jitdb-bench-assembly-'));
  try {
    const pgPort = await freePort();
    const policyFile = join(work, 'policy.yaml');
    writeFileSync(policyFile, scenarioPolicyYaml(pgPort)); // its `auto` level is approved by policy
    const quiet = { policyFile, ephemeral: true, port: 0, pgPort, printEmails: false, log: () => undefined };

    /** Starts a runtime, measures it as dave, stops it. */
    const measure = async (
      start: () => Promise<{ url: string; ssoUrl?: string; stop(): Promise<void> }>,
    ): Promise<ModeFigures> => {
      const started = performance.now();
      const runtime = await start();
      try {
        const api = new ApiClient({
          endpoint: runtime.url,
          user: 'dave@example.com',
          json: true,
          region: undefined,
          ssoUrl: runtime.ssoUrl,
        });
        return await figures(api, requests, performance.now() - started);
      } finally {
        await runtime.stop();
      }
    };
    const sourceFigures = await measure(() => startRuntime({ ...quiet, reconcile: 'never' }));
    log(
      `source    start ${round(sourceFigures.startMs)} ms, first POST→ACTIVE ${round(sourceFigures.firstRequestMs)} ms, warm ${round(sourceFigures.warmRequestMs)} ms`,
    );

    // The synth alone (cached afterwards, as a second `npm start -- --assembly` finds it), then the start.
    const outdir = join(work, 'assembly');
    const synthStarted = performance.now();
    await synthesizeAssembly({ policyFile, outdir });
    const synthMs = performance.now() - synthStarted;
    const assemblyFigures = await measure(() => startAssemblyRuntime({ ...quiet, outdir }));
    log(
      `assembly  synth ${round(synthMs)} ms, start ${round(assemblyFigures.startMs)} ms, first POST→ACTIVE ${round(assemblyFigures.firstRequestMs)} ms, warm ${round(assemblyFigures.warmRequestMs)} ms`,
    );
    const warmRatio = Math.round((assemblyFigures.warmRequestMs / sourceFigures.warmRequestMs) * 100) / 100;
    log(`ratio     warm POST→ACTIVE assembly/source ${warmRatio}×`);
    return { source: sourceFigures, assembly: { ...assemblyFigures, synthMs }, warmRatio };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const requests = countArgument('requests', 5, 'bench/assembly.ts');
  await run({ requests, log: (line) => console.log(line) });
}
