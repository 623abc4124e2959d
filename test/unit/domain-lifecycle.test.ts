import { describe, expect, it } from 'vitest';
import { DomainError, type ErrorCode, ForbiddenError } from '../../functions/domain/errors.js';
import { evaluateExtension } from '../../functions/domain/evaluate.js';
import {
  applyEvent,
  canApply,
  LIFECYCLE_EVENT_TYPES,
  type LifecycleEvent,
  type LifecycleEventType,
  TRANSITIONS,
} from '../../functions/domain/lifecycle.js';
import { refusalAudit, sortAtFor } from '../../functions/domain/lifecycle-records.js';
import {
  type AccessRequest,
  type ApprovalLink,
  REQUEST_STATUSES,
  type RequestStatus,
} from '../../functions/domain/types.js';
import {
  alice,
  at,
  bob,
  carol,
  dave,
  freshRequest,
  levelOf,
  NOW,
  REQUEST_ID,
  requester,
} from './support/domain-fixtures.js';

const read = levelOf('read');
const write = levelOf('write');
const ctx = (offsetSeconds = 0) => ({ level: write, now: at(offsetSeconds) });

const GRANT = {
  engine: 'postgres',
  kind: 'password',
  host: '127.0.0.1',
  port: 5432,
  database: 'orders',
} as const;

function pendingWrite(): AccessRequest {
  return freshRequest({ level: 'write', ticket: 'INC-1', duration: 3600 });
}

function inStatus(status: RequestStatus): AccessRequest {
  const base = pendingWrite();
  if (status === 'PENDING') return base;
  return {
    ...base,
    status,
    grant: { ...GRANT, dbUser: base.dbUser, grantedAt: NOW.toISOString(), expiresAt: at(3600).toISOString() },
    expiresAt: at(3600).toISOString(),
    extension: {
      id: `${REQUEST_ID}-x1`,
      durationSeconds: 600,
      reason: 'more',
      requestedBy: requester.principal,
      requestedAt: NOW.toISOString(),
      approvalsRequired: 2,
      approvals: [],
      newExpiresAt: at(4200).toISOString(),
    },
  };
}

/** A request in `status` meeting the event's precondition (no pending extension before a new one). */
function subjectFor(status: RequestStatus, type: LifecycleEventType): AccessRequest {
  const request = inStatus(status);
  if (type === 'session-used') return { ...request, once: {} };
  if (type === 'execution-started' || type === 'explained') return { ...request, statements: ['SELECT 1'] };
  if (type === 'executed') {
    return { ...request, statements: ['SELECT 1'], executionStartedAt: NOW.toISOString() };
  }
  if (type !== 'extension-requested') return request;
  const { extension: _none, ...rest } = request;
  return rest;
}

function sampleEvent(type: LifecycleEventType): LifecycleEvent {
  switch (type) {
    case 'approve':
    case 'deny':
    case 'extension-approve':
    case 'extension-deny':
      return { type, by: alice };
    case 'cancel':
      return { type, by: requester };
    case 'approval-expired':
    case 'escalated':
      return { type };
    case 'granted':
      return { type, grant: GRANT };
    case 'grant-failed':
    case 'revoke-failed':
      return { type, error: { code: 'TARGET_UNAVAILABLE', message: 'target orders-db is unavailable' } };
    case 'extension-requested': {
      const { extension } = evaluateExtension(
        subjectFor('ACTIVE', type),
        { duration: 600, reason: 'more' },
        write,
        NOW,
      );
      return { type, by: requester, extension, autoApproved: false };
    }
    case 'session-used':
      return { type, openSessions: 1 };
    case 'revoked':
      return { type, reason: 'expired' };
    case 'execution-started':
      return { type };
    case 'executed':
      return { type, statements: [{ command: 'SELECT', rowCount: 1 }] };
    case 'execution-failed':
      return { type, error: { code: 'StatementFailed', message: 'division by zero' } };
    case 'explained':
      return { type, plans: ['Result  (cost=0.00..0.01 rows=1 width=4)'] };
  }
}

