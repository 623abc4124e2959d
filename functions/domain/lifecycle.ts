import {
  assertMayApprove,
  assertMayCancel,
  assertMayDeny,
  assertMayReview,
  assertMayRevoke,
  sameDecider,
} from './authz.js';
import { ForbiddenError, InvalidTransitionError, PolicyRefusedError } from './errors.js';
import {
  applyExtension,
  auditDraft,
  decisionOf,
  distinctCount,
  grantExpiry,
  retire,
} from './lifecycle-records.js';
import type { AccessLevel, Policy } from './policy-schema.js';
import {
  type AccessRequest,
  type AuditAction,
  type AuditDraft,
  type GrantRecord,
  type Identity,
  type PendingExtension,
  type RequestStatus,
  type RevokeReason,
  SYSTEM,
} from './types.js';

/**
 * The request lifecycle as a pure function of (request, event, level, clock). Storage applies the result
 * with a conditional write on `version`, so of two racing events only one can win; the loser re-reads and
 * gets INVALID_TRANSITION here. Decisions are re-checked against authz.ts too, so no caller can skip the
 * self-approval or approver checks by forgetting to call them.
 */

export type LifecycleEvent =
  | { type: 'approve'; by: Identity; comment?: string }
  | { type: 'deny'; by: Identity; comment?: string }
  | { type: 'cancel'; by: Identity; comment?: string }
  | { type: 'approval-expired' }
  | { type: 'escalated' }
  | { type: 'granted'; grant: Pick<GrantRecord, 'engine' | 'kind' | 'host' | 'port' | 'database'> }
  | { type: 'grant-failed'; error: { code: string; message: string } }
  | { type: 'extension-requested'; by: Identity; extension: PendingExtension; autoApproved: boolean }
  | { type: 'extension-approve'; by: Identity; comment?: string }
  | { type: 'extension-deny'; by: Identity; comment?: string }
  | { type: 'session-used'; openSessions: number }
  | { type: 'revoked'; reason: RevokeReason; by?: Identity; sessionsTerminated?: number }
  | { type: 'revoke-failed'; error: { code: string; message: string } }
  | { type: 'execution-started' }
  | { type: 'executed'; statements: { command?: string; rowCount: number | null }[] }
  | { type: 'execution-failed'; error: { code: string; message: string } }
  | { type: 'explained'; plans: string[] };

export type LifecycleEventType = LifecycleEvent['type'];

export const LIFECYCLE_EVENT_TYPES = [
  'approve',
  'deny',
  'cancel',
  'approval-expired',
  'escalated',
  'granted',
  'grant-failed',
  'extension-requested',
  'extension-approve',
  'extension-deny',
  'session-used',
  'revoked',
  'revoke-failed',
  'execution-started',
  'executed',
  'execution-failed',
  'explained',
] as const satisfies readonly LifecycleEventType[];

/**
 * Every allowed (status, event) pair and the statuses it may lead to; anything absent is
 * INVALID_TRANSITION. This is the diagram in ARCHITECTURE.md, plus the self-loops (a partial approval,
 * escalation, extensions, a repeated revoke failure) and cancelling an approval not yet granted.
 */
export const TRANSITIONS: Readonly<
  Record<LifecycleEventType, Readonly<Partial<Record<RequestStatus, readonly RequestStatus[]>>>>
> = {
  approve: { PENDING: ['PENDING', 'APPROVED'] },
  deny: { PENDING: ['DENIED'] },
  cancel: { PENDING: ['CANCELLED'], APPROVED: ['CANCELLED'] },
  'approval-expired': { PENDING: ['EXPIRED'] },
  escalated: { PENDING: ['PENDING'] },
  granted: { APPROVED: ['ACTIVE'] },
  'grant-failed': { APPROVED: ['FAILED'] },
  'extension-requested': { ACTIVE: ['ACTIVE'] },
  'extension-approve': { ACTIVE: ['ACTIVE'] },
  'extension-deny': { ACTIVE: ['ACTIVE'] },
  'session-used': { ACTIVE: ['ACTIVE'] },
  revoked: { ACTIVE: ['REVOKED'], REVOKE_FAILED: ['REVOKED'] },
  'revoke-failed': { ACTIVE: ['REVOKE_FAILED'], REVOKE_FAILED: ['REVOKE_FAILED'] },
  // A statement request runs once instead of being granted: marked before it runs, then EXECUTED or FAILED.
  'execution-started': { APPROVED: ['APPROVED'] },
  executed: { APPROVED: ['EXECUTED'] },
  'execution-failed': { APPROVED: ['FAILED'] },
  // The statements' plans, shown to approvers while they decide.
  explained: { PENDING: ['PENDING'] },
};

