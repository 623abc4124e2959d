import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import type { AuditEvent } from '../../functions/domain/types.js';
import { loadMysqlSampleData } from '../../local/demo-data.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { openSession } from '../support/client-session.js';
import { hostPortOf, READ_PUBLIC } from '../support/policies.js';
import { testRuntimeOptions } from '../support/runtime.js';
import { services } from '../support/services.js';

/**
 * Use-once credentials end to end: the local runtime (API, the real ASL, the sweeper) on the shared PostgreSQL
 * and MariaDB. The sweeper runs only when a test calls it, so each step's state is the one asserted.
 */

const suffix = randomBytes(4).toString('hex');
const PG_DATABASE = `once_pg_${suffix}`;
const MYSQL_DATABASE = `once_my_${suffix}`;
const DAVE = 'dave@example.com';
let workDir: string;
let runtime: Runtime | undefined;

function policyYaml(): string {
  const { host, port } = hostPortOf(services().pgAdminUrl);
  const my = new URL(services().mysqlAdminUrl);
  const level = (privileges: string) => [
    '      read:',
    `        privileges: ${privileges}`,
    '        maxDuration: 1h',
    '        autoApprove: {}',
    '        extension: { autoApproveUpTo: 1h, maxTotal: 2h }',
  ];
  return [
    'version: 1',
    'targets:',
    '  - id: pg',
    '    engine: postgres',
    `    connection: { host: ${host}, port: ${port} }`,
    `    database: ${PG_DATABASE}`,
    '    credentialKind: password',
    '    tls: disable',
    '    levels:',
    ...level(READ_PUBLIC),
    '  - id: my',
    '    engine: mysql',
    `    connection: { host: ${my.hostname}, port: ${my.port} }`,
    `    database: ${MYSQL_DATABASE}`,
    '    credentialKind: password',
    '    tls: disable',
    '    levels:',
    ...level(`{ schemas: [{ name: ${MYSQL_DATABASE}, privileges: [SELECT] }] }`),
    '',
  ].join('\n');
}

async function api<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${runtime?.url}${route}`, {
    method,
    headers: { 'x-jitdb-user': DAVE, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

async function until(id: string, done: (r: RequestView) => boolean): Promise<RequestView> {
  for (let i = 0; i < 200; i++) {
    const { body } = await api<RequestView>('GET', `/requests/${id}`);
    if (done(body)) return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`request ${id} never reached the expected state`);
}

/** Per engine: a query any session of the `read` level may run, and the server's refusal of a second login. */
const ENGINES = {
  pg: {
    probe: 'SELECT count(*) FROM public.orders',
    /** The server's refusal of a sealed role (or of a role gone since). */
    refused: /not permitted to log in|too many connections|does not exist|password authentication failed/,
  },
  my: {
    probe: 'SELECT CURRENT_USER() AS u',
    refused: /max_user_connections|max_connections_per_hour|Access denied|account is locked/i,
  },
} as const;

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-once-'));
  await loadMysqlSampleData(services().mysqlAdminUrl, MYSQL_DATABASE);
  const policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(policyFile, policyYaml());
  runtime = await startRuntime(
    testRuntimeOptions(
      policyFile,
      { tablePrefix: `once-${suffix}`, demoDatabase: PG_DATABASE },
      // The tests sweep when they mean to: the timer must not settle a grant between two assertions.
      { mysqlUrl: services().mysqlAdminUrl, sweepIntervalMs: 3_600_000 },
    ),
  );
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
  const admin = await mysql.createConnection({ uri: services().mysqlAdminUrl });
  await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(MYSQL_DATABASE)}`).finally(() => admin.end());
  rmSync(workDir, { recursive: true, force: true });
});

async function activeOnceGrant(target: 'pg' | 'my'): Promise<{ id: string; credentials: Credentials }> {
  const created = await api<RequestView>('POST', '/requests', {
    target,
    level: 'read',
    duration: '10m',
    reason: 'one look',
    once: true,
  });
  expect(created.status).toBe(201);
  expect(created.body.once).toEqual({});
  const { id } = created.body;
  await until(id, (r) => r.status === 'ACTIVE');
  const credentials = await api<Credentials>('GET', `/requests/${id}/credentials`);
  expect(credentials.status).toBe(200);
  return { id, credentials: credentials.body };
}

async function auditOf(id: string): Promise<AuditEvent[]> {
  return (await api<{ events: AuditEvent[] }>('GET', `/requests/${id}/audit`)).body.events;
}

