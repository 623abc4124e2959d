/**
 * Revocation lag: for N auto-approved grants, the time from expiresAt until access is gone — an open session
 * of the grant's user is terminated AND a new login with its password is refused — through the local HTTP
 * API and the real workflow (Wait state → Revoke; the sweeper as backstop). PostgreSQL's VALID UNTIL refuses
 * new password logins on its own at expiresAt, so the session kill is what measures our revoke.
 *   npx tsx bench/revocation-lag.ts [--grants 20]
 */
import { pathToFileURL } from 'node:url';
import type { Credentials } from '../functions/application/ports.js';
import { jitRoles } from '../test/support/jit-roles.js';
import { http, percentile, until, withBenchStack } from './load.js';
import { clientFor, countArgument, type RunOptions, runSettings } from './support.js';

export interface RevocationLagResult {
  grants: number;
  measured: number;
  /** expiresAt → open session terminated. */
  sessionEndP50Ms: number;
  sessionEndP99Ms: number;
  /** expiresAt → new login refused. */
  loginRefusedP50Ms: number;
  loginRefusedP99Ms: number;
  /** expiresAt → both: access gone. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  rolesLeft: number;
  sweepIntervalMs: number;
}

interface Measured {
  sessionEndMs: number;
  loginRefusedMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps a session open and logs in again every few ms around expiresAt, until both stop working. */
async function watch(creds: Credentials, limitMs: number): Promise<Measured | undefined> {
  const expiresAt = Date.parse(creds.expiresAt);
  const session = clientFor(creds);
  await session.connect();
  let sessionEnd: number | undefined;
  session.on('error', () => {
    sessionEnd ??= Date.now();
  });
  session.on('end', () => {
    sessionEnd ??= Date.now();
  });
  const probeSession = (async () => {
    while (sessionEnd === undefined && Date.now() < expiresAt + limitMs) {
      try {
        await session.query('SELECT 1');
      } catch {
        sessionEnd ??= Date.now();
      }
      await sleep(20);
    }
  })();
  let loginRefused: number | undefined;
  const probeLogin = (async () => {
    await sleep(Math.max(0, expiresAt - Date.now() - 100));
    while (loginRefused === undefined && Date.now() < expiresAt + limitMs) {
      const client = clientFor(creds);
      try {
        await client.connect();
        await client.end();
      } catch {
        loginRefused = Date.now();
      }
      await sleep(20);
    }
  })();
  await Promise.all([probeSession, probeLogin]);
  await session.end().catch(() => undefined);
  if (sessionEnd === undefined || loginRefused === undefined) return undefined;
  return { sessionEndMs: sessionEnd - expiresAt, loginRefusedMs: loginRefused - expiresAt };
}

export async function run(options: RunOptions<'grants' | 'grantSeconds'> = {}): Promise<RevocationLagResult> {
  const { grants, grantSeconds, log } = runSettings(options, { grants: 20, grantSeconds: 6 });
  return withBenchStack({ maxGrant: '1m' }, async (stack) => {
    const { runtime } = stack;
    const watchers: Promise<Measured | undefined>[] = [];
    for (let i = 0; i < grants; i++) {
      const user = `lag-${i}@example.com`;
      const created = await http<{ id?: string }>('POST', `${runtime.url}/requests`, user, {
        target: stack.targetId,
        level: 'read',
        duration: `${grantSeconds}s`,
        reason: `revocation lag ${i}`,
      });
      const id = created.body.id;
      if (created.status !== 201 || !id) throw new Error(`POST /requests answered ${created.status}`);
      let creds: Credentials | undefined;
      await until(
        async () => {
          const response = await http<Credentials>('GET', `${runtime.url}/requests/${id}/credentials`, user);
          if (response.status === 200) creds = response.body;
          return creds !== undefined;
        },
        15_000,
        100,
      );
      if (!creds) throw new Error(`request ${id} never became ACTIVE`);
      // Each watcher gives up one sweep period plus 10 s after expiry: that would be a finding.
      watchers.push(watch(creds, stack.sweepIntervalMs + 10_000));
    }
    const results = await Promise.all(watchers);
    const measured = results.filter((r): r is Measured => r !== undefined);
    const sessionEnds = measured.map((m) => m.sessionEndMs);
    const loginRefusals = measured.map((m) => m.loginRefusedMs);
    const gone = measured.map((m) => Math.max(m.sessionEndMs, m.loginRefusedMs));
    await until(async () => (await jitRoles(stack.pgAdminUrl)).length === 0, 10_000);
    const result: RevocationLagResult = {
      grants,
      measured: measured.length,
      sessionEndP50Ms: percentile(sessionEnds, 50),
      sessionEndP99Ms: percentile(sessionEnds, 99),
      loginRefusedP50Ms: percentile(loginRefusals, 50),
      loginRefusedP99Ms: percentile(loginRefusals, 99),
      p50Ms: percentile(gone, 50),
      p99Ms: percentile(gone, 99),
      maxMs: Math.round(Math.max(...gone)),
      rolesLeft: (await jitRoles(stack.pgAdminUrl)).length,
      sweepIntervalMs: stack.sweepIntervalMs,
    };
    log(
      `${result.measured}/${grants} grants: access gone p50 ${result.p50Ms} ms p99 ${result.p99Ms} ms max ${result.maxMs} ms after expiresAt (session killed p99 ${result.sessionEndP99Ms} ms, login refused p99 ${result.loginRefusedP99Ms} ms); jit_ roles left ${result.rolesLeft}`,
    );
    return result;
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const grants = countArgument('grants', 20, 'bench/revocation-lag.ts');
  const result = await run({ grants, log: (line) => console.log(line) });
  process.exitCode = result.measured === grants && result.rolesLeft === 0 ? 0 : 1;
}