/** True if `event` may be applied to a request in `status`. */
export function canApply(status: RequestStatus, event: LifecycleEventType): boolean {
  return TRANSITIONS[event][status] !== undefined;
}

/**
 * `level` is the request's level in the current policy, or absent when the policy no longer names it. Only
 * decisions (approve, deny, extension-approve/-deny) and escalation read it, and refuse without it; an early
 * revoke by an approver needs it too. Every other event (expiry, grant and revoke outcomes, cancel) does not.
 */
export interface TransitionContext {
  level?: AccessLevel | undefined;
  now: Date;
}

export interface TransitionResult {
  next: AccessRequest;
  audit: AuditDraft;
}

export function applyEvent(
  request: AccessRequest,
  event: LifecycleEvent,
  { level, now }: TransitionContext,
): TransitionResult {
  const allowed = TRANSITIONS[event.type][request.status];
  if (!allowed) throw new InvalidTransitionError(request.status, event.type);
  assertAuthorised(request, event, level, now);
  const result = transition(request, event, level, now.toISOString());
  // A guard on the table itself: a handler below can never lead somewhere the table does not allow.
  if (!allowed.includes(result.next.status)) throw new InvalidTransitionError(request.status, event.type);
  return result;
}

function assertAuthorised(
  request: AccessRequest,
  event: LifecycleEvent,
  level: AccessLevel | undefined,
  now: Date,
): void {
  switch (event.type) {
    case 'extension-approve':
      pendingExtension(request, event.type);
      assertMayApprove(event.by, request, requiredLevel(request, level), now);
      break;
    case 'approve':
      assertMayApprove(event.by, request, requiredLevel(request, level), now);
      break;
    case 'deny':
    case 'extension-deny':
      assertMayDeny(event.by, request, requiredLevel(request, level), now);
      break;
    case 'cancel':
      assertMayCancel(event.by, request);
      break;
    case 'revoked':
      if (event.by) assertMayRevoke(event.by, request, level, now);
      break;
    default:
      break;
  }
}

/** The level an event reads; a decision on a level the policy no longer names is refused as UNKNOWN_LEVEL. */
function requiredLevel(request: AccessRequest, level: AccessLevel | undefined): AccessLevel {
  if (level) return level;
  throw new PolicyRefusedError(
    'UNKNOWN_LEVEL',
    `target '${request.targetId}' has no level '${request.level}'`,
    { details: { targetId: request.targetId, level: request.level } },
  );
}

