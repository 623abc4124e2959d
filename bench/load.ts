/**
 * Load: N concurrent requesters (default 200), each asking for an auto-approved 15 s grant on one PostgreSQL
 * through the local HTTP API (npm start's runtime: DynamoDB Local, LocalWorkflow, the real handlers).
 * Checks every grant was made, every one revoked on time and every audit chain complete; reports
 * throughput and p50/p99 of POST → ACTIVE and expiresAt → REVOKED next to the raw CREATE ROLE / DROP ROLE
 * rate of the same server (the physical limit), and the peak RSS of this process.
 *   npx tsx bench/load.ts [--requesters 200]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { AuditEvent, RequestStatus } from '../functions/domain/types.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import { startEmbeddedPostgres } from '../local/embedded-postgres.js';
import type { Runtime } from '../local/runtime.js';
import { jitRoles } from '../test/support/jit-roles.js';
import { countArgument, nearestRank, type RunOptions, runSettings } from './support.js';

export interface BenchStack {
  runtime: Runtime;
  pgAdminUrl: string;
  database: string;
  targetId: string;
  /** DynamoDB Local's endpoint, for benches that time raw DynamoDB calls next to the system's. */
  dynamodbEndpoint: string;
  sweepIntervalMs: number;
  stop(): Promise<void>;
}

/** Runs `work` on a bench stack (see startBenchStack), stopped afterwards whatever happens. */
export async function withBenchStack<T>(
  options: Parameters<typeof startBenchStack>[0],
  work: (stack: BenchStack) => Promise<T>,
): Promise<T> {
  const stack = await startBenchStack(options);
  try {
    return await work(stack);
  } finally {
    await stack.stop();
  }
}

/**
 * DynamoDB Local (in memory), a throw-away PostgreSQL (or JITDB_PG_URL) and the local runtime on a free port,
 * with a policy that auto-approves reads of up to `maxGrant` on one target; `reviewedLevel` adds the same
 * privileges as level `reviewed`, which approver@example.com must approve.
 */