/** The diagram in ARCHITECTURE.md (plus the self-loops and cancel-before-grant), restated independently. */
const DIAGRAM = new Set([
  'PENDING --approve--> PENDING|APPROVED',
  'PENDING --deny--> DENIED',
  'PENDING --cancel--> CANCELLED',
  'APPROVED --cancel--> CANCELLED',
  'PENDING --approval-expired--> EXPIRED',
  'PENDING --escalated--> PENDING',
  'APPROVED --granted--> ACTIVE',
  'APPROVED --grant-failed--> FAILED',
  'ACTIVE --extension-requested--> ACTIVE',
  'ACTIVE --extension-approve--> ACTIVE',
  'ACTIVE --extension-deny--> ACTIVE',
  'ACTIVE --session-used--> ACTIVE',
  'ACTIVE --revoked--> REVOKED',
  'REVOKE_FAILED --revoked--> REVOKED',
  'ACTIVE --revoke-failed--> REVOKE_FAILED',
  'REVOKE_FAILED --revoke-failed--> REVOKE_FAILED',
  'APPROVED --execution-started--> APPROVED',
  'APPROVED --executed--> EXECUTED',
  'APPROVED --execution-failed--> FAILED',
  'PENDING --explained--> PENDING',
]);

function errorOf(fn: () => unknown): { code: ErrorCode; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return { code: (error as DomainError).code, message: (error as DomainError).message };
  }
  throw new Error('expected a DomainError');
}

describe('the transition table', () => {
  it('is exactly the diagram', () => {
    const table = new Set<string>();
    for (const event of LIFECYCLE_EVENT_TYPES) {
      for (const [from, to] of Object.entries(TRANSITIONS[event]))
        table.add(`${from} --${event}--> ${to?.join('|')}`);
    }
    expect(table).toEqual(DIAGRAM);
  });

  it('leaves the terminal statuses with no way out', () => {
    for (const status of ['DENIED', 'EXPIRED', 'CANCELLED', 'FAILED', 'REVOKED', 'EXECUTED'] as const) {
      expect(LIFECYCLE_EVENT_TYPES.filter((e) => canApply(status, e))).toEqual([]);
    }
  });

  for (const status of REQUEST_STATUSES) {
    for (const type of LIFECYCLE_EVENT_TYPES) {
      const allowed = TRANSITIONS[type][status];
      if (allowed) {
        it(`${status} takes '${type}' to ${allowed.join(' or ')}`, () => {
          const { next, audit } = applyEvent(subjectFor(status, type), sampleEvent(type), ctx());
          expect(allowed).toContain(next.status);
          expect(audit.fromStatus).toBe(status);
          expect(audit.toStatus).toBe(next.status);
        });
      } else {
        it(`${status} refuses '${type}' with INVALID_TRANSITION`, () => {
          expect(errorOf(() => applyEvent(subjectFor(status, type), sampleEvent(type), ctx()))).toEqual({
            code: 'INVALID_TRANSITION',
            message: `a ${status} request cannot take '${type}'`,
          });
        });
      }
    }
  }
});

