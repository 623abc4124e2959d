import { describe, expect, it } from 'vitest';
import { ConflictError, isDomainError } from '../../functions/domain/errors.js';
import { applyEvent, type LifecycleEvent } from '../../functions/domain/lifecycle.js';
import { AccessLevel } from '../../functions/domain/policy-schema.js';
import type { AccessRequest, Identity } from '../../functions/domain/types.js';
import { pendingRequest, requestedDraft } from '../support/dynamodb-local.js';
import { useDynamoTestTables } from '../support/dynamodb-suite.js';
import { onSchema } from '../unit/support/policy-samples.js';

const t = useDynamoTestTables('races');

const approvers: Identity[] = Array.from({ length: 50 }, (_, i) => ({
  principal: `approver-${i}@example.com`,
  email: `approver-${i}@example.com`,
  via: 'approval-link',
}));

const level = AccessLevel.parse({
  privileges: onSchema('public', 'SELECT'),
  maxDuration: '1h',
  approvers: approvers.map((a) => a.principal),
});

const NOW = new Date('2026-11-23T10:10:00.000Z');

type Outcome = {
  result: 'won' | 'lost-race' | 'too-late';
  status?: AccessRequest['status'];
  conflicts: number;
};

/** One attempt: read, apply the event in the domain, write conditionally. No retry. */
async function attemptOnce(id: string, event: LifecycleEvent): Promise<AccessRequest> {
  const current = await t.requests.get(id);
  if (!current) throw new Error(`request ${id} vanished`);
  const { next, audit } = applyEvent(current, event, { level, now: NOW });
  return t.requests.transition(current, next, audit);
}

/** What a handler does: apply, and on ConflictError re-read and try again until the domain says no. */
async function applyWithRetry(id: string, event: LifecycleEvent): Promise<Outcome> {
  let conflicts = 0;
  for (;;) {
    try {
      const stored = await attemptOnce(id, event);
      return { result: 'won', status: stored.status, conflicts };
    } catch (error) {
      if (error instanceof ConflictError) {
        conflicts += 1;
        continue;
      }
      if (isDomainError(error) && error.code === 'INVALID_TRANSITION')
        return { result: 'too-late', conflicts };
      throw error;
    }
  }
}

async function createPending(approvalsRequired: number): Promise<AccessRequest> {
  const { request } = await t.requests.create(pendingRequest({ approvalsRequired }), requestedDraft());
  return request;
}

describe('concurrent approvals on one request', () => {
  it.each([3, 50])(
    'counts exactly %i approvals of 50 concurrent approvers and approves exactly once',
    async (n) => {
      const request = await createPending(n);

      const outcomes = await Promise.all(
        approvers.map((by) => applyWithRetry(request.id, { type: 'approve', by })),
      );

      const final = await t.requests.get(request.id);
      const events = await t.audit.list(request.id);
      const approving = outcomes.filter((o) => o.result === 'won' && o.status === 'APPROVED');
      const recorded = outcomes.filter((o) => o.result === 'won' && o.status === 'PENDING');
      expect(approving).toHaveLength(1);
      expect(recorded).toHaveLength(n - 1);
      expect(outcomes.filter((o) => o.result === 'too-late')).toHaveLength(50 - n);
      expect(outcomes.reduce((sum, o) => sum + o.conflicts, 0)).toBeGreaterThan(0);
      expect(final?.status).toBe('APPROVED');
      expect(final?.approvals).toHaveLength(n);
      expect(new Set(final?.approvals.map((d) => d.by)).size).toBe(n);
      expect(final?.version).toBe(1 + n);
      expect(final?.auditSeq).toBe(1 + n);
      expect(events.map((e) => e.action)).toEqual([
        'requested',
        ...Array.from({ length: n - 1 }, () => 'approval-recorded'),
        'approved',
      ]);
      expect(events.map((e) => e.details?.approvals)).toEqual([
        undefined,
        ...Array.from({ length: n }, (_, i) => i + 1),
      ]);
      expect(await t.audit.verify(request.id)).toEqual({ ok: true, events: 1 + n });
    },
  );
});

describe('approve racing deny', () => {
  it('lets exactly one of approve and deny win, 20 times over', async () => {
    const approver = approvers[0] as Identity;
    const denier = approvers[1] as Identity;
    const winners: string[] = [];
    for (let round = 0; round < 20; round++) {
      const request = await createPending(1);

      // One attempt each: the loser's write must fail, never land on top of the winner's.
      const [approve, deny] = await Promise.allSettled([
        attemptOnce(request.id, { type: 'approve', by: approver }),
        attemptOnce(request.id, { type: 'deny', by: denier }),
      ]);

      const won = [approve, deny].filter((r) => r.status === 'fulfilled');
      const lost = [approve, deny].filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const loserCode = (lost[0] as PromiseRejectedResult).reason.code;
      expect(['CONFLICT', 'INVALID_TRANSITION']).toContain(loserCode);

      const final = await t.requests.get(request.id);
      const expected = approve.status === 'fulfilled' ? 'APPROVED' : 'DENIED';
      winners.push(expected);
      expect(final?.status).toBe(expected);
      expect(final?.version).toBe(2);
      expect((await t.audit.list(request.id)).map((e) => e.action)).toEqual([
        'requested',
        expected === 'APPROVED' ? 'approved' : 'denied',
      ]);

      // The loser re-reads and retries: the domain now refuses it, so nothing more is written.
      const loserEvent: LifecycleEvent =
        expected === 'APPROVED' ? { type: 'deny', by: denier } : { type: 'approve', by: approver };
      expect(await applyWithRetry(request.id, loserEvent)).toEqual({ result: 'too-late', conflicts: 0 });
      expect(await t.audit.verify(request.id)).toEqual({ ok: true, events: 2 });
    }
    expect(winners).toHaveLength(20);
  });
});
