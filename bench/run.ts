/**
 * `npm run bench` runs every bench, prints one table and writes bench/results.json;
 * `npm run bench -- NAME` runs one of grant-revoke, bundles, load, revocation-lag, transitions, link-flood,
 * assembly, time-to-access, once. results.json keeps the figures of benches not run this time.
 * Defaults are sized so the whole run ends in well under 10 minutes on 2 cores.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Handlers log through Powertools on every invocation; the bench prints its own lines only.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

/** The headline numbers; absent when that bench did not run (or failed). */
interface Results {
  grantRevokeRatio?: number;
  revocationLagP99Ms?: number;
  transitionsPerRequest?: number;
  maxBundleKb?: number;
  loadThroughputRatio?: number;
  peakRssMb?: number;
  linkFloodRatioP50?: number;
  onceRevokedP99OverSweep?: number;
  [key: string]: unknown;
}

const log = (line: string) => console.log(`  ${line}`);

/** One line of the printed table. */
type Metric = [metric: string, value: number | string, note: string];

/** What a bench reports: the figures results.json keeps (its headline and its whole result) and its rows. */
interface Report {
  results: Results;
  rows: Metric[];
}

interface Bench {
  /** Hard ceiling: a hung bench fails instead of blocking the run. */
  timeLimitMs: number;
  run: () => Promise<Report>;
}

/** A bench: `run` loads its module and runs it, `report` tells its result. */
function bench<R>(spec: { timeLimitMs: number; run: () => Promise<R>; report: (r: R) => Report }): Bench {
  return { timeLimitMs: spec.timeLimitMs, run: async () => spec.report(await spec.run()) };
}

