import { assertEligible, autoApproves } from './authz.js';
import { formatDuration } from './duration.js';
import { PolicyRefusedError, ValidationError } from './errors.js';
import { dbUserFor } from './naming.js';
import type { AccessLevel, Policy, Target } from './policy-schema.js';
import type { ExtendBody, NewRequestBody } from './schemas.js';
import { narrowPrivileges } from './scope.js';
import { assertKindAllowed, checkStatements, statementsDigest } from './statements.js';
import {
  type AccessRequest,
  type AuditDraft,
  GENESIS_HASH,
  type Identity,
  type PendingExtension,
} from './types.js';

/**
 * Policy evaluation of a new request and of an extension: what is refused, what is auto-approved, what
 * waits for approvers. Pure: the clock and the new id are parameters.
 */

export interface NewRequestInput {
  body: NewRequestBody;
  requester: Identity;
  policy: Policy;
  now: Date;
  requestId: string;
}

/** Finds a target and one of its levels, or refuses with UNKNOWN_TARGET / UNKNOWN_LEVEL. */
export function findLevel(
  policy: Policy,
  targetId: string,
  levelName: string,
): { target: Target; level: AccessLevel } {
  const target = policy.targets.find((t) => t.id === targetId);
  if (!target) {
    throw new PolicyRefusedError('UNKNOWN_TARGET', `no target '${targetId}' in the policy`, {
      details: { targetId },
    });
  }
  // hasOwn: a level named like an Object.prototype member must not resolve to it.
  const level = Object.hasOwn(target.levels, levelName) ? target.levels[levelName] : undefined;
  if (!level) {
    throw new PolicyRefusedError('UNKNOWN_LEVEL', `target '${targetId}' has no level '${levelName}'`, {
      details: { targetId, level: levelName },
    });
  }
  return { target, level };
}

export function evaluateNewRequest({ body, requester, policy, now, requestId }: NewRequestInput): {
  request: AccessRequest;
  audit: AuditDraft;
} {
  const { level } = findLevel(policy, body.target, body.level);
  const breakGlass = body.breakGlass === true;
  if (breakGlass && level.breakGlass?.allowed !== true) {
    throw new PolicyRefusedError(
      'BREAK_GLASS_NOT_ALLOWED',
      `level '${body.level}' does not allow break-glass`,
    );
  }
  assertEligible(requester, level, { targetId: body.target, level: body.level, breakGlass });
  const statements = body.statements;
  assertKindAllowed(level, body.level, statements === undefined ? 'window' : 'statement');
  if (statements !== undefined) {
    if (body.duration !== undefined) {
      throw new ValidationError('invalid input: duration: a statement request takes none', {
        problems: ['duration: a statement request takes none (the level sets its statement timeout)'],
      });
    }
    checkStatements(statements);
  } else if (body.duration === undefined) {
    throw new ValidationError('invalid input: duration: is required', {
      problems: ['duration: is required'],
    });
  }
  // A statement request's user lives for the statement timeout only; it never gets a window.
  const durationSeconds = body.duration ?? level.statement.timeout;
  const maxDuration = breakGlass ? (level.breakGlass?.maxDuration ?? level.maxDuration) : level.maxDuration;
  if (durationSeconds > maxDuration) {
    throw new PolicyRefusedError(
      'DURATION_EXCEEDS_MAX',
      `${formatDuration(durationSeconds)} exceeds the maximum of ${formatDuration(maxDuration)}`,
      { details: { requestedSeconds: durationSeconds, maxSeconds: maxDuration } },
    );
  }
  const reason = body.reason ?? '';
  // Break-glass is reviewed afterwards, so it always needs a reason even where the level waives one.
  if (reason === '' && (level.requireReason || breakGlass)) {
    throw new PolicyRefusedError('REASON_REQUIRED', 'a reason is required for this level');
  }
  const ticket = body.ticket === '' ? undefined : body.ticket;
  if (level.ticketPattern !== undefined) {
    if (ticket === undefined) {
      throw new PolicyRefusedError('TICKET_REQUIRED', 'a ticket is required for this level', {
        details: { ticketPattern: level.ticketPattern },
      });
    }
    if (!new RegExp(level.ticketPattern).test(ticket)) {
      throw new PolicyRefusedError('TICKET_INVALID', `the ticket does not match ${level.ticketPattern}`, {
        details: { ticketPattern: level.ticketPattern },
      });
    }
  }
  const privileges = narrowPrivileges(level.privileges, body.scope);

  const at = now.toISOString();
  const autoApproved = !breakGlass && autoApproves(level, requester, durationSeconds);
  const statementsSha256 = statements === undefined ? undefined : statementsDigest(statements);
  const approved = breakGlass || autoApproved;
  const request: AccessRequest = {
    id: requestId,
    requester: requester.principal,
    ...(requester.email ? { requesterEmail: requester.email } : {}),
    targetId: body.target,
    level: body.level,
    privileges,
    ...(body.scope ? { scope: body.scope } : {}),
    reason,
    ...(ticket !== undefined ? { ticket } : {}),
    durationSeconds,
    ...(statements !== undefined && statementsSha256 !== undefined ? { statements, statementsSha256 } : {}),
    breakGlass,
    autoApproved,
    status: approved ? 'APPROVED' : 'PENDING',
    version: 0,
    createdAt: at,
    updatedAt: at,
    ...(approved ? {} : pendingTimes(level, now)),
    approvalsRequired: approved ? 0 : level.approvalsRequired,
    approvals: [],
    dbUser: dbUserFor(requestId),
    extensions: [],
    revokeAttempts: 0,
    ...(body.idempotencyKey ? { idempotencyKey: body.idempotencyKey } : {}),
    ...(body.once === true ? { once: {} } : {}),
    approvalLinks: [],
    auditSeq: 0,
    auditHead: GENESIS_HASH,
  };
  const audit: AuditDraft = {
    at,
    actor: requester.principal,
    via: requester.via,
    action: breakGlass ? 'break-glass' : autoApproved ? 'auto-approved' : 'requested',
    toStatus: request.status,
    ...(reason ? { comment: reason } : {}),
    details: {
      targetId: body.target,
      level: body.level,
      durationSeconds,
      ...(statements !== undefined && statementsSha256 !== undefined
        ? { statements: statements.length, statementsSha256 }
        : {}),
      approvalsRequired: request.approvalsRequired,
      scoped: body.scope !== undefined,
      ...(body.once === true ? { once: true } : {}),
      ...(ticket !== undefined ? { ticket } : {}),
      ...(breakGlass ? { notify: (level.breakGlass?.notify ?? []).join(',') } : {}),
    },
  };
  return { request, audit };
}

