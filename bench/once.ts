/**
 * Use-once credentials: for N use-once grants per engine (PostgreSQL, MariaDB) through the local HTTP API and
 * the runtime's sweeper at its default period, the time from the end of the one session to (a) a refused
 * login and (b) the request being REVOKED. The first is the seal at first login (the database refuses a
 * second login from then on); the second is the sweeper's period plus one revoke. Sessions start at random
 * phases of the sweeper's timer, as real ones do.
 *   npx tsx bench/once.ts [--grants 5]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Credentials } from '../functions/application/ports.js';
import type { RequestStatus } from '../functions/domain/types.js';
import { loadMysqlSampleData } from '../local/demo-data.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import { startEmbeddedPostgres } from '../local/embedded-postgres.js';
import { startMariadb } from '../local/mariadb.js';
import { openSession } from '../test/support/client-session.js';
import { http, percentile } from './load.js';
import { countArgument, readTarget } from './support.js';

type Engine = 'postgres' | 'mysql';

export interface OnceEngineResult {
  runs: number;
  /** Session end → a login with the same credentials refused. */
  refusedP50Ms: number;
  refusedP99Ms: number;
  /** Session end → the request REVOKED (user dropped, audited). */
  revokedP50Ms: number;
  revokedP99Ms: number;
  /** A second login while the first session was open was refused, in every run. */
  concurrentRefused: boolean;
}

