import { beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../functions/application/ports.js';
import { executionArnFor } from '../../functions/application/workflow-io.js';
import type { RequestStatus } from '../../functions/domain/types.js';
import { ALICE, CAROL, overrideProvisioners, useDedicatedAppSystem } from '../support/app-suite.js';
import { AUTO_READ } from '../support/policies.js';
import { canLogin, connect, fileRequest, sleep } from '../support/system.js';

/**
 * An operator stops the execution by hand (StopExecution) while it sits in each state. Invariant: the
 * status-change path (EventBridge rule → execution-status-change) brings the request to a state the
 * lifecycle allows, and after the next reconciling sweep no login, session or `jit_` user outlives it —
 * including when a Grant or Revoke Lambda was still running as the execution was stopped.
 * Grant and Revoke are slowed by 1.5 s so there is time to stop them mid-flight. Dedicated PostgreSQL.
 */

const SLOW_MS = 1500;
const slow = { grant: new Set<string>(), revoke: new Set<string>() };
const { server, system } = useDedicatedAppSystem({
  auto: AUTO_READ,
  review: { maxDuration: '1h', approvers: [CAROL] },
});

beforeAll(() =>
  overrideProvisioners(system(), (provisioner) => ({
    grant: async (spec) => {
      if (slow.grant.delete(spec.dbUser)) await sleep(SLOW_MS);
      return provisioner.grant(spec);
    },
    revoke: async (spec) => {
      if (slow.revoke.delete(spec.dbUser)) await sleep(SLOW_MS);
      return provisioner.revoke(spec);
    },
  })),
);

async function roleExists(role: string): Promise<boolean> {
  const { client } = await connect(server().url);
  try {
    return ((await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

async function create(level: 'auto' | 'review', duration: string): Promise<string> {
  const { id } = await fileRequest(system(), ALICE, {
    target: 'app',
    level,
    duration,
    reason: 'faults: stopped by hand',
  });
  return id;
}

async function waitForState(id: string, state: string): Promise<void> {
  const arn = executionArnFor(system().workflow.stateMachineArn, id);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const entered = system()
      .workflow.history(arn)
      .filter((e) => e.type === 'StateEntered');
    if (entered.at(-1)?.state === state) return;
    await sleep(20);
  }
  throw new Error(`execution ${id} never sat in ${state}`);
}

async function settle(id: string, allowed: readonly RequestStatus[]): Promise<RequestStatus> {
  const deadline = Date.now() + 15_000;
  let status: RequestStatus = (await system().request(id)).status;
  while (Date.now() < deadline && !allowed.includes(status)) {
    await sleep(100);
    status = (await system().request(id)).status;
  }
  return status;
}

describe('an execution stopped by hand', () => {
  it('while waiting for approval: the request EXPIRES and nothing is granted', async () => {
    const id = await create('review', '10m');
    await waitForState(id, 'RequestApproval');
    // Stopped once the approval email is out (entering the state is not enough: stopping before the mail
    // is sent leaves no link to test).
    const link = await system().approvalLink(id, CAROL);
    await system().workflow.stop(id, 'stopped by an operator');
    expect(await settle(id, ['EXPIRED'])).toBe('EXPIRED');
    await system().sweep({ reconcile: 'now' });
    expect(await roleExists(`jit_${id}`)).toBe(false);
    // The emailed link no longer decides anything.
    expect((await system().openLink(link)).status).toBe(410);
  });

  it('while a Grant Lambda is still running: the request ends FAILED or REVOKED, and no user survives the next sweep', async () => {
    const id = await create('auto', '10m');
    slow.grant.add(`jit_${id}`);
    await waitForState(id, 'Grant');
    await system().workflow.stop(id, 'stopped by an operator');
    await sleep(SLOW_MS + 1500); // the in-flight grant lands after the status change handled the stop
    // The grant that lost the race to the stop drops what it made: no reconciler needed.
    expect(await roleExists(`jit_${id}`)).toBe(false);
    await system().sweep({ reconcile: 'now' });
    const status = await settle(id, ['FAILED', 'REVOKED']);
    console.log(
      `faults: stopped during Grant → ${status}, user left after sweep: ${await roleExists(`jit_${id}`)}`,
    );
    expect(['FAILED', 'REVOKED']).toContain(status);
    expect(await roleExists(`jit_${id}`)).toBe(false);
  }, 30_000);

  it('while waiting for expiry: the grant is revoked at once, its session ended', async () => {
    const id = await create('auto', '10m');
    await system().waitForStatus(id, 'ACTIVE');
    const creds = await system().call<Credentials>('GET', `/requests/${id}/credentials`, ALICE);
    const { client: session } = await connect(creds.body.uri);
    await waitForState(id, 'WaitUntilExpiry');
    await system().workflow.stop(id, 'stopped by an operator');
    expect(await settle(id, ['REVOKED'])).toBe('REVOKED');
    const revoked = await system().request(id);
    expect(revoked.revokeReason).toBe('execution-ended');
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => undefined);
    expect(await canLogin(creds.body.uri)).toBe(false);
    expect(await roleExists(`jit_${id}`)).toBe(false);
  });

  it('while a Revoke Lambda is still running: REVOKED once, and the user is gone', async () => {
    const id = await create('auto', '2s');
    await system().waitForStatus(id, 'ACTIVE');
    slow.revoke.add(`jit_${id}`);
    await waitForState(id, 'Revoke');
    await system().workflow.stop(id, 'stopped by an operator');
    await sleep(SLOW_MS + 1000);
    await system().sweep({ reconcile: 'now' });
    expect(await settle(id, ['REVOKED'])).toBe('REVOKED');
    expect(await roleExists(`jit_${id}`)).toBe(false);
    const actions = await system().auditActions(id);
    expect(actions.filter((a) => a === 'revoked')).toHaveLength(1);
    expect((await system().deps.audit.verify(id)).ok).toBe(true);
  }, 30_000);
});