/** Every bench, in the order `npm run bench` runs them. */
const BENCHES = {
  'grant-revoke': bench({
    timeLimitMs: 180_000,
    run: async () =>
      (await import('./grant-revoke.js')).run({
        cycles: 200, // the figure: 200 grant→credentials→revoke cycles per engine
        log,
        ...(process.env.JITDB_PG_URL ? { pgUrl: process.env.JITDB_PG_URL } : {}),
        ...(process.env.JITDB_MYSQL_URL ? { mysqlUrl: process.env.JITDB_MYSQL_URL } : {}),
      }),
    report: (r) => ({
      results: { grantRevokeRatio: r.ratio, grantRevoke: r },
      rows: [['grantRevokeRatio', r.ratio, 'provisioner / raw SQL median, worst engine']],
    }),
  }),
  bundles: bench({
    timeLimitMs: 120_000,
    run: async () => (await import('./bundles.js')).run({}),
    report: (r) => ({
      results: { maxBundleKb: r.maxBundleKb, bundles: r },
      rows: [
        ['maxBundleKb', r.maxBundleKb, 'largest cold-start load (index.mjs + static chunks)'],
        ['maxImportRatio', r.maxImportRatio, 'cold import vs an empty function'],
        ['maxTotalKb', r.maxTotalKb, 'largest whole asset'],
        ['maxAllChunksRatio', r.maxAllChunksRatio, 'import with every chunk loaded vs an empty function'],
      ],
    }),
  }),
  transitions: bench({
    timeLimitMs: 30_000,
    run: async () => (await import('./transitions.js')).run({ log }),
    report: (r) => ({
      results: { transitionsPerRequest: r.transitionsPerRequest, transitions: r },
      rows: [
        ['transitionsPerRequest', r.transitionsPerRequest, 'auto-approved happy path'],
        ['approved path', r.approved.transitionsPerRequest, 'transitions'],
        ['usd per 1,000 requests', r.usdPer1000Requests, `approved path $${r.approved.usdPer1000Requests}`],
      ],
    }),
  }),
  'revocation-lag': bench({
    timeLimitMs: 120_000,
    run: async () => (await import('./revocation-lag.js')).run({ log }),
    report: (r) => ({
      results: { revocationLagP99Ms: r.p99Ms, revocationLag: r },
      rows: [
        [
          'revocationLagP99Ms',
          r.p99Ms,
          `p50 ${r.p50Ms} ms, ${r.measured}/${r.grants} grants, sweep ${r.sweepIntervalMs / 1000} s`,
        ],
      ],
    }),
  }),
  load: bench({
    timeLimitMs: 180_000,
    run: async () => (await import('./load.js')).run({ log }),
    report: (r) => ({
      results: { loadThroughputRatio: r.throughputRatio, load: r },
      rows: [
        [
          'loadThroughputRatio',
          r.throughputRatio,
          `${r.grantsPerSecond} grants/s vs raw ${r.rawRolesPerSecond} roles/s`,
        ],
        ['POST → ACTIVE p99 ms', r.postToActiveP99Ms, `p50 ${r.postToActiveP50Ms} ms`],
        ['expiresAt → REVOKED p99 ms', r.expiryToRevokedP99Ms, `p50 ${r.expiryToRevokedP50Ms} ms`],
        [
          'all granted, revoked on time, audited',
          r.ok ? 'yes' : 'NO',
          `${r.granted}/${r.requesters} granted, ${r.revoked} revoked (${r.revokedLate} late), ${r.auditComplete} audits complete, ${r.rolesLeft} roles left`,
        ],
      ],
    }),
  }),
  'link-flood': bench({
    timeLimitMs: 120_000,
    run: async () => (await import('./link-flood.js')).run({ approvals: 40, rate: 100, log }),
    report: (r) => ({
      results: { linkFloodRatioP50: r.ratioP50, linkFlood: r },
      rows: [
        [
          'linkFloodRatioP50',
          r.ratioP50,
          `approval p50 ${r.flooded.p50Ms} ms flooded vs ${r.unloaded.p50Ms} ms (target ≤ 1.5)`,
        ],
        [
          'linkFloodRatioP95',
          r.ratioP95,
          `p95 ${r.flooded.p95Ms} ms vs ${r.unloaded.p95Ms} ms; ${r.forgedPerSecond} forged/s`,
        ],
        [
          'forged attempts counted',
          `${r.forgedCounted}/${r.forgedSent}`,
          `${r.forgedNot4xx} not answered 4xx`,
        ],
      ],
    }),
  }),
  assembly: bench({
    timeLimitMs: 300_000,
    run: async () => (await import('./assembly.js')).run({ requests: 5, log }),
    report: (r) => ({
      results: { assemblyWarmRatio: r.warmRatio, assembly: r },
      rows: [
        [
          'assemblyStartMs',
          Math.round(r.assembly.startMs),
          `source mode ${Math.round(r.source.startMs)} ms; synth ${Math.round(r.assembly.synthMs)} ms more when the assembly changed`,
        ],
        [
          'assemblyFirstRequestMs',
          Math.round(r.assembly.firstRequestMs),
          `POST → ACTIVE with cold starts; source mode ${Math.round(r.source.firstRequestMs)} ms`,
        ],
        [
          'assemblyWarmRatio',
          r.warmRatio,
          `warm POST → ACTIVE ${Math.round(r.assembly.warmRequestMs)} ms vs ${Math.round(r.source.warmRequestMs)} ms in source mode`,
        ],
      ],
    }),
  }),
  'time-to-access': bench({
    timeLimitMs: 180_000,
    run: async () => (await import('./time-to-access.js')).run({ requests: 50, clicks: 10, log }),
    report: (r) => ({
      results: { timeToAccessP50Ms: r.postToLogin.p50Ms, timeToAccess: r },
      rows: [
        [
          'POST → first login p50 ms',
          r.postToLogin.p50Ms,
          `p99 ${r.postToLogin.p99Ms} ms; POST → ACTIVE p50 ${r.postToActive.p50Ms} ms (auto-approved)`,
        ],
        [
          'click → first login p50 ms',
          r.clickToLogin.p50Ms,
          `p99 ${r.clickToLogin.p99Ms} ms (approved through the emailed link)`,
        ],
        [
          'timeToAccessFloorRatio',
          r.ratioP50,
          `floor ${r.floorP50Ms} ms: raw grant + login ${r.rawGrantAndLogin.p50Ms} ms, ${r.transactionsToActive} × ${r.dynamoTransaction.p50Ms} ms DynamoDB`,
        ],
      ],
    }),
  }),
  once: bench({
    timeLimitMs: 180_000,
    run: async () => (await import('./once.js')).run({ grants: 5, log }),
    report: (r) => ({
      results: { onceRevokedP99OverSweep: r.revokedP99OverSweep, once: r },
      rows: [
        ...(['postgres', 'mysql'] as const).flatMap((engine): Metric[] => {
          const e = r[engine];
          return [
            [
              `once ${engine} end → refused p99 ms`,
              e.refusedP99Ms,
              `p50 ${e.refusedP50Ms} ms; concurrent login refused ${e.concurrentRefused ? 'always' : 'NOT ALWAYS'}`,
            ],
            [
              `once ${engine} end → REVOKED p99 ms`,
              e.revokedP99Ms,
              `p50 ${e.revokedP50Ms} ms, ${e.runs} runs`,
            ],
          ];
        }),
        [
          'onceRevokedP99OverSweep',
          r.revokedP99OverSweep,
          `REVOKED p99 / sweep ${r.sweepIntervalMs / 1000} s`,
        ],
      ],
    }),
  }),
} satisfies Record<string, Bench>;
type BenchName = keyof typeof BENCHES;
const BENCH_NAMES = Object.keys(BENCHES) as BenchName[];