function pendingTimes(
  level: AccessLevel,
  now: Date,
): Pick<AccessRequest, 'approvalDeadline' | 'escalateAt' | 'escalated'> {
  const approvalDeadline = new Date(now.getTime() + level.approvalWindow * 1000).toISOString();
  if (!level.escalation) return { approvalDeadline };
  return {
    approvalDeadline,
    escalateAt: new Date(now.getTime() + level.escalation.after * 1000).toISOString(),
    escalated: false,
  };
}

export interface ExtensionEvaluation {
  /** true: apply at once (within extension.autoApproveUpTo in total); false: approvers decide. */
  autoApproved: boolean;
  extension: PendingExtension;
}

/**
 * Evaluates a request to extend an ACTIVE grant. The total time from grant to final expiry may not pass
 * extension.maxTotal (default: the level's maxDuration).
 */
export function evaluateExtension(
  request: AccessRequest,
  body: ExtendBody,
  level: AccessLevel,
  now: Date,
): ExtensionEvaluation {
  if (request.status !== 'ACTIVE' || !request.grant) {
    throw new PolicyRefusedError('REQUEST_NOT_ACTIVE', `the request is ${request.status}, not ACTIVE`, {
      details: { status: request.status },
    });
  }
  if (request.extension) {
    throw new PolicyRefusedError('EXTENSION_PENDING', 'an extension is already waiting for approval', {
      details: { extensionId: request.extension.id },
    });
  }
  if (!level.extension.allowed) {
    throw new PolicyRefusedError('EXTENSION_EXCEEDS_MAX', `level '${request.level}' allows no extensions`, {
      details: { maxTotalSeconds: 0 },
    });
  }
  const maxTotal = level.extension.maxTotal ?? level.maxDuration;
  const grantedAtMs = Date.parse(request.grant.grantedAt);
  const newExpiresAtMs = Date.parse(request.grant.expiresAt) + body.duration * 1000;
  const totalSeconds = Math.round((newExpiresAtMs - grantedAtMs) / 1000);
  if (totalSeconds > maxTotal) {
    throw new PolicyRefusedError(
      'EXTENSION_EXCEEDS_MAX',
      `the grant would last ${formatDuration(totalSeconds)}, past the maximum of ${formatDuration(maxTotal)}`,
      { details: { totalSeconds, maxTotalSeconds: maxTotal } },
    );
  }
  const extendedSoFar = request.extensions.reduce((sum, e) => sum + e.durationSeconds, 0);
  const autoApproved = extendedSoFar + body.duration <= level.extension.autoApproveUpTo;
  return {
    autoApproved,
    extension: {
      id: `${request.id}-x${request.extensions.length + 1}`,
      durationSeconds: body.duration,
      reason: body.reason,
      requestedBy: request.requester,
      requestedAt: now.toISOString(),
      approvalsRequired: autoApproved ? 0 : level.approvalsRequired,
      approvals: [],
      newExpiresAt: new Date(newExpiresAtMs).toISOString(),
    },
  };
}