function transition(
  request: AccessRequest,
  event: LifecycleEvent,
  level: AccessLevel | undefined,
  at: string,
): TransitionResult {
  const base: AccessRequest = { ...request, updatedAt: at };
  const to = stepTo(request, at);
  switch (event.type) {
    case 'approve': {
      const decision = decisionOf(event.by, at, event.comment);
      if (request.approvals.some((d) => sameDecider(d, decision))) {
        throw new ForbiddenError('ALREADY_APPROVED_BY_YOU', 'you already approved this request');
      }
      const approvals = [...request.approvals, decision];
      const count = distinctCount(approvals);
      const done = count >= request.approvalsRequired;
      const next: AccessRequest = {
        ...base,
        approvals,
        status: done ? 'APPROVED' : 'PENDING',
        ...(done ? { approvalLinks: retire(request.approvalLinks, 'request', at) } : {}),
      };
      return to(next, event.by, done ? 'approved' : 'approval-recorded', {
        comment: event.comment,
        details: { approvals: count, approvalsRequired: request.approvalsRequired },
      });
    }
    case 'deny':
    case 'cancel':
      // Once its statements may have started, a statement request ends EXECUTED or FAILED, never CANCELLED.
      if (event.type === 'cancel' && request.executionStartedAt) {
        throw new InvalidTransitionError(`${request.status} (statements running)`, event.type);
      }
      return closedByPerson(request, base, event, at);
    case 'execution-started': {
      if (!request.statements || request.executionStartedAt) {
        throw new InvalidTransitionError(
          `${request.status} (not a statement request waiting to run)`,
          event.type,
        );
      }
      const next: AccessRequest = { ...base, executionStartedAt: at };
      return to(next, SYSTEM, 'execution-started', {
        details: { dbUser: request.dbUser, statementsSha256: request.statementsSha256 ?? null },
      });
    }
    case 'executed': {
      if (!request.executionStartedAt) {
        throw new InvalidTransitionError(`${request.status} (statements not started)`, event.type);
      }
      const next: AccessRequest = { ...base, status: 'EXECUTED', executedAt: at };
      // Counts only: the rows a query returned are kept for the requester, never in the audit log.
      return to(next, SYSTEM, 'executed', {
        details: {
          statements: event.statements.length,
          rowCounts: event.statements.map((s) => (s.rowCount === null ? '-' : String(s.rowCount))).join(','),
        },
      });
    }
    case 'explained': {
      if (!request.statements || request.explain) {
        throw new InvalidTransitionError(`${request.status} (no statements to explain)`, event.type);
      }
      const next: AccessRequest = { ...base, explain: { plans: event.plans, at } };
      return to(next, SYSTEM, 'explained', { details: { plans: event.plans.length } });
    }
    case 'execution-failed': {
      const next: AccessRequest = { ...base, status: 'FAILED', lastError: { ...event.error, at } };
      return to(next, SYSTEM, 'execution-failed', {
        details: { code: event.error.code, message: event.error.message },
      });
    }
    case 'approval-expired': {
      const next: AccessRequest = {
        ...base,
        status: 'EXPIRED',
        approvalLinks: retire(request.approvalLinks, 'request', at),
      };
      return to(next, SYSTEM, 'approval-expired', {
        details: {
          approvals: distinctCount(request.approvals),
          approvalsRequired: request.approvalsRequired,
        },
      });
    }
    case 'escalated': {
      const next: AccessRequest = { ...base, escalated: true };
      return to(next, SYSTEM, 'escalated', {
        details: { approvers: (requiredLevel(request, level).escalation?.approvers ?? []).join(',') },
      });
    }
    case 'granted': {
      const expiresAt = grantExpiry(new Date(at), request.durationSeconds).toISOString();
      const grant: GrantRecord = { ...event.grant, dbUser: request.dbUser, grantedAt: at, expiresAt };
      const next: AccessRequest = { ...base, status: 'ACTIVE', grant, expiresAt };
      return to(next, SYSTEM, 'granted', {
        details: { dbUser: request.dbUser, engine: grant.engine, kind: grant.kind, expiresAt },
      });
    }
    case 'grant-failed': {
      const next: AccessRequest = { ...base, status: 'FAILED', lastError: { ...event.error, at } };
      return to(next, SYSTEM, 'grant-failed', {
        details: { code: event.error.code, message: event.error.message },
      });
    }
    case 'extension-requested': {
      if (request.extension) {
        throw new PolicyRefusedError('EXTENSION_PENDING', 'an extension is already waiting for approval', {
          details: { extensionId: request.extension.id },
        });
      }
      const { extension } = event;
      const asked = {
        extensionId: extension.id,
        durationSeconds: extension.durationSeconds,
        expiresAt: extension.newExpiresAt,
      };
      if (event.autoApproved) {
        const next = applyExtension(base, extension, SYSTEM.principal, at);
        return to(next, event.by, 'extension-approved', {
          comment: extension.reason,
          details: { ...asked, autoApproved: true },
        });
      }
      const next: AccessRequest = { ...base, extension };
      return to(next, event.by, 'extension-requested', {
        comment: extension.reason,
        details: { ...asked, approvalsRequired: extension.approvalsRequired },
      });
    }
    case 'extension-approve': {
      const extension = pendingExtension(request, event.type);
      const decision = decisionOf(event.by, at, event.comment);
      if (extension.approvals.some((d) => sameDecider(d, decision))) {
        throw new ForbiddenError('ALREADY_APPROVED_BY_YOU', 'you already approved this extension');
      }
      const approvals = [...extension.approvals, decision];
      const count = distinctCount(approvals);
      const details = {
        extensionId: extension.id,
        approvals: count,
        approvalsRequired: extension.approvalsRequired,
      };
      if (count < extension.approvalsRequired) {
        const next: AccessRequest = { ...base, extension: { ...extension, approvals } };
        return to(next, event.by, 'approval-recorded', {
          comment: event.comment,
          details,
        });
      }
      const next = applyExtension(base, extension, event.by.principal, at);
      return to(next, event.by, 'extension-approved', {
        comment: event.comment,
        details: { ...details, expiresAt: extension.newExpiresAt },
      });
    }
    case 'extension-deny': {
      const extension = pendingExtension(request, event.type);
      const { extension: _dropped, ...rest } = base;
      const next: AccessRequest = { ...rest, approvalLinks: retire(request.approvalLinks, 'extension', at) };
      return to(next, event.by, 'extension-denied', {
        comment: event.comment,
        details: { extensionId: extension.id },
      });
    }
    case 'session-used': {
      if (!request.once)
        throw new InvalidTransitionError(`${request.status} (not a use-once grant)`, event.type);
      if (request.once.usedAt !== undefined) {
        throw new InvalidTransitionError(`${request.status} (session already recorded)`, event.type);
      }
      const next: AccessRequest = { ...base, once: { usedAt: at } };
      return to(next, SYSTEM, 'session-used', {
        details: { dbUser: request.dbUser, openSessions: event.openSessions },
      });
    }
    case 'revoked': {
      const { extension: _dropped, ...rest } = base;
      const next: AccessRequest = {
        ...rest,
        status: 'REVOKED',
        revokedAt: at,
        revokeReason: event.reason,
        // A use-once grant revoked for its ended session was used, even if no sweep saw the session open.
        ...(request.once && event.reason === 'used-once'
          ? { once: { usedAt: request.once.usedAt ?? at } }
          : {}),
        approvalLinks: retire(retire(request.approvalLinks, 'request', at), 'extension', at),
      };
      return to(next, event.by ?? SYSTEM, 'revoked', {
        details: {
          reason: event.reason,
          attempts: request.revokeAttempts + 1,
          ...(event.sessionsTerminated !== undefined ? { sessionsTerminated: event.sessionsTerminated } : {}),
        },
      });
    }
    case 'revoke-failed': {
      const revokeAttempts = request.revokeAttempts + 1;
      const next: AccessRequest = {
        ...base,
        status: 'REVOKE_FAILED',
        revokeAttempts,
        lastError: { ...event.error, at },
      };
      return to(next, SYSTEM, 'revoke-failed', {
        details: { code: event.error.code, message: event.error.message, attempts: revokeAttempts },
      });
    }
  }
}

