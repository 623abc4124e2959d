import { applyEvent } from '../domain/lifecycle.js';
import type { AccessRequest } from '../domain/types.js';
import type { Deps } from './ports.js';
import { redactErrorText } from './redact.js';
import { targetOf } from './request-lookup.js';

/** A failure as it is stored on the request (`lastError`) and in its audit event. */
export interface FailureError {
  code: string;
  message: string;
}

/** The lastError code of an APPROVED request whose approval the workflow never took (it timed out first). */
export const APPROVAL_NOT_DELIVERED = 'ApprovalNotDelivered';

/**
 * What to do about a database user a grant may have half made before it is recorded FAILED:
 * `none` = nothing can have been made; `best-effort` = try, log a refusal and go on (the reconciler backs it
 * up); `required` = a refusal throws and the request stays APPROVED for the caller's retry.
 */
export type HalfMadeUser = 'none' | 'best-effort' | 'required';

/**
 * Drops whatever a grant of this request may have made. The target having left the policy leaves nothing to
 * reach: the reconciler lists users per target still in it.
 */
export async function dropHalfMadeUser(
  deps: Deps,
  request: AccessRequest,
  mode: Exclude<HalfMadeUser, 'none'>,
): Promise<void> {
  const target = targetOf(deps, request);
  if (!target) return;
  try {
    await deps.provisioners.for(target).revoke({ requestId: request.id, dbUser: request.dbUser, target });
  } catch (error) {
    if (mode === 'required') throw error;
    deps.log.warn('could not clean up after a failed grant; the reconciler will', {
      requestId: request.id,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}

/**
 * An APPROVED request that will never be granted: drops what a grant half made (as `halfMadeUser` says), then
 * records FAILED with `error`. One attempt on a fresh read: the caller re-reads and retries on ConflictError.
 * Returns undefined, recording nothing, when the request is no longer APPROVED (a retry, or it moved on).
 */
export async function failNeverGranted(
  deps: Deps,
  request: AccessRequest,
  error: FailureError,
  halfMadeUser: HalfMadeUser,
): Promise<AccessRequest | undefined> {
  if (request.status !== 'APPROVED') return undefined;
  if (halfMadeUser !== 'none') await dropHalfMadeUser(deps, request, halfMadeUser);
  const { next, audit } = applyEvent(request, { type: 'grant-failed', error }, { now: deps.clock.now() });
  return deps.requests.transition(request, next, audit);
}

/** A failed revoke as a short code and a message safe to store (secrets masked). */
export function revokeErrorOf(error: unknown): FailureError {
  return {
    code: error instanceof Error ? error.name : 'Error',
    message: error instanceof Error ? redactErrorText(error.message) : 'revoke failed',
  };
}

/**
 * Records REVOKE_FAILED with `error` and counts the RevokeFailed metric (the alarm); the sweeper retries every
 * minute. `sameErrorAgain: false` makes a retry of the same failure (already recorded) record nothing;
 * `true` records each attempt (revokeAttempts counts them). `countMetric: false` when the caller counted
 * the failed attempt itself. One attempt on a fresh read: the caller re-reads and retries on ConflictError.
 * Returns whether it recorded; a request no longer ACTIVE or REVOKE_FAILED is left alone.
 */
export async function recordRevokeFailed(
  deps: Deps,
  request: AccessRequest,
  error: FailureError,
  options: { sameErrorAgain: boolean; countMetric: boolean },
): Promise<boolean> {
  if (request.status !== 'ACTIVE' && request.status !== 'REVOKE_FAILED') return false;
  const last = request.lastError;
  const repeated =
    request.status === 'REVOKE_FAILED' && last?.code === error.code && last.message === error.message;
  if (repeated && !options.sameErrorAgain) return false;
  const { next, audit } = applyEvent(request, { type: 'revoke-failed', error }, { now: deps.clock.now() });
  await deps.requests.transition(request, next, audit);
  if (options.countMetric) deps.metrics.count('RevokeFailed');
  return true;
}

/**
 * A PENDING request whose approval window ended (or whose workflow ended) becomes EXPIRED. One attempt on a
 * fresh read; returns the saved request, or undefined when it is no longer PENDING.
 */
export async function expireUndecided(
  deps: Deps,
  request: AccessRequest,
): Promise<AccessRequest | undefined> {
  if (request.status !== 'PENDING') return undefined;
  const { next, audit } = applyEvent(request, { type: 'approval-expired' }, { now: deps.clock.now() });
  return deps.requests.transition(request, next, audit);
}