describe('approve', () => {
  it('records a partial approval and stays PENDING', () => {
    const { next, audit } = applyEvent(
      pendingWrite(),
      { type: 'approve', by: alice, comment: 'ok' },
      ctx(60),
    );
    expect(next.status).toBe('PENDING');
    expect(next.approvals).toEqual([
      {
        by: 'alice@example.com',
        email: 'alice@example.com',
        at: '2025-03-01T10:01:00.000Z',
        comment: 'ok',
        via: 'local',
      },
    ]);
    expect(next.updatedAt).toBe('2025-03-01T10:01:00.000Z');
    expect(next.version).toBe(0);
    expect(audit).toEqual({
      at: '2025-03-01T10:01:00.000Z',
      actor: 'alice@example.com',
      via: 'local',
      action: 'approval-recorded',
      fromStatus: 'PENDING',
      toStatus: 'PENDING',
      comment: 'ok',
      details: { approvals: 1, approvalsRequired: 2 },
    });
  });

  it('approves when the N-th distinct approver lands', () => {
    const once = applyEvent(pendingWrite(), { type: 'approve', by: alice }, ctx(60)).next;
    const { next, audit } = applyEvent(once, { type: 'approve', by: carol }, ctx(120));
    expect(next.status).toBe('APPROVED');
    expect(next.approvals.map((d) => d.by)).toEqual(['alice@example.com', carol.principal]);
    expect(audit.action).toBe('approved');
    expect(audit.details).toEqual({ approvals: 2, approvalsRequired: 2 });
  });

  it('refuses a second approval from the same approver', () => {
    const once = applyEvent(pendingWrite(), { type: 'approve', by: alice }, ctx(60)).next;
    expect(errorOf(() => applyEvent(once, { type: 'approve', by: alice }, ctx(61)))).toEqual({
      code: 'ALREADY_APPROVED_BY_YOU',
      message: 'you already approved this request',
    });
  });

  it('counts one person approving by IAM and by email link once', () => {
    const level = { ...write, approvers: [...write.approvers, 'carol@example.com'] };
    const carolByIam = applyEvent(
      pendingWrite(),
      { type: 'approve', by: carol },
      { level, now: at(60) },
    ).next;
    const carolByLink = {
      principal: 'carol@example.com',
      email: 'carol@example.com',
      via: 'approval-link' as const,
    };
    expect(
      errorOf(() => applyEvent(carolByIam, { type: 'approve', by: carolByLink }, { level, now: at(61) })),
    ).toEqual({ code: 'ALREADY_APPROVED_BY_YOU', message: 'you already approved this request' });
  });

  it('re-checks authority: refuses self-approval and non-approvers even if the caller skipped authz', () => {
    expect(errorOf(() => applyEvent(pendingWrite(), { type: 'approve', by: requester }, ctx())).code).toBe(
      'SELF_APPROVAL_FORBIDDEN',
    );
    expect(errorOf(() => applyEvent(pendingWrite(), { type: 'approve', by: dave }, ctx())).code).toBe(
      'NOT_AN_APPROVER',
    );
    expect(errorOf(() => applyEvent(pendingWrite(), { type: 'deny', by: dave }, ctx())).code).toBe(
      'NOT_AN_APPROVER',
    );
    expect(errorOf(() => applyEvent(pendingWrite(), { type: 'cancel', by: alice }, ctx())).code).toBe(
      'NOT_REQUESTER',
    );
    expect(
      errorOf(() => applyEvent(inStatus('ACTIVE'), { type: 'revoked', reason: 'early', by: dave }, ctx()))
        .code,
    ).toBe('NOT_ALLOWED');
    expect(
      errorOf(() => applyEvent(inStatus('ACTIVE'), { type: 'extension-approve', by: requester }, ctx())).code,
    ).toBe('SELF_APPROVAL_FORBIDDEN');
  });

  it('reads the level only for decisions and escalation: without one, those refuse and the rest apply', () => {
    const now = at(60);
    expect(errorOf(() => applyEvent(pendingWrite(), { type: 'approve', by: alice }, { now })).code).toBe(
      'UNKNOWN_LEVEL',
    );
    expect(errorOf(() => applyEvent(pendingWrite(), { type: 'escalated' }, { now })).code).toBe(
      'UNKNOWN_LEVEL',
    );
    expect(applyEvent(pendingWrite(), { type: 'approval-expired' }, { now }).next.status).toBe('EXPIRED');
    expect(applyEvent(pendingWrite(), { type: 'cancel', by: requester }, { now }).next.status).toBe(
      'CANCELLED',
    );
    const active = inStatus('ACTIVE');
    expect(applyEvent(active, { type: 'revoked', reason: 'early', by: requester }, { now }).next.status).toBe(
      'REVOKED',
    );
    expect(
      errorOf(() => applyEvent(active, { type: 'revoked', reason: 'early', by: alice }, { now })).code,
    ).toBe('NOT_ALLOWED');
  });

  it('retires unused approval links once approved, leaving used ones alone', () => {
    const links: ApprovalLink[] = [
      {
        approver: 'alice@example.com',
        tokenHash: 'a',
        purpose: 'request',
        expiresAt: at(3600).toISOString(),
      },
      {
        approver: 'bob@example.com',
        tokenHash: 'b',
        purpose: 'request',
        expiresAt: at(3600).toISOString(),
        usedAt: at(30).toISOString(),
      },
    ];
    const request = { ...freshRequest({ duration: 3600 }), approvalLinks: links };
    const { next } = applyEvent(request, { type: 'approve', by: bob }, { level: read, now: at(30) });
    expect(next.status).toBe('APPROVED');
    expect(next.approvalLinks).toEqual([{ ...links[0], retiredAt: '2025-03-01T10:00:30.000Z' }, links[1]]);
  });
});