export async function startBenchStack(
  options: { maxGrant?: string; sweepIntervalMs?: number; reviewedLevel?: boolean } = {},
): Promise<BenchStack> {
  // The handlers log every invocation through Powertools; a bench wants its own lines only.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const { startRuntime } = await import('../local/runtime.js');
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const dynamo = await startDynamoDbLocal();
    stops.push(dynamo.stop);
    const given = process.env.JITDB_PG_URL;
    const postgres = given ? { url: given, stop: async () => undefined } : await startEmbeddedPostgres();
    stops.push(postgres.stop);
    const admin = new URL(postgres.url);
    const suffix = randomBytes(4).toString('hex');
    const database = `bench_${suffix}`;
    const dir = mkdtempSync(join(tmpdir(), 'jitdb-bench-'));
    stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    const policyFile = join(dir, 'policy.yaml');
    const maxGrant = options.maxGrant ?? '1m';
    writeFileSync(
      policyFile,
      `version: 1
targets:
  - id: bench-pg
    engine: postgres
    environment: bench
    connection: { host: ${admin.hostname}, port: ${admin.port} }
    database: ${database}
    credentialKind: password
    tls: disable
    levels:
      read:
        privileges: { schemas: [{ name: public, privileges: [SELECT] }] }
        maxDuration: ${maxGrant}
        approvers: [approver@example.com]
        autoApprove: { maxDuration: ${maxGrant} }
        connectionLimit: 5
${
  options.reviewedLevel
    ? `      reviewed:
        privileges: { schemas: [{ name: public, privileges: [SELECT] }] }
        maxDuration: ${maxGrant}
        approvers: [approver@example.com]
        connectionLimit: 5
`
    : ''
}`,
    );
    const sweepIntervalMs = options.sweepIntervalMs ?? 5000;
    const runtime = await startRuntime({
      port: 0,
      policyFile,
      ephemeral: true,
      pgUrl: postgres.url,
      dynamodbEndpoint: dynamo.url,
      tablePrefix: `bench-${suffix}`,
      demoDatabase: database,
      sweepIntervalMs,
      printEmails: false,
      log: () => undefined,
    });
    stops.push(runtime.stop);
    return {
      runtime,
      pgAdminUrl: postgres.url,
      database,
      targetId: 'bench-pg',
      dynamodbEndpoint: dynamo.url,
      sweepIntervalMs,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export async function http<T>(
  method: 'GET' | 'POST',
  url: string,
  user: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method,
    headers: {
      'x-jitdb-user': user,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

export function percentile(values: readonly number[], p: number): number {
  return Math.round(nearestRank(values, p) ?? Number.NaN);
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return check();
}

/** How many requests the store holds in `status` (GSI by-status). */
export async function countByStatus(runtime: Runtime, status: RequestStatus): Promise<number> {
  let total = 0;
  let cursor: string | undefined;
  do {
    const page = await runtime.app.deps.requests.listByStatus(status, {
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    total += page.items.length;
    cursor = page.cursor;
  } while (cursor);
  return total;
}

/** CREATE ROLE … LOGIN then DROP ROLE, `count` times over `concurrency` admin connections: roles per second. */
async function rawRoleRate(pgAdminUrl: string, count: number, concurrency: number): Promise<number> {
  const pool = new pg.Pool({ connectionString: pgAdminUrl, max: concurrency });
  pool.on('error', () => undefined);
  const prefix = `raw_bench_${randomBytes(3).toString('hex')}_`;
  try {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const role = pg.escapeIdentifier(`${prefix}${next++}`);
          await pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'x' VALID UNTIL 'infinity'`);
          await pool.query(`DROP ROLE ${role}`);
        }
      }),
    );
    return count / ((performance.now() - started) / 1000);
  } finally {
    await pool.end();
  }
}

export interface LoadResult {
  requesters: number;
  grantSeconds: number;
  created: number;
  granted: number;
  revoked: number;
  /** Revoked later than one sweep period after expiresAt. */
  revokedLate: number;
  auditComplete: number;
  rolesLeft: number;
  postToActiveP50Ms: number;
  postToActiveP99Ms: number;
  expiryToRevokedP50Ms: number;
  expiryToRevokedP99Ms: number;
  /** Grants per second, first POST to last ACTIVE. */
  grantsPerSecond: number;
  /** Raw CREATE ROLE + DROP ROLE pairs per second on the same server. */
  rawRolesPerSecond: number;
  /** grantsPerSecond / rawRolesPerSecond. */
  throughputRatio: number;
  peakRssMb: number;
  ok: boolean;
}

interface Created {
  id: string;
  postedAt: number;
}

export async function run(options: RunOptions<'requesters' | 'grantSeconds'> = {}): Promise<LoadResult> {
  const { requesters, grantSeconds, log } = runSettings(options, { requesters: 200, grantSeconds: 15 });
  return withBenchStack({ maxGrant: `${grantSeconds}s` }, async (stack) => {
    const { runtime } = stack;
    const rawRolesPerSecond = await rawRoleRate(stack.pgAdminUrl, Math.min(requesters, 200), 4);
    log(`raw CREATE ROLE + DROP ROLE: ${rawRolesPerSecond.toFixed(1)} pairs/s (4 admin connections)`);

    const firstPost = Date.now();
    const posted = await Promise.all(
      Array.from({ length: requesters }, async (_, i): Promise<Created | string> => {
        const postedAt = Date.now();
        const response = await http<{ id?: string; error?: { code: string } }>(
          'POST',
          `${runtime.url}/requests`,
          `requester-${i}@example.com`,
          { target: stack.targetId, level: 'read', duration: `${grantSeconds}s`, reason: `load ${i}` },
        );
        if (response.status !== 201 || !response.body.id) {
          return `${response.status} ${response.body.error?.code ?? ''}`;
        }
        return { id: response.body.id, postedAt };
      }),
    );
    const created = posted.filter((p): p is Created => typeof p !== 'string');
    const refused = posted.filter((p): p is string => typeof p === 'string');
    if (refused.length > 0) log(`refused POSTs: ${[...new Set(refused)].join(', ')} (${refused.length})`);

    // Every request ends REVOKED (or something worse); wait one grant, plus slack for the queue.
    const settleMs = (grantSeconds + 60) * 1000;
    await until(
      async () => {
        for (const status of ['PENDING', 'APPROVED', 'ACTIVE', 'REVOKE_FAILED'] as const) {
          if ((await countByStatus(runtime, status)) > 0) return false;
        }
        return true;
      },
      settleMs,
      500,
    );

    const postToActive: number[] = [];
    const expiryToRevoked: number[] = [];
    let granted = 0;
    let revoked = 0;
    let revokedLate = 0;
    let auditComplete = 0;
    let lastActive = firstPost;
    const statuses = new Map<string, number>();
    const actionSets = new Map<string, number>();
    for (const request of created) {
      const events: AuditEvent[] = await runtime.app.deps.audit.list(request.id);
      const grantedEvent = events.find((e) => e.action === 'granted');
      const revokedEvent = events.find((e) => e.action === 'revoked');
      const stored = await runtime.app.deps.requests.get(request.id);
      const status = stored?.status ?? 'missing';
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const actions = events
        .map((e) =>
          e.action.endsWith('-failed') ? `${e.action}(${JSON.stringify(e.details ?? {})})` : e.action,
        )
        .join(',');
      actionSets.set(actions, (actionSets.get(actions) ?? 0) + 1);
      if (grantedEvent) {
        granted++;
        const at = Date.parse(grantedEvent.at);
        postToActive.push(at - request.postedAt);
        lastActive = Math.max(lastActive, at);
      }
      const expiresAt = stored?.grant?.expiresAt ?? stored?.expiresAt;
      if (revokedEvent && stored?.status === 'REVOKED' && expiresAt) {
        revoked++;
        const lag = Date.parse(revokedEvent.at) - Date.parse(expiresAt);
        expiryToRevoked.push(lag);
        if (lag > stack.sweepIntervalMs) revokedLate++;
      }
      const verify = await runtime.app.deps.audit.verify(request.id);
      const once = (action: AuditEvent['action']) => events.filter((e) => e.action === action).length === 1;
      // An auto-approved request's first event is its approval; then exactly one grant and one revoke.
      const first = events[0]?.action;
      const opened = first === 'requested' || first === 'auto-approved';
      if (verify.ok && opened && once('granted') && once('revoked')) {
        auditComplete++;
      }
    }
    log(`statuses: ${[...statuses].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const [actions, n] of actionSets) log(`audit ${n}× ${actions}`);
    const rolesLeft = (await jitRoles(stack.pgAdminUrl)).length;
    const grantsPerSecond = granted / Math.max(0.001, (lastActive - firstPost) / 1000);
    const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    const result: LoadResult = {
      requesters,
      grantSeconds,
      created: created.length,
      granted,
      revoked,
      revokedLate,
      auditComplete,
      rolesLeft,
      postToActiveP50Ms: percentile(postToActive, 50),
      postToActiveP99Ms: percentile(postToActive, 99),
      expiryToRevokedP50Ms: percentile(expiryToRevoked, 50),
      expiryToRevokedP99Ms: percentile(expiryToRevoked, 99),
      grantsPerSecond: Math.round(grantsPerSecond * 10) / 10,
      rawRolesPerSecond: Math.round(rawRolesPerSecond * 10) / 10,
      throughputRatio: Math.round((grantsPerSecond / rawRolesPerSecond) * 100) / 100,
      peakRssMb,
      ok:
        created.length === requesters &&
        granted === requesters &&
        revoked === requesters &&
        revokedLate === 0 &&
        auditComplete === requesters &&
        rolesLeft === 0,
    };
    log(
      `${requesters} requesters: created ${result.created}, granted ${granted}, revoked ${revoked} (${revokedLate} late), audit complete ${auditComplete}, jit_ roles left ${rolesLeft}`,
    );
    log(
      `POST → ACTIVE p50 ${result.postToActiveP50Ms} ms p99 ${result.postToActiveP99Ms} ms; expiresAt → REVOKED p50 ${result.expiryToRevokedP50Ms} ms p99 ${result.expiryToRevokedP99Ms} ms`,
    );
    log(
      `throughput ${result.grantsPerSecond} grants/s vs raw ${result.rawRolesPerSecond} roles/s: ratio ${result.throughputRatio}; peak RSS ${peakRssMb} MB`,
    );
    return result;
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const requesters = countArgument('requesters', 200, 'bench/load.ts');
  const result = await run({ requesters, log: (line) => console.log(line) });
  process.exitCode = result.ok ? 0 : 1;
}
