/**
 * Every refusal the system can give, as a machine-readable code. Handlers map the code to an HTTP
 * status with `httpStatusFor`; the domain never speaks HTTP.
 */
export const ERROR_CODES = {
  // the request itself is malformed
  MALFORMED_JSON: 400,
  VALIDATION_FAILED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNAUTHENTICATED: 401,
  // who the caller is (the trust model)
  ACCOUNT_NOT_TRUSTED: 403,
  UNSUPPORTED_PRINCIPAL: 403,
  // policy refusals of a new request or extension
  UNKNOWN_TARGET: 404,
  UNKNOWN_LEVEL: 404,
  DURATION_EXCEEDS_MAX: 400,
  REASON_REQUIRED: 400,
  TICKET_REQUIRED: 400,
  TICKET_INVALID: 400,
  SCOPE_NOT_IN_LEVEL: 400,
  BREAK_GLASS_NOT_ALLOWED: 403,
  /** The caller is not on the level's requesters list. */
  NOT_ELIGIBLE: 403,
  /** The caller is not on the level's break-glass list. */
  BREAK_GLASS_NOT_ELIGIBLE: 403,
  EXTENSION_EXCEEDS_MAX: 400,
  EXTENSION_PENDING: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  // who may do what
  SELF_APPROVAL_FORBIDDEN: 403,
  NOT_AN_APPROVER: 403,
  NOT_REQUESTER: 403,
  NOT_ALLOWED: 403,
  ALREADY_APPROVED_BY_YOU: 409,
  /** The caller is not a reviewer of the request (global, target or break-glass notify list). */
  NOT_A_REVIEWER: 403,
  SELF_REVIEW_FORBIDDEN: 403,
  /** Only break-glass requests are flagged for review. */
  NOT_FLAGGED: 409,
  ALREADY_REVIEWED: 409,
  // lifecycle
  REQUEST_NOT_FOUND: 404,
  INVALID_TRANSITION: 409,
  REQUEST_NOT_ACTIVE: 409,
  /** A decision after the approval deadline: the workflow stopped waiting, so it would never be granted. */
  APPROVAL_WINDOW_CLOSED: 410,
  CONFLICT: 409,
  // approval links
  APPROVAL_LINK_INVALID: 404,
  APPROVAL_LINK_USED: 410,
  APPROVAL_LINK_EXPIRED: 410,
  CSRF_TOKEN_INVALID: 403,
  /** The link cannot tell whether its approver is the requester (or links are off for the level): use the API. */
  LINK_APPROVAL_UNAVAILABLE: 403,
  // targets and credentials
  TARGET_UNAVAILABLE: 503,
  TARGET_NOT_CONFIGURED_FOR_IAM: 500,
  /** A revoke ran but could not prove the user, its sessions and its objects are gone: retried, alarmed. */
  REVOKE_INCOMPLETE: 500,
  /** The target's admin lacks a privilege grant or revoke needs (found by the health check before a grant). */
  TARGET_MISCONFIGURED: 500,
  INTERNAL: 500,
  // configuration
  POLICY_INVALID: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function httpStatusFor(code: ErrorCode): number {
  return ERROR_CODES[code];
}

/** Base of every error the domain raises on purpose. `details` must never hold a secret. */
export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('VALIDATION_FAILED', message, details ? { details } : undefined);
  }
}

export class PolicyRefusedError extends DomainError {}

export class ForbiddenError extends DomainError {}

export class RequestNotFoundError extends DomainError {
  constructor(requestId: string) {
    super('REQUEST_NOT_FOUND', `no request ${requestId}`, { details: { requestId } });
  }
}

export class InvalidTransitionError extends DomainError {
  constructor(from: string, event: string) {
    super('INVALID_TRANSITION', `a ${from} request cannot take '${event}'`, { details: { from, event } });
  }
}

/** A conditional write lost a race: someone else changed the request first. Safe to re-read and retry. */
export class ConflictError extends DomainError {
  constructor(message = 'the request changed concurrently; re-read and retry', cause?: unknown) {
    super('CONFLICT', message, { cause });
  }
}

/** The target database could not be reached or refused the admin: the step may be retried. */
export class TargetUnavailableError extends DomainError {
  readonly retryable = true;
  constructor(targetId: string, cause?: unknown) {
    super('TARGET_UNAVAILABLE', `target ${targetId} is unavailable`, { details: { targetId }, cause });
  }
}

export class TargetNotConfiguredForIamError extends DomainError {
  constructor(targetId: string, cause?: unknown) {
    super(
      'TARGET_NOT_CONFIGURED_FOR_IAM',
      `target ${targetId} is not configured for IAM authentication (no rds_iam role or AWSAuthenticationPlugin)`,
      { details: { targetId }, cause },
    );
  }
}

/**
 * A revoke could not end everything the temporary user had (a session it cannot see or kill, an object it
 * cannot drop): thrown instead of reporting success, so the request goes REVOKE_FAILED and is retried.
 */
export class RevokeIncompleteError extends DomainError {
  constructor(targetId: string, dbUser: string, problem: string, cause?: unknown) {
    super('REVOKE_INCOMPLETE', `revoke of ${dbUser} on target ${targetId} is incomplete: ${problem}`, {
      details: { targetId, dbUser },
      cause,
    });
  }
}

/** The admin cannot do everything revoke will need: found before a grant, not at expiry. Not retryable. */
export class TargetMisconfiguredError extends DomainError {
  constructor(targetId: string, problems: readonly string[]) {
    super('TARGET_MISCONFIGURED', `target ${targetId} cannot be granted safely: ${problems.join('; ')}`, {
      details: { targetId, problems: problems.join('; ') },
    });
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