describe('deny, cancel, expiry, escalation', () => {
  it('denies on any approver’s deny, even after a partial approval', () => {
    const once = applyEvent(pendingWrite(), { type: 'approve', by: alice }, ctx(60)).next;
    const { next, audit } = applyEvent(once, { type: 'deny', by: bob, comment: 'not now' }, ctx(90));
    expect(next.status).toBe('DENIED');
    expect(next.denial).toEqual({
      by: 'bob@example.com',
      email: 'bob@example.com',
      at: '2025-03-01T10:01:30.000Z',
      comment: 'not now',
      via: 'approval-link',
    });
    expect(audit).toMatchObject({ action: 'denied', actor: 'bob@example.com', comment: 'not now' });
  });

  it('refuses a deny after the request was approved (approve and deny raced)', () => {
    const approved = applyEvent(
      freshRequest({ duration: 3600 }),
      { type: 'approve', by: alice },
      { level: read, now: NOW },
    ).next;
    expect(
      errorOf(() => applyEvent(approved, { type: 'deny', by: bob }, { level: read, now: NOW })).code,
    ).toBe('INVALID_TRANSITION');
  });

  it('cancels a PENDING request and an APPROVED one not yet granted', () => {
    for (const status of ['PENDING', 'APPROVED'] as const) {
      const { next, audit } = applyEvent(
        { ...pendingWrite(), status },
        { type: 'cancel', by: requester },
        ctx(10),
      );
      expect(next.status).toBe('CANCELLED');
      expect(next.cancellation).toEqual({
        by: requester.principal,
        email: 'erin@example.com',
        at: '2025-03-01T10:00:10.000Z',
        via: 'iam',
      });
      expect(audit).toMatchObject({ action: 'cancelled', fromStatus: status, toStatus: 'CANCELLED' });
    }
  });

  it('expires a PENDING request as the system', () => {
    const { next, audit } = applyEvent(pendingWrite(), { type: 'approval-expired' }, ctx(3600));
    expect(next.status).toBe('EXPIRED');
    expect(audit).toEqual({
      at: '2025-03-01T11:00:00.000Z',
      actor: 'system',
      via: 'system',
      action: 'approval-expired',
      fromStatus: 'PENDING',
      toStatus: 'EXPIRED',
      details: { approvals: 0, approvalsRequired: 2 },
    });
  });

  it('marks escalation and names who joined', () => {
    const { next, audit } = applyEvent(pendingWrite(), { type: 'escalated' }, ctx(1800));
    expect(next.status).toBe('PENDING');
    expect(next.escalated).toBe(true);
    expect(audit).toMatchObject({ action: 'escalated', details: { approvers: 'dba-oncall@example.com' } });
  });
});