interface Row {
  bench: BenchName | 'all';
  metric: string;
  value: number | string;
  note: string;
}

function withTimeLimit<T>(name: BenchName, work: Promise<T>): Promise<T> {
  const { timeLimitMs } = BENCHES[name];
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} exceeded ${timeLimitMs / 1000} s`)), timeLimitMs);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

async function runOne(name: BenchName, results: Results, rows: Row[]): Promise<void> {
  const report = await BENCHES[name].run();
  Object.assign(results, report.results);
  for (const [metric, value, note] of report.rows) rows.push({ bench: name, metric, value, note });
}

function printTable(rows: Row[]): void {
  const widths = [14, 38, 10];
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i] ?? 0) : c)).join('  ');
  console.log('');
  console.log(line(['bench', 'metric', 'value', 'note']));
  console.log(line(['-'.repeat(14), '-'.repeat(38), '-'.repeat(10), '-'.repeat(30)]));
  for (const row of rows) console.log(line([row.bench, row.metric, String(row.value), row.note]));
}

async function main(): Promise<number> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !(BENCH_NAMES as readonly string[]).includes(a));
  if (unknown.length > 0) {
    console.error(`unknown bench ${unknown.join(', ')}; choose from ${BENCH_NAMES.join(', ')}`);
    return 2;
  }
  const selected = asked.length > 0 ? (asked as BenchName[]) : [...BENCH_NAMES];
  const file = fileURLToPath(new URL('./results.json', import.meta.url));
  // A partial run replaces the figures of the benches it ran and keeps the others'.
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Results) : {};
  const results: Results = {};
  const rows: Row[] = [];
  const failures: string[] = [];
  const started = performance.now();
  for (const name of selected) {
    console.log(`▶ ${name}`);
    const benchStarted = performance.now();
    try {
      await withTimeLimit(name, runOne(name, results, rows));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failures.push(`${name}: ${message}`);
      rows.push({ bench: name, metric: 'FAILED', value: '-', note: message.split('\n')[0] ?? '' });
    }
    console.log(`  (${((performance.now() - benchStarted) / 1000).toFixed(1)} s)`);
  }
  results.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  rows.push({
    bench: 'all',
    metric: 'peakRssMb',
    value: results.peakRssMb,
    note: 'this process (runtime + clients), not PostgreSQL/Java',
  });
  results.ranAt = new Date().toISOString();
  results.benches = [...new Set([...((previous.benches as string[] | undefined) ?? []), ...selected])];
  results.seconds = Math.round((performance.now() - started) / 1000);
  if (failures.length > 0) results.failures = failures;
  printTable(rows);
  const kept = { ...previous, ...results };
  if (failures.length === 0) delete kept.failures;
  writeFileSync(file, `${JSON.stringify(kept, null, 2)}\n`);
  console.log(`\nwrote ${file} (${results.seconds} s)`);
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
// Pools and timers of a failed bench may linger; the results are written.
setTimeout(() => process.exit(), 2000).unref();
