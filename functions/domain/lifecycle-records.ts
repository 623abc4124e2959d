import { sameDecider } from './authz.js';
import type { DomainError } from './errors.js';
import type {
  AccessRequest,
  ApprovalLink,
  AuditAction,
  AuditDraft,
  Decision,
  Identity,
  PendingExtension,
} from './types.js';

/**
 * The records a lifecycle transition writes (decisions, retired links, an applied extension, audit drafts) and the
 * fields derived from a request (its grant expiry, its GSI sort key, its review flag). Pure, like lifecycle.ts.
 */
export function applyExtension(
  request: AccessRequest,
  extension: PendingExtension,
  by: string,
  at: string,
): AccessRequest {
  const { extension: _done, ...rest } = request;
  return {
    ...rest,
    expiresAt: extension.newExpiresAt,
    ...(request.grant ? { grant: { ...request.grant, expiresAt: extension.newExpiresAt } } : {}),
    extensions: [
      ...request.extensions,
      {
        durationSeconds: extension.durationSeconds,
        approvedAt: at,
        newExpiresAt: extension.newExpiresAt,
        by,
      },
    ],
    approvalLinks: retire(request.approvalLinks, 'extension', at),
  };
}

export function decisionOf(by: Identity, at: string, comment: string | undefined): Decision {
  return {
    by: by.principal,
    ...(by.email ? { email: by.email } : {}),
    at,
    ...(comment ? { comment } : {}),
    via: by.via,
  };
}

/** Approvals by distinct people: the same person by IAM and by email link counts once. */
export function distinctCount(decisions: readonly Decision[]): number {
  const distinct: Decision[] = [];
  for (const d of decisions) if (!distinct.some((seen) => sameDecider(seen, d))) distinct.push(d);
  return distinct.length;
}

/** Unused links of a purpose stop working once that purpose is decided. */
export function retire(
  links: readonly ApprovalLink[],
  purpose: ApprovalLink['purpose'],
  at: string,
): ApprovalLink[] {
  return links.map((link) =>
    link.purpose === purpose && link.usedAt === undefined && link.retiredAt === undefined
      ? { ...link, retiredAt: at }
      : link,
  );
}

export function auditDraft(
  at: string,
  actor: Identity,
  action: AuditAction,
  previous: AccessRequest,
  next: AccessRequest,
  extra: { comment?: string | undefined; details?: AuditDraft['details'] },
): AuditDraft {
  return {
    at,
    actor: actor.principal,
    via: actor.via,
    action,
    fromStatus: previous.status,
    toStatus: next.status,
    ...(extra.comment ? { comment: extra.comment } : {}),
    ...(extra.details ? { details: extra.details } : {}),
  };
}

/** The audit event of a refused attempt that matters (self-approval, unauthorised approver…). No state change. */
export function refusalAudit(
  request: AccessRequest,
  actor: Identity,
  error: DomainError,
  now: Date,
): AuditDraft {
  return {
    at: now.toISOString(),
    actor: actor.principal,
    via: actor.via,
    action: 'refused',
    fromStatus: request.status,
    toStatus: request.status,
    comment: error.message,
    details: { code: error.code },
  };
}

/** A break-glass request stays flagged for review until a reviewer acknowledges it (applyReview). */
export function isFlagged(request: AccessRequest): boolean {
  return request.breakGlass && request.review === undefined;
}

/**
 * When a grant made at `grantedAt` ends: `durationSeconds` later, rounded up to whole seconds. A Wait state's
 * TimestampPath drops milliseconds, so a fractional expiry would wake the workflow up to a second early, find
 * the grant not yet due, and loop until it is.
 */
export function grantExpiry(grantedAt: Date, durationSeconds: number): Date {
  return new Date(Math.ceil((grantedAt.getTime() + durationSeconds * 1000) / 1000) * 1000);
}

/**
 * The `by-status` GSI sort key: expiresAt while a grant may be live (the sweeper's order), approvalDeadline
 * while PENDING (the approval-expiry order), else updatedAt.
 */
export function sortAtFor(request: AccessRequest): string {
  switch (request.status) {
    case 'ACTIVE':
    case 'REVOKE_FAILED':
      return request.expiresAt ?? request.grant?.expiresAt ?? request.updatedAt;
    case 'PENDING':
      return request.approvalDeadline ?? request.updatedAt;
    default:
      return request.updatedAt;
  }
}
