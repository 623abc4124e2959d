/**
 * What kind of refusal a code is. The domain never speaks HTTP: the transport maps each kind to its status
 * (`httpStatusFor` in shared/http.ts).
 */
export type RefusalKind =
  | 'invalid'
  | 'too-large'
  | 'unsupported-media'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'gone'
  | 'unavailable'
  | 'internal';

/** Every refusal the system can give, as a machine-readable code, with its kind. */
export const ERROR_CODES = {
  // the request itself is malformed
  MALFORMED_JSON: 'invalid',
  VALIDATION_FAILED: 'invalid',
  PAYLOAD_TOO_LARGE: 'too-large',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported-media',
  ROUTE_NOT_FOUND: 'not-found',
  METHOD_NOT_ALLOWED: 'method-not-allowed',
  UNAUTHENTICATED: 'unauthenticated',
  // who the caller is (the trust model)
  ACCOUNT_NOT_TRUSTED: 'forbidden',
  UNSUPPORTED_PRINCIPAL: 'forbidden',
  // policy refusals of a new request or extension
  UNKNOWN_TARGET: 'not-found',
  UNKNOWN_LEVEL: 'not-found',
  DURATION_EXCEEDS_MAX: 'invalid',
  REASON_REQUIRED: 'invalid',
  TICKET_REQUIRED: 'invalid',
  TICKET_INVALID: 'invalid',
  SCOPE_NOT_IN_LEVEL: 'invalid',
  /** `once` asked together with a statement to run: a statement request never hands out credentials. */
  ONCE_WITH_STATEMENT: 'invalid',
  /** A scope name is a pattern (`public.ord*`); the whole schema is asked for by naming the schema alone. */
  SCOPE_INVALID: 'invalid',
  /** Found at grant: the scope names a table or schema the target database does not have. The request FAILS. */
  SCOPE_NOT_IN_DATABASE: 'invalid',
  BREAK_GLASS_NOT_ALLOWED: 'forbidden',
  /** The caller is not on the level's requesters list. */
  NOT_ELIGIBLE: 'forbidden',
  /** The caller is not on the level's break-glass list. */
  BREAK_GLASS_NOT_ELIGIBLE: 'forbidden',
  EXTENSION_EXCEEDS_MAX: 'invalid',
  // statement requests (functions/domain/statements.ts)
  /** The statements are longer than MAX_STATEMENTS_BYTES, or more than MAX_STATEMENTS. */
  STATEMENT_TOO_LARGE: 'invalid',
  /** A statement is blank, holds a NUL byte or another control character, or controls the transaction. */
  STATEMENT_INVALID: 'invalid',
  /** The level does not take statement requests (its `requests` lacks `statement`). */
  STATEMENTS_NOT_ALLOWED: 'forbidden',
  /** The level takes statement requests only (its `requests` lacks `window`). */
  WINDOW_NOT_ALLOWED: 'forbidden',
  /** A statement request has no credentials: the workflow runs it; nobody logs in. */
  NO_CREDENTIALS_FOR_STATEMENT: 'conflict',
  /** GET /requests/{id}/result on a request that is not a statement request. */
  NOT_A_STATEMENT_REQUEST: 'conflict',
  /** The statement has not run (yet), or failed: there is no result. */
  RESULT_NOT_AVAILABLE: 'conflict',
  /** The result's retention has passed. */
  RESULT_EXPIRED: 'gone',
  EXTENSION_PENDING: 'conflict',
  IDEMPOTENCY_KEY_REUSED: 'conflict',
  // who may do what
  SELF_APPROVAL_FORBIDDEN: 'forbidden',
  NOT_AN_APPROVER: 'forbidden',
  NOT_REQUESTER: 'forbidden',
  NOT_ALLOWED: 'forbidden',
  ALREADY_APPROVED_BY_YOU: 'conflict',
  /** The caller is not a reviewer of the request (global, target or break-glass notify list). */
  NOT_A_REVIEWER: 'forbidden',
  SELF_REVIEW_FORBIDDEN: 'forbidden',
  /** Only break-glass requests are flagged for review. */
  NOT_FLAGGED: 'conflict',
  ALREADY_REVIEWED: 'conflict',
  // lifecycle
  REQUEST_NOT_FOUND: 'not-found',
  INVALID_TRANSITION: 'conflict',
  REQUEST_NOT_ACTIVE: 'conflict',
  /** A use-once grant whose session has happened: no more credentials (it is revoked when the session ends). */
  ONCE_ALREADY_USED: 'conflict',
  /** A decision after the approval deadline: the workflow stopped waiting, so it would never be granted. */
  APPROVAL_WINDOW_CLOSED: 'gone',
  CONFLICT: 'conflict',
  // approval links
  APPROVAL_LINK_INVALID: 'not-found',
  APPROVAL_LINK_USED: 'gone',
  APPROVAL_LINK_EXPIRED: 'gone',
  CSRF_TOKEN_INVALID: 'forbidden',
  /** The link cannot tell whether its approver is the requester (or links are off for the level): use the API. */
  LINK_APPROVAL_UNAVAILABLE: 'forbidden',
  // targets and credentials
  TARGET_UNAVAILABLE: 'unavailable',
  TARGET_NOT_CONFIGURED_FOR_IAM: 'internal',
  /** A revoke ran but could not prove the user, its sessions and its objects are gone: retried, alarmed. */
  REVOKE_INCOMPLETE: 'internal',
  /** The target's admin lacks a privilege grant or revoke needs (found by the health check before a grant). */
  TARGET_MISCONFIGURED: 'internal',
  INTERNAL: 'internal',
  // configuration
  POLICY_INVALID: 'internal',
} as const satisfies Record<string, RefusalKind>;

export type ErrorCode = keyof typeof ERROR_CODES;

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
 * The grant named a table or schema the database does not have (a scope's table is checked against the level
 * at request time, against the database only here). `missing` is the database's own words, which name the
 * object and never a value.
 */
export class ScopeObjectMissingError extends DomainError {
  constructor(targetId: string, database: string, missing: string, cause?: unknown) {
    super(
      'SCOPE_NOT_IN_DATABASE',
      `${missing} in database ${database} of target ${targetId}: the scope names a table or schema the database does not have; ask again without it`,
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