export interface OnceResult {
  sweepIntervalMs: number;
  postgres: OnceEngineResult;
  mysql: OnceEngineResult;
  /** The worse engine's REVOKED p99 over the sweep period: ~1 means the period is the whole cost. */
  revokedP99OverSweep: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a session with the credentials; resolves to its closer, or rejects when the login is refused. */
async function login(c: Credentials): Promise<() => Promise<void>> {
  const session = await openSession(c);
  await session.query('SELECT 1');
  return () => session.end();
}

async function refused(c: Credentials): Promise<boolean> {
  try {
    const close = await login(c);
    await close();
    return false;
  } catch {
    return true;
  }
}

async function oneRun(url: string, targetId: string, engine: Engine, i: number) {
  const user = `once-${engine}-${i}@example.com`;
  const created = await http<{ id?: string }>('POST', `${url}/requests`, user, {
    target: targetId,
    level: 'read',
    duration: '10m',
    reason: `once bench ${i}`,
    once: true,
  });
  const id = created.body.id;
  if (created.status !== 201 || !id) throw new Error(`POST /requests answered ${created.status}`);
  let credentials: Credentials | undefined;
  for (let tries = 0; !credentials && tries < 300; tries++) {
    const response = await http<Credentials>('GET', `${url}/requests/${id}/credentials`, user);
    if (response.status === 200) credentials = response.body;
    else await sleep(50);
  }
  if (!credentials) throw new Error(`request ${id} never became ACTIVE`);
  // A random phase of the sweeper's timer.
  await sleep(Math.random() * 1000);
  const close = await login(credentials);
  const concurrentRefused = await refused(credentials);
  await close();
  const ended = performance.now();
  let refusedMs: number | undefined;
  while (refusedMs === undefined && performance.now() - ended < 30_000) {
    if (await refused(credentials)) refusedMs = performance.now() - ended;
  }
  let revokedMs: number | undefined;
  while (revokedMs === undefined && performance.now() - ended < 60_000) {
    const view = await http<{ status: RequestStatus }>('GET', `${url}/requests/${id}`, user);
    if (view.body.status === 'REVOKED') revokedMs = performance.now() - ended;
    else await sleep(20);
  }
  if (refusedMs === undefined || revokedMs === undefined)
    throw new Error(`request ${id}: not revoked in 60 s`);
  return { refusedMs, revokedMs, concurrentRefused };
}

export async function run(
  options: { grants?: number; log?: (line: string) => void } = {},
): Promise<OnceResult> {
  const grants = options.grants ?? 5;
  const log = options.log ?? (() => undefined);
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const { startRuntime } = await import('../local/runtime.js');
  const stops: (() => Promise<void>)[] = [];
  try {
    const dynamo = await startDynamoDbLocal();
    stops.push(dynamo.stop);
    const postgres = process.env.JITDB_PG_URL
      ? { url: process.env.JITDB_PG_URL, stop: async () => undefined }
      : await startEmbeddedPostgres();
    stops.push(postgres.stop);
    const mariadb = process.env.JITDB_MYSQL_URL
      ? { url: process.env.JITDB_MYSQL_URL, stop: async () => undefined }
      : await startMariadb();
    stops.push(mariadb.stop);
    const suffix = randomBytes(4).toString('hex');
    const database = `once_${suffix}`;
    await loadMysqlSampleData(mariadb.url, database);
    const dir = mkdtempSync(join(tmpdir(), 'jitdb-once-bench-'));
    stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    const pgAt = new URL(postgres.url);
    const myAt = new URL(mariadb.url);
    const level = { autoApprove: {} };
    const policy = {
      version: 1,
      targets: [
        readTarget(
          {
            id: 'once-pg',
            engine: 'postgres',
            host: pgAt.hostname,
            port: Number(pgAt.port),
            database,
            schema: 'public',
          },
          level,
        ),
        readTarget(
          {
            id: 'once-my',
            engine: 'mysql',
            host: myAt.hostname,
            port: Number(myAt.port),
            database,
            schema: database,
          },
          level,
        ),
      ],
    };
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, JSON.stringify(policy)); // JSON is YAML
    const runtime = await startRuntime({
      port: 0,
      policyFile,
      ephemeral: true,
      pgUrl: postgres.url,
      mysqlUrl: mariadb.url,
      dynamodbEndpoint: dynamo.url,
      tablePrefix: `once-${suffix}`,
      demoDatabase: database,
      printEmails: false,
      log: () => undefined,
    });
    stops.push(runtime.stop);
    const sweepIntervalMs = 5000; // the runtime's default, which this bench measures
    const measure = async (engine: Engine, targetId: string): Promise<OnceEngineResult> => {
      const runs: Awaited<ReturnType<typeof oneRun>>[] = [];
      for (let i = 0; i < grants; i++) runs.push(await oneRun(runtime.url, targetId, engine, i));
      const percentileOf = (key: 'refusedMs' | 'revokedMs', p: number) =>
        percentile(
          runs.map((r) => r[key]),
          p,
        );
      const result: OnceEngineResult = {
        runs: runs.length,
        refusedP50Ms: percentileOf('refusedMs', 50),
        refusedP99Ms: percentileOf('refusedMs', 99),
        revokedP50Ms: percentileOf('revokedMs', 50),
        revokedP99Ms: percentileOf('revokedMs', 99),
        concurrentRefused: runs.every((r) => r.concurrentRefused),
      };
      log(
        `${engine}: session end → login refused p50 ${result.refusedP50Ms} ms p99 ${result.refusedP99Ms} ms; → REVOKED p50 ${result.revokedP50Ms} ms p99 ${result.revokedP99Ms} ms (${runs.length} runs, concurrent login refused: ${result.concurrentRefused ? 'always' : 'NOT ALWAYS'})`,
      );
      return result;
    };
    const pgResult = await measure('postgres', 'once-pg');
    const myResult = await measure('mysql', 'once-my');
    return {
      sweepIntervalMs,
      postgres: pgResult,
      mysql: myResult,
      revokedP99OverSweep:
        Math.round((Math.max(pgResult.revokedP99Ms, myResult.revokedP99Ms) / sweepIntervalMs) * 100) / 100,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const grants = countArgument('grants', 5, 'bench/once.ts');
  const result = await run({ grants, log: console.log });
  console.log(JSON.stringify(result, null, 2));
  setTimeout(() => process.exit(), 1000).unref();
}
