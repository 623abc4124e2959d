import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSITIONS } from '../../functions/domain/lifecycle.js';
import type { AuditEvent, RequestStatus } from '../../functions/domain/types.js';
import { type RunningPostgres, startEmbeddedPostgres } from '../../local/embedded-postgres.js';
import { ALICE, useAppSystem } from '../support/app-suite.js';
import { jitRoles as jitRolesOn } from '../support/jit-roles.js';
import { AUTO_READ } from '../support/policies.js';
import { canLogin, fileRequest, grantedRequest } from '../support/system.js';

/**
 * The target PostgreSQL really stops (a dedicated embedded server, restarted on the same data directory and
 * port) during a grant and during a revoke. Invariants:
 *  - a grant that cannot reach the database ends FAILED, and no `jit_` user is left once the server is back;
 *  - a revoke that cannot reach it ends REVOKE_FAILED, and access is gone one sweep after the server is back
 *    (the lag from expiresAt is printed);
 *  - every stored transition is one the lifecycle table allows, and the audit chain verifies.
 */

let dataDir: string;
let port: number;
let server: RunningPostgres | undefined;
let adminUrl: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'jitdb-faults-pg-'));
  chmodSync(dataDir, 0o711); // run as root, PostgreSQL runs as the postgres OS user and must reach its data dir
  server = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'data'), persistent: true });
  port = server.port;
  adminUrl = server.url;
}, 120_000);
// Registered before useAppSystem, so it runs after the system stops (vitest runs after-hooks in reverse).
afterAll(async () => {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const system = useAppSystem(
  () => ({ pgAdminUrl: adminUrl, connection: { host: '127.0.0.1', port }, levels: { auto: AUTO_READ } }),
  120_000,
);

async function stopServer(): Promise<void> {
  await server?.stop();
  server = undefined;
}

async function startServer(): Promise<void> {
  server = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'data'), persistent: true, port });
}

const jitRoles = () => jitRolesOn(adminUrl);

/** Every audited status change is one TRANSITIONS allows for some event, and the chain verifies. */
async function expectLawfulHistory(id: string): Promise<AuditEvent[]> {
  const events = await system().audit(id);
  const allowed = new Set<string>();
  for (const byStatus of Object.values(TRANSITIONS)) {
    for (const [from, tos] of Object.entries(byStatus))
      for (const to of tos ?? []) allowed.add(`${from}→${to}`);
  }
  for (const event of events) {
    if (event.fromStatus && event.toStatus && event.fromStatus !== event.toStatus) {
      expect(allowed, `${event.action}: ${event.fromStatus}→${event.toStatus}`).toContain(
        `${event.fromStatus}→${event.toStatus}`,
      );
    }
  }
  expect(await system().deps.audit.verify(id)).toMatchObject({ ok: true, events: events.length });
  return events;
}

describe('the target database goes down', () => {
  it('fails a grant it cannot make and leaves no user behind once the database is back', async () => {
    await stopServer();
    let id = '';
    try {
      ({ id } = await fileRequest(system(), ALICE, {
        target: 'app',
        level: 'auto',
        duration: '10m',
        reason: 'faults: grant while down',
      }));
      const failed = await system().waitForStatus(id, 'FAILED', 45_000);
      expect(failed.grant).toBeUndefined();
      expect(failed.lastError?.code).toBe('TargetUnavailableError');
    } finally {
      await startServer();
    }
    expect(await jitRoles()).toEqual([]);
    const events = await expectLawfulHistory(id);
    expect(events.map((e) => e.action)).toEqual(['auto-approved', 'grant-failed']);
    // FAILED is terminal: a sweep with the server back changes nothing.
    await system().sweep({ reconcile: 'now' });
    expect((await system().request(id)).status).toBe('FAILED' satisfies RequestStatus);
    expect(await jitRoles()).toEqual([]);
  }, 90_000);

  it('leaves a revoke it cannot make REVOKE_FAILED, and the next sweep after the database is back ends access', async () => {
    const { request: active, creds } = await grantedRequest(system(), ALICE, {
      target: 'app',
      level: 'auto',
      duration: '4s',
      reason: 'faults: revoke while down',
    });
    const { id } = active;
    expect(await canLogin(creds.uri)).toBe(true);
    const expiresAt = Date.parse(active.expiresAt ?? '');

    await stopServer();
    let backAt = 0;
    try {
      const failed = await system().waitForStatus(id, 'REVOKE_FAILED', 45_000);
      expect(failed.lastError?.code).toBe('TargetUnavailableError');
      const whileDown = await system().sweep();
      expect(whileDown.revoked).toBe(0);
      expect((await system().request(id)).status).toBe('REVOKE_FAILED');
    } finally {
      await startServer();
      backAt = Date.now();
    }

    const swept = await system().sweep();
    expect(swept.revoked).toBe(1);
    const revoked = await system().request(id);
    expect(revoked.status).toBe('REVOKED');
    const goneAt = Date.now();
    expect(await canLogin(creds.uri)).toBe(false);
    expect(await jitRoles()).toEqual([]);
    // One sweep period is 60 s on AWS; here the sweep ran right after the server came back.
    expect(goneAt - backAt).toBeLessThan(60_000);
    console.log(
      `faults: revoke during outage — access gone ${goneAt - expiresAt} ms after expiresAt, ${goneAt - backAt} ms after the database came back`,
    );
    const actions = (await expectLawfulHistory(id)).map((e) => e.action);
    expect(actions[0]).toBe('auto-approved');
    expect(actions.slice(1, 3)).toEqual(['granted', 'credentials-issued']);
    expect(actions.at(-1)).toBe('revoked');
    expect(actions.filter((a) => a === 'revoked')).toHaveLength(1);
    expect(actions.slice(3, -1).every((a) => a === 'revoke-failed')).toBe(true);
  }, 120_000);
});
