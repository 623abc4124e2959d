import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Credentials, GrantSpec } from '../../functions/application/ports.js';
import { ALICE, overrideProvisioners, useDedicatedAppSystem } from '../support/app-suite.js';
import { jitRoles as jitRolesOn } from '../support/jit-roles.js';
import { AUTO_READ } from '../support/policies.js';
import { adminQuery, canLogin, connect, fileRequest } from '../support/system.js';

/**
 * A Lambda killed mid-step: the provisioner is wrapped so that one grant or one revoke stops after N of its
 * steps with the error Lambda reports for a dead sandbox. Invariant: no `jit_` user survives the next sweep
 * (with the reconciler) unless an ACTIVE request explains it, and no open session outlives it either.
 * A dedicated PostgreSQL: the reconciler drops every unexplained `jit_` role on the server.
 */

/** What Step Functions sees when the Lambda's sandbox dies (timeout, out of memory). */
class SandboxCrashError extends Error {
  constructor(where: string) {
    super(`injected crash ${where}`);
    this.name = 'Sandbox.Timedout';
  }
}

type Fault =
  | { kind: 'revoke'; dbUser: string; afterSteps: number }
  | { kind: 'grant'; dbUser: string; after: 'create-role' | 'full-grant' };
const faults: Fault[] = [];
const ran: string[] = [];

const { server, system } = useDedicatedAppSystem({ auto: AUTO_READ });

beforeAll(() =>
  overrideProvisioners(system(), (provisioner) => ({
    grant: async (spec: GrantSpec) => {
      const fault = takeFault('grant', spec.dbUser);
      if (fault?.kind !== 'grant') return provisioner.grant(spec);
      if (fault.after === 'full-grant') await provisioner.grant(spec);
      else await admin(`CREATE ROLE ${pg.escapeIdentifier(spec.dbUser)} LOGIN`);
      throw new SandboxCrashError(`after ${fault.after}`);
    },
    revoke: async (spec) => {
      const fault = takeFault('revoke', spec.dbUser);
      if (fault?.kind !== 'revoke') return provisioner.revoke(spec);
      const plan = provisioner.revokePlan(spec);
      for (const step of plan.steps.slice(0, fault.afterSteps)) {
        await step.run();
        ran.push(step.name);
      }
      throw new SandboxCrashError(`after ${fault.afterSteps} revoke steps`);
    },
  })),
);

function takeFault(kind: Fault['kind'], dbUser: string): Fault | undefined {
  const index = faults.findIndex((f) => f.kind === kind && f.dbUser === dbUser);
  return index < 0 ? undefined : faults.splice(index, 1)[0];
}

const admin = (sql: string) => adminQuery(server().url, sql);

const jitRoles = () => jitRolesOn(server().url);

/** `jit_` roles that no ACTIVE or REVOKE_FAILED request of this system explains. */
async function unexplainedRoles(): Promise<string[]> {
  const out: string[] = [];
  for (const role of await jitRoles()) {
    const request = await system().deps.requests.get(role.slice('jit_'.length));
    if (request?.status !== 'ACTIVE' && request?.status !== 'REVOKE_FAILED') out.push(role);
  }
  return out;
}

async function create(duration: string): Promise<string> {
  const { id } = await fileRequest(system(), ALICE, {
    target: 'app',
    level: 'auto',
    duration,
    reason: 'faults: crash injection',
  });
  return id;
}

describe('a Lambda killed between the steps of a revoke', () => {
  // 4 steps: block-logins, terminate-sessions, drop-owned, drop-role; 4 = all done, not recorded.
  it.each([0, 1, 2, 3, 4])(
    'crashes after %i revoke steps: REVOKE_FAILED, then the next sweep ends the session, the login and the user',
    async (afterSteps) => {
      const id = await create('3s');
      faults.push({ kind: 'revoke', dbUser: `jit_${id}`, afterSteps });
      const active = await system().waitForStatus(id, 'ACTIVE');
      const creds = await system().call<Credentials>('GET', `/requests/${id}/credentials`, ALICE);
      expect(creds.status).toBe(200);
      const { client: session } = await connect(creds.body.uri);
      ran.length = 0;

      const failed = await system().waitForStatus(id, 'REVOKE_FAILED', 20_000);
      expect(failed.lastError?.code).toBe('Sandbox.Timedout');
      expect(ran).toEqual(
        ['block-logins', 'terminate-sessions', 'drop-owned', 'drop-role'].slice(0, afterSteps),
      );
      expect((await system().executionEnd(id)).status).toBe('SUCCEEDED');

      const report = await system().sweep({ reconcile: 'now' });
      expect(report.revoked).toBe(1);
      expect(report.errors).toBe(0);
      const revoked = await system().request(id);
      expect(revoked.status).toBe('REVOKED');
      expect(Date.parse(revoked.revokedAt ?? '')).toBeGreaterThan(Date.parse(active.expiresAt ?? ''));
      await expect(session.query('SELECT 1')).rejects.toThrow();
      await session.end().catch(() => undefined);
      expect(await canLogin(creds.body.uri)).toBe(false);
      expect(await jitRoles()).not.toContain(`jit_${id}`);
      expect(await unexplainedRoles()).toEqual([]);

      const actions = await system().auditActions(id);
      expect(actions).toEqual(['auto-approved', 'granted', 'credentials-issued', 'revoke-failed', 'revoked']);
      expect((await system().deps.audit.verify(id)).ok).toBe(true);
    },
    60_000,
  );
});

describe('a Lambda killed in the middle of a grant', () => {
  it.each(['create-role', 'full-grant'] as const)(
    'crashes after %s: the request ends FAILED and no user survives the next sweep',
    async (after) => {
      const id = await create('10m');
      faults.push({ kind: 'grant', dbUser: `jit_${id}`, after });
      const failed = await system().waitForStatus(id, 'FAILED', 20_000);
      expect(failed.lastError?.code).toBe('Sandbox.Timedout');
      expect((await system().executionEnd(id)).status).toBe('FAILED');

      await system().sweep({ reconcile: 'now' });
      expect(await jitRoles()).not.toContain(`jit_${id}`);
      expect(await unexplainedRoles()).toEqual([]);
      expect(await system().auditActions(id)).toEqual(['auto-approved', 'grant-failed']);
      expect((await system().deps.audit.verify(id)).ok).toBe(true);
    },
    60_000,
  );

  it('drops a user whose grant crashed before anything was recorded, at the next reconciling sweep', async () => {
    // The crash happened before DynamoDB knew of any request: only the reconciler can find this user.
    const orphan = `jit_${system().deps.ids.requestId()}`;
    await admin(`CREATE ROLE ${pg.escapeIdentifier(orphan)} LOGIN PASSWORD 'left-by-a-crash'`);
    const report = await system().sweep({ reconcile: 'now' });
    expect(report.orphansDropped).toBe(1);
    expect(await jitRoles()).not.toContain(orphan);
    expect(await unexplainedRoles()).toEqual([]);
  });
});
