import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import { cryptoIds } from '../../functions/shared/ids.js';
import { type RunningPostgres, startEmbeddedPostgres } from '../../local/embedded-postgres.js';
import { ALICE, useAppSystem } from '../support/app-suite.js';
import { AUTO_READ, postgresPolicyYaml } from '../support/policies.js';
import { services } from '../support/services.js';
import {
  activeCredentials,
  adminQuery,
  canLogin,
  connect,
  createTargetDatabase,
  fileRequest,
  roleExists,
  type System,
  startSystem,
  startToggleProxy,
} from '../support/system.js';

/**
 * What happens behind the system's back: a `jit_` user nobody asked for, a database that is down at expiry.
 * These run on a dedicated embedded PostgreSQL: the reconciler drops every unexplained `jit_` role on a
 * server, which on the shared test server would include other suites' grants.
 */

let dedicated: RunningPostgres;
let proxy: Awaited<ReturnType<typeof startToggleProxy>>;

beforeAll(async () => {
  dedicated = await startEmbeddedPostgres({ persistent: false });
  await createTargetDatabase(dedicated.url, 'billing');
  proxy = await startToggleProxy('127.0.0.1', dedicated.port);
});
// Registered before useAppSystem, so it runs after the system stops (vitest runs after-hooks in reverse).
afterAll(async () => {
  await proxy?.close();
  await dedicated?.stop();
});

const system = useAppSystem(() => ({
  pgAdminUrl: dedicated.url,
  connection: { host: '127.0.0.1', port: proxy.port },
  levels: { auto: AUTO_READ },
}));

async function activeGrant(
  on: System,
  target: string,
  duration: string,
): Promise<{ id: string; creds: Credentials }> {
  const { id } = await fileRequest(on, ALICE, { target, level: 'auto', duration, reason: 'e2e recovery' });
  const { creds } = await activeCredentials(on, id, ALICE);
  return { id, creds };
}

describe('recovery behind the system’s back', () => {
  it('drops a jit_ user created behind the system’s back, records it, and keeps live grants', async () => {
    const live = await activeGrant(system(), 'app', '1h');
    const orphan = `jit_${cryptoIds().requestId()}`;
    await adminQuery(dedicated.url, `CREATE ROLE "${orphan}" LOGIN PASSWORD 'not-from-jitdb'`);
    expect(await roleExists(dedicated.url, orphan)).toBe(true);

    const report = await system().sweep({ reconcile: 'now' });
    expect(report.reconciled).toBe(true);
    expect(report.orphansDropped).toBe(1);
    expect(report.errors).toBe(0);
    expect(await roleExists(dedicated.url, orphan)).toBe(false);
    expect(await roleExists(dedicated.url, `jit_${live.id}`)).toBe(true);
    expect(await canLogin(live.creds.uri)).toBe(true);

    const security = await system().deps.audit.list(`security#${new Date().toISOString().slice(0, 10)}`);
    const dropped = security.filter((e) => e.action === 'orphan-dropped');
    expect(dropped.map((e) => [e.actor, e.details?.targetId, e.details?.dbUser])).toEqual([
      ['system', 'app', orphan],
    ]);

    // A second pass finds nothing more to do.
    expect((await system().sweep({ reconcile: 'now' })).orphansDropped).toBe(0);
    const revoked = await system().call<RequestView>('POST', `/requests/${live.id}/revoke`, ALICE, {});
    expect(revoked.body.status).toBe('REVOKED');
  });

  it('leaves a grant the database refused to revoke REVOKE_FAILED, and the sweeper revokes it once the database is back', async () => {
    const { id, creds } = await activeGrant(system(), 'app', '3s');
    // A session that reaches the server by another route than the one the system uses.
    const direct = new URL(creds.uri);
    direct.port = String(dedicated.port);
    const { client: session } = await connect(direct.toString());

    proxy.setUp(false);
    try {
      const failed = await system().waitForStatus(id, 'REVOKE_FAILED', 15_000);
      expect(failed.lastError?.code).toBe('TargetUnavailableError');
      const end = await system().executionEnd(id);
      expect(end.status).toBe('SUCCEEDED');
      expect(system().metrics.get('RevokeFailed')).toBe(1);

      const whileDown = await system().sweep();
      expect(whileDown.revoked).toBe(0);
      expect(whileDown.revokeFailed).toBe(1);
      expect((await system().request(id)).status).toBe('REVOKE_FAILED');
      expect(await roleExists(dedicated.url, `jit_${id}`)).toBe(true);
      expect((await session.query('SELECT 1 AS still')).rows).toEqual([{ still: 1 }]);
    } finally {
      proxy.setUp(true);
    }

    const backUp = await system().sweep();
    expect(backUp.revoked).toBe(1);
    expect(backUp.revokeFailed).toBe(0);
    const revoked = await system().request(id);
    expect(revoked.status).toBe('REVOKED');
    expect(revoked.revokeReason).toBe('sweeper');
    expect(await roleExists(dedicated.url, `jit_${id}`)).toBe(false);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => undefined);

    const actions = await system().auditActions(id);
    expect(actions.slice(0, 3)).toEqual(['auto-approved', 'granted', 'credentials-issued']);
    expect(actions.at(-1)).toBe('revoked');
    expect(actions.slice(3, -1).every((a) => a === 'revoke-failed')).toBe(true);
    expect(actions.slice(3, -1).length).toBeGreaterThanOrEqual(2);
    expect((await system().deps.audit.verify(id)).ok).toBe(true);

    // The failures were recorded without the target's admin password or the grant's password.
    const adminPassword = decodeURIComponent(new URL(dedicated.url).password);
    const stored = await system().scanTables();
    const logs = system().logs().join('\n');
    for (const secret of [adminPassword, creds.password]) {
      expect(stored).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });

  it('keeps an active grant on one database when reconciling a sibling target on the same server', async () => {
    const siblings = await startSystem({
      dynamodbEndpoint: services().dynamodbEndpoint,
      pgAdminUrl: dedicated.url,
      policyYaml: postgresPolicyYaml(
        { id: 'app', host: '127.0.0.1', port: dedicated.port, database: 'app', levels: { auto: AUTO_READ } },
        {
          id: 'billing',
          host: '127.0.0.1',
          port: dedicated.port,
          database: 'billing',
          levels: { auto: AUTO_READ },
        },
      ),
    });
    try {
      const live = await activeGrant(siblings, 'app', '1h');
      const report = await siblings.sweep({ reconcile: 'now' });
      expect(report.orphansDropped).toBe(0);
      expect(await roleExists(dedicated.url, `jit_${live.id}`)).toBe(true);
      expect(await canLogin(live.creds.uri)).toBe(true);
      await siblings.call('POST', `/requests/${live.id}/revoke`, ALICE, {});
    } finally {
      await siblings.stop();
    }
  });
});