describe.each(['pg', 'my'] as const)('use-once credentials on %s', (target) => {
  const engine = ENGINES[target];

  it('admit one session: a second, concurrent or later, is refused; its end revokes the grant', async () => {
    const { id, credentials } = await activeOnceGrant(target);
    const first = await openSession(credentials);
    await expect(first.query(engine.probe)).resolves.toBeDefined();
    await expect(openSession(credentials)).rejects.toThrow(engine.refused);

    // A sweep while the session is open records its use and leaves it alone.
    await runtime?.sweep();
    const inUse = await until(id, (r) => r.once?.usedAt !== undefined);
    expect(inUse.status).toBe('ACTIVE');
    await expect(first.query(engine.probe)).resolves.toBeDefined();
    const again = await api<{ error: { code: string } }>('GET', `/requests/${id}/credentials`);
    expect([again.status, again.body.error.code]).toEqual([409, 'ONCE_ALREADY_USED']);

    await first.end();
    await expect(openSession(credentials)).rejects.toThrow(engine.refused);
    await runtime?.sweep();
    const revoked = await until(id, (r) => r.status === 'REVOKED');
    expect(revoked).toMatchObject({ revokeReason: 'used-once', once: { usedAt: inUse.once?.usedAt } });
    const events = await auditOf(id);
    expect(events.map((e) => e.action)).toEqual([
      'auto-approved',
      'granted',
      'credentials-issued',
      'session-used',
      'revoked',
    ]);
    expect(events.at(-1)?.details).toMatchObject({ reason: 'used-once' });
    // Fresh credentials are refused too: the grant is over.
    expect((await api('GET', `/requests/${id}/credentials`)).status).toBe(409);
  });

  it('count a session no sweep saw: the next sweep revokes it as used', async () => {
    const { id, credentials } = await activeOnceGrant(target);
    const only = await openSession(credentials);
    await only.query(engine.probe);
    await only.end();
    await expect(openSession(credentials)).rejects.toThrow(engine.refused);
    await runtime?.sweep();
    const revoked = await until(id, (r) => r.status === 'REVOKED');
    expect(revoked.revokeReason).toBe('used-once');
    // Seen by that sweep (sealed or counted by the server), recorded just before the revoke.
    expect(Date.parse(revoked.once?.usedAt ?? '')).toBeLessThanOrEqual(Date.parse(revoked.revokedAt ?? ''));
    expect((await auditOf(id)).map((e) => e.action)).toContain('session-used');
  });

  it('leave an unused grant ACTIVE across sweeps, and extend it like any other', async () => {
    const { id, credentials } = await activeOnceGrant(target);
    await runtime?.sweep();
    const before = await until(id, (r) => r.status === 'ACTIVE');
    expect(before.once).toEqual({});
    const extended = await api<RequestView>('POST', `/requests/${id}/extend`, {
      duration: '10m',
      reason: 'a bit longer',
    });
    expect(extended.status).toBe(200);
    expect(Date.parse(extended.body.expiresAt ?? '')).toBeGreaterThan(Date.parse(before.expiresAt ?? ''));
    expect(extended.body.once).toEqual({});
    // Still one session only, after the extension.
    const only = await openSession(credentials);
    await expect(openSession(credentials)).rejects.toThrow(engine.refused);
    await only.end();
    await runtime?.sweep();
    expect((await until(id, (r) => r.status === 'REVOKED')).revokeReason).toBe('used-once');
  });
});

describe('the once field of POST /requests', () => {
  it.each([['yes'], [1], [null], [{}]])(
    'refuses once: %j with 400 VALIDATION_FAILED and stores nothing',
    async (once) => {
      const before = await api<{ items: RequestView[] }>('GET', '/requests');
      const refused = await api<{ error: { code: string; details?: { problems?: string[] } } }>(
        'POST',
        '/requests',
        { target: 'pg', level: 'read', duration: '10m', reason: 'x', once },
      );
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('VALIDATION_FAILED');
      expect(refused.body.error.details?.problems?.some((p) => p.startsWith('once:'))).toBe(true);
      const after = await api<{ items: RequestView[] }>('GET', '/requests');
      expect(after.body.items.map((r) => r.id)).toEqual(before.body.items.map((r) => r.id));
    },
  );

  it('keeps a request without once free of it', async () => {
    const created = await api<RequestView>('POST', '/requests', {
      target: 'pg',
      level: 'read',
      duration: '10m',
      reason: 'a window',
    });
    expect(created.status).toBe(201);
    expect(created.body.once).toBeUndefined();
    await until(created.body.id, (r) => r.status === 'ACTIVE');
    expect((await api('POST', `/requests/${created.body.id}/revoke`, {})).status).toBe(200);
  });
});

/** The jitdb CLI as a user runs it, against the runtime. */
function jitdb(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.resolve('cli/bin.js'), ...args],
      {
        env: { PATH: process.env.PATH, HOME: workDir, JITDB_ENDPOINT: runtime?.url, JITDB_USER: DAVE },
        timeout: 60_000,
      },
      (error, stdout) => {
        resolve({ code: error && typeof error.code === 'number' ? error.code : error ? 1 : 0, stdout });
      },
    );
  });
}

describe('jitdb request --once', () => {
  it('asks for use-once credentials, and show says whether they were used', async () => {
    const asked = await jitdb([
      'request',
      'pg',
      '--level',
      'read',
      '--for',
      '10m',
      '--reason',
      'cli',
      '--once',
      '--json',
    ]);
    expect(asked.code).toBe(0);
    const { id } = JSON.parse(asked.stdout) as RequestView;
    expect((await until(id, (r) => r.status === 'ACTIVE')).once).toEqual({});
    const shown = await jitdb(['show', id]);
    expect(shown.stdout).toMatch(/^once:\s+not used yet$/m);
    const credentials = (await api<Credentials>('GET', `/requests/${id}/credentials`)).body;
    const session = await openSession(credentials);
    await runtime?.sweep();
    const used = await until(id, (r) => r.once?.usedAt !== undefined);
    expect((await jitdb(['show', id])).stdout).toContain(`used ${used.once?.usedAt}`);
    await session.end();
    await runtime?.sweep();
    await until(id, (r) => r.status === 'REVOKED');
    expect((await jitdb(['show', id])).stdout).toMatch(/^revoked:\s+\S+ \(used-once\)$/m);
  });
});