describe('grant', () => {
  it('starts the window at grant: expiresAt = grantedAt + duration', () => {
    const approved = { ...pendingWrite(), status: 'APPROVED' as const };
    const { next, audit } = applyEvent(approved, { type: 'granted', grant: GRANT }, ctx(300));
    expect(next.status).toBe('ACTIVE');
    expect(next.grant).toEqual({
      ...GRANT,
      dbUser: `jit_${REQUEST_ID}`,
      grantedAt: '2025-03-01T10:05:00.000Z',
      expiresAt: '2025-03-01T11:05:00.000Z',
    });
    expect(next.expiresAt).toBe('2025-03-01T11:05:00.000Z');
    expect(audit).toEqual({
      at: '2025-03-01T10:05:00.000Z',
      actor: 'system',
      via: 'system',
      action: 'granted',
      fromStatus: 'APPROVED',
      toStatus: 'ACTIVE',
      details: {
        dbUser: `jit_${REQUEST_ID}`,
        engine: 'postgres',
        kind: 'password',
        expiresAt: '2025-03-01T11:05:00.000Z',
      },
    });
  });

  it('rounds expiresAt up to whole seconds, which a Wait state keeps exactly', () => {
    const approved = { ...pendingWrite(), status: 'APPROVED' as const };
    const { next } = applyEvent(
      approved,
      { type: 'granted', grant: GRANT },
      { level: write, now: new Date('2025-03-01T10:05:00.250Z') },
    );
    expect(next.grant?.grantedAt).toBe('2025-03-01T10:05:00.250Z');
    expect(next.expiresAt).toBe('2025-03-01T11:05:01.000Z');
    expect(next.grant?.expiresAt).toBe(next.expiresAt);
  });

  it('records a failed grant as FAILED with the error', () => {
    const approved = { ...pendingWrite(), status: 'APPROVED' as const };
    const error = { code: 'TARGET_UNAVAILABLE', message: 'target orders-db is unavailable' };
    const { next, audit } = applyEvent(approved, { type: 'grant-failed', error }, ctx(300));
    expect(next.status).toBe('FAILED');
    expect(next.lastError).toEqual({ ...error, at: '2025-03-01T10:05:00.000Z' });
    expect(audit.details).toEqual(error);
  });
});

