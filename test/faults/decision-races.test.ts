import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../functions/domain/types.js';
import { ALICE, BOB, CAROL, useAppSystem } from '../support/app-suite.js';
import { services } from '../support/services.js';
import { connect, fileRequest, sleep } from '../support/system.js';

/**
 * Decisions racing each other over real HTTP, DynamoDB Local and the real workflow. Invariants: a request
 * is decided exactly once (one winner, every loser refused with a 4xx, one decision in the audit log, one
 * task-token completion), and it ends in a state the lifecycle allows; no grant is left behind.
 */

const database = `races_${randomBytes(4).toString('hex')}`;
const created: string[] = [];
const system = useAppSystem(
  () => ({ database, levels: { review: { maxDuration: '1h', approvers: [BOB, CAROL] } } }),
  120_000,
);

// Registered after useAppSystem, so it runs before the system stops (vitest runs after-hooks in reverse).
afterAll(async () => {
  // Every grant the races made ends (2 s grants), then nothing of ours may be left on the shared server.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const live = await Promise.all(created.map((id) => system().request(id)));
    if (live.every((r) => !['APPROVED', 'ACTIVE', 'REVOKE_FAILED'].includes(r.status))) break;
    await system().sweep();
    await sleep(500);
  }
  const { client } = await connect(services().pgAdminUrl);
  try {
    const left = await client.query<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE rolname = ANY($1)',
      [created.map((id) => `jit_${id}`)],
    );
    expect(left.rows).toEqual([]);
  } finally {
    await client.end();
  }
}, 60_000);

async function create(duration = '2s'): Promise<string> {
  const { id } = await fileRequest(system(), ALICE, {
    target: 'app',
    level: 'review',
    duration,
    reason: 'faults: decision races',
  });
  created.push(id);
  return id;
}

/** The request's decisions as the audit log tells them. */
async function decisions(id: string): Promise<string[]> {
  return (await system().auditActions(id)).filter((a) => a === 'approved' || a === 'denied');
}

const DECIDED_OR_LATER: readonly AccessRequest['status'][] = [
  'DENIED',
  'APPROVED',
  'ACTIVE',
  'REVOKED',
  'FAILED',
];

describe('decisions racing each other', () => {
  it('decides exactly once when one approval link is POSTed 50 times at once, approve and deny mixed', async () => {
    const id = await create();
    const link = await system().approvalLink(id, CAROL);
    const page = await system().openLink(link);
    const csrf = page.csrf ?? '';
    expect(csrf).not.toBe('');

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => system().postLink(link, i % 2 === 0 ? 'approve' : 'deny', csrf)),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 410)).toHaveLength(49);
    expect(await decisions(id)).toHaveLength(1);
    const request = await system().request(id);
    expect(DECIDED_OR_LATER).toContain(request.status);
    expect(request.approvals.length + (request.denial ? 1 : 0)).toBe(1);
    expect((await system().deps.audit.verify(id)).ok).toBe(true);
    console.log('faults: 50 concurrent POSTs of one approval link → 1 decision');
  }, 60_000);

  it('lets exactly one of approve and deny win, 100 times over', async () => {
    const rounds = 100;
    const outcomes = { approved: 0, denied: 0 };
    const problems: string[] = [];
    const race = async () => {
      const id = await create();
      // Who goes first alternates, so neither side always has the head start.
      const [approve, deny] = await Promise.all([
        system().call<{ status?: string; error?: { code: string } }>(
          'POST',
          `/requests/${id}/approve`,
          CAROL,
          {},
        ),
        system().call<{ status?: string; error?: { code: string } }>('POST', `/requests/${id}/deny`, BOB, {}),
      ]);
      const winners = [approve, deny].filter((a) => a.status === 200);
      const losers = [approve, deny].filter((a) => a.status !== 200);
      const decided = await decisions(id);
      const request = await system().request(id);
      if (winners.length !== 1) problems.push(`${id}: ${approve.status}/${deny.status}`);
      for (const loser of losers) {
        if (
          loser.status !== 409 ||
          !['INVALID_TRANSITION', 'CONFLICT'].includes(loser.body.error?.code ?? '')
        )
          problems.push(`${id}: loser answered ${loser.status} ${loser.body.error?.code}`);
      }
      if (decided.length !== 1) problems.push(`${id}: audit has ${decided.join(',') || 'no decision'}`);
      const won = approve.status === 200 ? 'approved' : 'denied';
      if (decided[0] !== won) problems.push(`${id}: ${won} answered 200 but the audit says ${decided[0]}`);
      if (won === 'denied' && request.status !== 'DENIED')
        problems.push(`${id}: denied but ${request.status}`);
      if (won === 'approved' && !DECIDED_OR_LATER.includes(request.status))
        problems.push(`${id}: approved but ${request.status}`);
      outcomes[won]++;
    };
    for (let i = 0; i < rounds; i += 4)
      await Promise.all(Array.from({ length: Math.min(4, rounds - i) }, race));
    console.log(
      `faults: ${rounds} approve/deny races → ${outcomes.approved} approved, ${outcomes.denied} denied, ${problems.length} problems`,
    );
    expect(problems).toEqual([]);
    expect(outcomes.approved + outcomes.denied).toBe(rounds);
  }, 150_000);
});