/** How `request` becomes `next` at `at`: the step and the audit event of what `actor` did. */
function stepTo(request: AccessRequest, at: string) {
  return (
    next: AccessRequest,
    actor: Identity,
    action: AuditAction,
    extra: Parameters<typeof auditDraft>[5] = {},
  ): TransitionResult => ({ next, audit: auditDraft(at, actor, action, request, next, extra) });
}

/** A request a person closes before any grant (denied, cancelled): their decision kept, its approval links retired. */
function closedByPerson(
  request: AccessRequest,
  base: AccessRequest,
  event: Extract<LifecycleEvent, { type: 'deny' | 'cancel' }>,
  at: string,
): TransitionResult {
  const decision = decisionOf(event.by, at, event.comment);
  const next: AccessRequest = {
    ...base,
    ...(event.type === 'deny'
      ? { status: 'DENIED', denial: decision }
      : { status: 'CANCELLED', cancellation: decision }),
    approvalLinks: retire(request.approvalLinks, 'request', at),
  };
  const action = event.type === 'deny' ? 'denied' : 'cancelled';
  return stepTo(request, at)(next, event.by, action, { comment: event.comment });
}

function pendingExtension(request: AccessRequest, event: LifecycleEventType): PendingExtension {
  if (!request.extension) throw new InvalidTransitionError(`${request.status} (no extension pending)`, event);
  return request.extension;
}

/**
 * A reviewer acknowledges a break-glass request, which then is no longer flagged. Not a row of TRANSITIONS: it
 * changes no status, in any status (a grant may be reviewed while ACTIVE or after REVOKED). Authz is re-checked
 * here, like applyEvent does, so no caller can skip it.
 */
export function applyReview(
  request: AccessRequest,
  by: Identity,
  { policy, now, comment }: { policy: Policy; now: Date; comment?: string | undefined },
): TransitionResult {
  assertMayReview(by, policy, request);
  if (!request.breakGlass) {
    throw new PolicyRefusedError('NOT_FLAGGED', 'only break-glass requests are flagged for review');
  }
  if (request.review) {
    throw new PolicyRefusedError('ALREADY_REVIEWED', `already reviewed by ${request.review.by}`, {
      details: { by: request.review.by, at: request.review.at },
    });
  }
  const at = now.toISOString();
  const next: AccessRequest = { ...request, updatedAt: at, review: decisionOf(by, at, comment) };
  return stepTo(request, at)(next, by, 'reviewed', { comment });
}