describe('extensions', () => {
  const active = (): AccessRequest => {
    const { extension: _none, ...rest } = inStatus('ACTIVE');
    return rest;
  };

  it('applies an auto-approved extension at once', () => {
    const evaluation = evaluateExtension(active(), { duration: 600, reason: 'more' }, write, at(60));
    const { next, audit } = applyEvent(
      active(),
      { type: 'extension-requested', by: requester, extension: evaluation.extension, autoApproved: true },
      ctx(60),
    );
    expect(next.extension).toBeUndefined();
    expect(next.expiresAt).toBe('2025-03-01T11:10:00.000Z');
    expect(next.grant?.expiresAt).toBe('2025-03-01T11:10:00.000Z');
    expect(next.extensions).toEqual([
      {
        durationSeconds: 600,
        approvedAt: '2025-03-01T10:01:00.000Z',
        newExpiresAt: '2025-03-01T11:10:00.000Z',
        by: 'system',
      },
    ]);
    expect(audit).toEqual({
      at: '2025-03-01T10:01:00.000Z',
      actor: requester.principal,
      via: 'iam',
      action: 'extension-approved',
      fromStatus: 'ACTIVE',
      toStatus: 'ACTIVE',
      comment: 'more',
      details: {
        extensionId: `${REQUEST_ID}-x1`,
        durationSeconds: 600,
        expiresAt: '2025-03-01T11:10:00.000Z',
        autoApproved: true,
      },
    });
  });

  it('waits for approvers, then moves expiresAt when enough approve', () => {
    const evaluation = evaluateExtension(active(), { duration: 600, reason: 'more' }, write, at(60));
    const requested = applyEvent(
      active(),
      { type: 'extension-requested', by: requester, extension: evaluation.extension, autoApproved: false },
      ctx(60),
    );
    expect(requested.audit.action).toBe('extension-requested');
    expect(requested.next.extension?.approvalsRequired).toBe(2);
    expect(requested.next.expiresAt).toBe('2025-03-01T11:00:00.000Z');

    const once = applyEvent(requested.next, { type: 'extension-approve', by: alice }, ctx(70));
    expect(once.audit.action).toBe('approval-recorded');
    expect(once.next.extension?.approvals.map((d) => d.by)).toEqual(['alice@example.com']);
    expect(once.next.expiresAt).toBe('2025-03-01T11:00:00.000Z');
    expect(errorOf(() => applyEvent(once.next, { type: 'extension-approve', by: alice }, ctx(71)))).toEqual({
      code: 'ALREADY_APPROVED_BY_YOU',
      message: 'you already approved this extension',
    });

    const twice = applyEvent(once.next, { type: 'extension-approve', by: bob }, ctx(80));
    expect(twice.audit.action).toBe('extension-approved');
    expect(twice.next.extension).toBeUndefined();
    expect(twice.next.expiresAt).toBe('2025-03-01T11:10:00.000Z');
    expect(twice.next.grant?.expiresAt).toBe('2025-03-01T11:10:00.000Z');
    expect(twice.next.extensions).toEqual([
      {
        durationSeconds: 600,
        approvedAt: '2025-03-01T10:01:20.000Z',
        newExpiresAt: '2025-03-01T11:10:00.000Z',
        by: 'bob@example.com',
      },
    ]);
  });

  it('drops a denied extension and keeps expiresAt', () => {
    const { next, audit } = applyEvent(
      inStatus('ACTIVE'),
      { type: 'extension-deny', by: bob, comment: 'no' },
      ctx(60),
    );
    expect(next.extension).toBeUndefined();
    expect(next.expiresAt).toBe('2025-03-01T11:00:00.000Z');
    expect(audit).toMatchObject({
      action: 'extension-denied',
      comment: 'no',
      details: { extensionId: `${REQUEST_ID}-x1` },
    });
  });

  it('refuses a second extension request while one is pending', () => {
    const event = sampleEvent('extension-requested');
    expect(errorOf(() => applyEvent(inStatus('ACTIVE'), event, ctx(60))).code).toBe('EXTENSION_PENDING');
  });

  it('refuses to approve or deny an extension when none is pending', () => {
    expect(errorOf(() => applyEvent(active(), { type: 'extension-approve', by: alice }, ctx())).code).toBe(
      'INVALID_TRANSITION',
    );
    expect(errorOf(() => applyEvent(active(), { type: 'extension-deny', by: alice }, ctx())).code).toBe(
      'INVALID_TRANSITION',
    );
  });
});

describe('revoke', () => {
  it('revokes an ACTIVE grant and drops a pending extension', () => {
    const { next, audit } = applyEvent(
      inStatus('ACTIVE'),
      { type: 'revoked', reason: 'early', by: requester, sessionsTerminated: 2 },
      ctx(600),
    );
    expect(next.status).toBe('REVOKED');
    expect(next.revokedAt).toBe('2025-03-01T10:10:00.000Z');
    expect(next.revokeReason).toBe('early');
    expect(next.extension).toBeUndefined();
    expect(audit).toEqual({
      at: '2025-03-01T10:10:00.000Z',
      actor: requester.principal,
      via: 'iam',
      action: 'revoked',
      fromStatus: 'ACTIVE',
      toStatus: 'REVOKED',
      details: { reason: 'early', attempts: 1, sessionsTerminated: 2 },
    });
  });

  it('counts failed attempts and keeps the last error', () => {
    const error = { code: 'TARGET_UNAVAILABLE', message: 'target orders-db is unavailable' };
    const first = applyEvent(inStatus('ACTIVE'), { type: 'revoke-failed', error }, ctx(3600));
    const second = applyEvent(first.next, { type: 'revoke-failed', error }, ctx(3660));
    expect(second.next.status).toBe('REVOKE_FAILED');
    expect(second.next.revokeAttempts).toBe(2);
    expect(second.next.lastError).toEqual({ ...error, at: '2025-03-01T11:01:00.000Z' });
    expect(second.audit).toMatchObject({
      action: 'revoke-failed',
      actor: 'system',
      details: { code: 'TARGET_UNAVAILABLE', message: 'target orders-db is unavailable', attempts: 2 },
    });
  });

  it('lets a later sweep revoke a REVOKE_FAILED grant', () => {
    const failed = { ...inStatus('REVOKE_FAILED'), revokeAttempts: 3 };
    const { next, audit } = applyEvent(failed, { type: 'revoked', reason: 'sweeper' }, ctx(3700));
    expect(next.status).toBe('REVOKED');
    expect(audit).toMatchObject({ actor: 'system', details: { reason: 'sweeper', attempts: 4 } });
  });
});

