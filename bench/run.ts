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

const BENCHES = [
  'grant-revoke',
  'bundles',
  'transitions',
  'revocation-lag',
  'load',
  'link-flood',
  'assembly',
  'time-to-access',
  'once',
] as const;
type BenchName = (typeof BENCHES)[number];

interface Row {
  bench: BenchName | 'all';
  metric: string;
  value: number | string;
  note: string;
}

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

/** Hard ceiling per bench: a hung bench fails instead of blocking the run. */
const TIME_LIMIT_MS: Record<BenchName, number> = {
  'grant-revoke': 180_000,
  bundles: 120_000,
  transitions: 30_000,
  'revocation-lag': 120_000,
  load: 180_000,
  'link-flood': 120_000,
  assembly: 300_000,
  'time-to-access': 180_000,
  once: 180_000,
};

function withTimeLimit<T>(name: BenchName, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} exceeded ${TIME_LIMIT_MS[name] / 1000} s`)),
      TIME_LIMIT_MS[name],
    );
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

const log = (line: string) => console.log(`  ${line}`);

async function runOne(name: BenchName, results: Results, rows: Row[]): Promise<void> {
  const row = (metric: string, value: number | string, note: string) =>
    rows.push({ bench: name, metric, value, note });
  switch (name) {
    case 'grant-revoke': {
      const { run } = await import('./grant-revoke.js');
      const r = await run({
        cycles: 200, // the figure: 200 grant→credentials→revoke cycles per engine
        log,
        ...(process.env.JITDB_PG_URL ? { pgUrl: process.env.JITDB_PG_URL } : {}),
        ...(process.env.JITDB_MYSQL_URL ? { mysqlUrl: process.env.JITDB_MYSQL_URL } : {}),
      });
      results.grantRevokeRatio = r.ratio;
      results.grantRevoke = r;
      row('grantRevokeRatio', r.ratio, 'provisioner / raw SQL median, worst engine');
      break;
    }
    case 'bundles': {
      const { run } = await import('./bundles.js');
      const r = await run();
      results.maxBundleKb = r.maxBundleKb;
      results.bundles = r;
      row('maxBundleKb', r.maxBundleKb, 'largest cold-start load (index.mjs + static chunks)');
      row('maxImportRatio', r.maxImportRatio, 'cold import vs an empty function');
      row('maxTotalKb', r.maxTotalKb, 'largest whole asset');
      row('maxAllChunksRatio', r.maxAllChunksRatio, 'import with every chunk loaded vs an empty function');
      break;
    }
    case 'transitions': {
      const { run } = await import('./transitions.js');
      const r = await run({ log });
      results.transitionsPerRequest = r.transitionsPerRequest;
      results.transitions = r;
      row('transitionsPerRequest', r.transitionsPerRequest, 'auto-approved happy path');
      row('approved path', r.approved.transitionsPerRequest, 'transitions');
      row('usd per 1,000 requests', r.usdPer1000Requests, `approved path $${r.approved.usdPer1000Requests}`);
      break;
    }
    case 'revocation-lag': {
      const { run } = await import('./revocation-lag.js');
      const r = await run({ log });
      results.revocationLagP99Ms = r.p99Ms;
      results.revocationLag = r;
      row(
        'revocationLagP99Ms',
        r.p99Ms,
        `p50 ${r.p50Ms} ms, ${r.measured}/${r.grants} grants, sweep ${r.sweepIntervalMs / 1000} s`,
      );
      break;
    }
    case 'load': {
      const { run } = await import('./load.js');
      const r = await run({ log });
      results.loadThroughputRatio = r.throughputRatio;
      results.load = r;
      row(
        'loadThroughputRatio',
        r.throughputRatio,
        `${r.grantsPerSecond} grants/s vs raw ${r.rawRolesPerSecond} roles/s`,
      );
      row('POST → ACTIVE p99 ms', r.postToActiveP99Ms, `p50 ${r.postToActiveP50Ms} ms`);
      row('expiresAt → REVOKED p99 ms', r.expiryToRevokedP99Ms, `p50 ${r.expiryToRevokedP50Ms} ms`);
      row(
        'all granted, revoked on time, audited',
        r.ok ? 'yes' : 'NO',
        `${r.granted}/${r.requesters} granted, ${r.revoked} revoked (${r.revokedLate} late), ${r.auditComplete} audits complete, ${r.rolesLeft} roles left`,
      );
      break;
    }
    case 'assembly': {
      const { run } = await import('./assembly.js');
      const r = await run({ requests: 5, log });
      results.assemblyWarmRatio = r.warmRatio;
      results.assembly = r;
      row(
        'assemblyStartMs',
        Math.round(r.assembly.startMs),
        `source mode ${Math.round(r.source.startMs)} ms; synth ${Math.round(r.assembly.synthMs)} ms more when the assembly changed`,
      );
      row(
        'assemblyFirstRequestMs',
        Math.round(r.assembly.firstRequestMs),
        `POST → ACTIVE with cold starts; source mode ${Math.round(r.source.firstRequestMs)} ms`,
      );
      row(
        'assemblyWarmRatio',
        r.warmRatio,
        `warm POST → ACTIVE ${Math.round(r.assembly.warmRequestMs)} ms vs ${Math.round(r.source.warmRequestMs)} ms in source mode`,
      );
      break;
    }
    case 'time-to-access': {
      const { run } = await import('./time-to-access.js');
      const r = await run({ requests: 50, clicks: 10, log });
      results.timeToAccessP50Ms = r.postToLogin.p50Ms;
      results.timeToAccess = r;
      row(
        'POST → first login p50 ms',
        r.postToLogin.p50Ms,
        `p99 ${r.postToLogin.p99Ms} ms; POST → ACTIVE p50 ${r.postToActive.p50Ms} ms (auto-approved)`,
      );
      row(
        'click → first login p50 ms',
        r.clickToLogin.p50Ms,
        `p99 ${r.clickToLogin.p99Ms} ms (approved through the emailed link)`,
      );
      row(
        'timeToAccessFloorRatio',
        r.ratioP50,
        `floor ${r.floorP50Ms} ms: raw grant + login ${r.rawGrantAndLogin.p50Ms} ms, ${r.transactionsToActive} × ${r.dynamoTransaction.p50Ms} ms DynamoDB`,
      );
      break;
    }
    case 'once': {
      const { run } = await import('./once.js');
      const r = await run({ grants: 5, log });
      results.onceRevokedP99OverSweep = r.revokedP99OverSweep;
      results.once = r;
      for (const engine of ['postgres', 'mysql'] as const) {
        const e = r[engine];
        row(
          `once ${engine} end → refused p99 ms`,
          e.refusedP99Ms,
          `p50 ${e.refusedP50Ms} ms; concurrent login refused ${e.concurrentRefused ? 'always' : 'NOT ALWAYS'}`,
        );
        row(
          `once ${engine} end → REVOKED p99 ms`,
          e.revokedP99Ms,
          `p50 ${e.revokedP50Ms} ms, ${e.runs} runs`,
        );
      }
      row(
        'onceRevokedP99OverSweep',
        r.revokedP99OverSweep,
        `REVOKED p99 / sweep ${r.sweepIntervalMs / 1000} s`,
      );
      break;
    }
    case 'link-flood': {
      const { run } = await import('./link-flood.js');
      const r = await run({ approvals: 40, rate: 100, log });
      results.linkFloodRatioP50 = r.ratioP50;
      results.linkFlood = r;
      row(
        'linkFloodRatioP50',
        r.ratioP50,
        `approval p50 ${r.flooded.p50Ms} ms flooded vs ${r.unloaded.p50Ms} ms (target ≤ 1.5)`,
      );
      row(
        'linkFloodRatioP95',
        r.ratioP95,
        `p95 ${r.flooded.p95Ms} ms vs ${r.unloaded.p95Ms} ms; ${r.forgedPerSecond} forged/s`,
      );
      row(
        'forged attempts counted',
        `${r.forgedCounted}/${r.forgedSent}`,
        `${r.forgedNot4xx} not answered 4xx`,
      );
      break;
    }
  }
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
  const unknown = asked.filter((a) => !(BENCHES as readonly string[]).includes(a));
  if (unknown.length > 0) {
    console.error(`unknown bench ${unknown.join(', ')}; choose from ${BENCHES.join(', ')}`);
    return 2;
  }
  const selected = asked.length > 0 ? (asked as BenchName[]) : [...BENCHES];
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