describe('refusalAudit', () => {
  it('records the refused attempt with its code and no state change', () => {
    const error = new ForbiddenError('SELF_APPROVAL_FORBIDDEN', 'you cannot approve your own request');
    expect(refusalAudit(pendingWrite(), requester, error, at(5))).toEqual({
      at: '2025-03-01T10:00:05.000Z',
      actor: requester.principal,
      via: 'iam',
      action: 'refused',
      fromStatus: 'PENDING',
      toStatus: 'PENDING',
      comment: 'you cannot approve your own request',
      details: { code: 'SELF_APPROVAL_FORBIDDEN' },
    });
  });
});

describe('sortAtFor', () => {
  it('uses approvalDeadline while PENDING', () => {
    expect(sortAtFor(pendingWrite())).toBe('2025-03-01T11:00:00.000Z');
  });

  it('uses expiresAt while ACTIVE or REVOKE_FAILED', () => {
    const active = { ...inStatus('ACTIVE'), expiresAt: '2025-03-01T12:34:00.000Z', updatedAt: 'u' };
    expect(sortAtFor(active)).toBe('2025-03-01T12:34:00.000Z');
    expect(sortAtFor({ ...active, status: 'REVOKE_FAILED' })).toBe('2025-03-01T12:34:00.000Z');
  });

  it('uses updatedAt otherwise', () => {
    for (const status of ['APPROVED', 'DENIED', 'EXPIRED', 'CANCELLED', 'FAILED', 'REVOKED'] as const) {
      expect(sortAtFor({ ...inStatus(status), updatedAt: '2025-03-02T00:00:00.000Z' })).toBe(
        '2025-03-02T00:00:00.000Z',
      );
    }
  });
});

describe('use-once grants', () => {
  const once = (usedAt?: string): AccessRequest => ({
    ...inStatus('ACTIVE'),
    once: usedAt === undefined ? {} : { usedAt },
  });

  it('records the session once, with a session-used event, and refuses to record it twice', () => {
    const { next, audit } = applyEvent(once(), { type: 'session-used', openSessions: 1 }, ctx());
    expect(next.once).toEqual({ usedAt: NOW.toISOString() });
    expect(next.status).toBe('ACTIVE');
    expect(audit).toMatchObject({ action: 'session-used', details: { openSessions: 1 } });
    expect(errorOf(() => applyEvent(next, { type: 'session-used', openSessions: 0 }, ctx())).code).toBe(
      'INVALID_TRANSITION',
    );
  });

  it('refuses session-used on a grant that is not use-once', () => {
    expect(
      errorOf(() => applyEvent(inStatus('ACTIVE'), { type: 'session-used', openSessions: 1 }, ctx())).code,
    ).toBe('INVALID_TRANSITION');
  });

  it('revokes for used-once, keeping when the session was seen (or now, if no sweep saw it open)', () => {
    const seen = applyEvent(
      once('2026-01-01T00:00:00.000Z'),
      { type: 'revoked', reason: 'used-once' },
      ctx(),
    );
    expect(seen.next).toMatchObject({ status: 'REVOKED', revokeReason: 'used-once' });
    expect(seen.next.once).toEqual({ usedAt: '2026-01-01T00:00:00.000Z' });
    expect(seen.audit.details).toMatchObject({ reason: 'used-once' });
    const unseen = applyEvent(once(), { type: 'revoked', reason: 'used-once' }, ctx());
    expect(unseen.next.once).toEqual({ usedAt: NOW.toISOString() });
  });
});
