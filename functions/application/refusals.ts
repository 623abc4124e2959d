/**
 * Refusals on the record: a refused attempt to decide, review or view is an audit event on the request (in the
 * same transaction, no status change), or on the day's security stream when no stored request is concerned.
 */
import { assertMayView } from '../domain/authz.js';
import { ConflictError, type DomainError, ForbiddenError } from '../domain/errors.js';
import { refusalAudit } from '../domain/lifecycle-records.js';
import type { AccessRequest, Identity } from '../domain/types.js';
import { retryOnConflict } from './conflict-retry.js';
import type { Deps } from './ports.js';
import { levelOrUndefined, loadRequest } from './request-lookup.js';

/** Refusals worth an audit event: someone tried to decide who must not. */
const AUDITED_REFUSALS = new Set([
  'SELF_APPROVAL_FORBIDDEN',
  'ALREADY_APPROVED_BY_YOU',
  'NOT_AN_APPROVER',
  'NOT_ALLOWED',
  'NOT_REQUESTER',
  'NOT_A_REVIEWER',
  'SELF_REVIEW_FORBIDDEN',
  'NOT_ELIGIBLE',
  'BREAK_GLASS_NOT_ELIGIBLE',
]);

/**
 * Records a refused attempt on the request (no status change, same transaction as the audit event) and
 * rethrows it. If the request keeps changing under us, the refusal still stands; the event goes best-effort.
 */
export async function refuse(
  deps: Deps,
  request: AccessRequest,
  actor: Identity,
  error: DomainError,
): Promise<never> {
  if (error instanceof ForbiddenError && AUDITED_REFUSALS.has(error.code)) {
    await recordOnRequest(deps, request, refusalAudit(request, actor, error, deps.clock.now()));
  }
  throw error;
}

/** Runs the caller's authorisation check on a request; a ForbiddenError it throws is recorded first (refuse). */
export async function authorise<T>(
  deps: Deps,
  request: AccessRequest,
  caller: Identity,
  check: () => T,
): Promise<T> {
  try {
    return check();
  } catch (error) {
    if (error instanceof ForbiddenError) await refuse(deps, request, caller, error);
    throw error;
  }
}

/**
 * Loads a request and runs the caller's authorisation check on it (`assertMay…(caller, request)`); a
 * ForbiddenError it throws is recorded on the request before it reaches the caller.
 */
export async function loadAuthorised(
  deps: Deps,
  requestId: string,
  caller: Identity,
  check: (caller: Identity, request: AccessRequest) => void,
): Promise<AccessRequest> {
  const request = await loadRequest(deps, requestId);
  await authorise(deps, request, caller, () => check(caller, request));
  return request;
}

/**
 * Loads a request the caller may view: its requester, its approvers, whoever already decided it, its reviewers.
 * Anyone else's attempt is refused (NOT_ALLOWED) and recorded on the request, as a refused decision is.
 */
export async function loadViewable(deps: Deps, requestId: string, caller: Identity): Promise<AccessRequest> {
  return loadAuthorised(deps, requestId, caller, (who, request) =>
    assertMayView(who, request, levelOrUndefined(deps, request), deps.clock.now(), deps.policy.policy()),
  );
}

/** Appends an audit event to a request without changing it, re-reading on conflicts. */
export async function recordOnRequest(
  deps: Deps,
  request: AccessRequest,
  audit: Parameters<Deps['requests']['recordEvent']>[1],
): Promise<void> {
  let current = request;
  try {
    await retryOnConflict(async () => {
      try {
        await deps.requests.recordEvent(current, audit);
      } catch (error) {
        if (error instanceof ConflictError) current = (await deps.requests.get(request.id)) ?? current;
        throw error;
      }
    });
  } catch (error) {
    deps.log.warn('could not record an audit event on the request; kept on the security stream', {
      requestId: request.id,
      action: audit.action,
      error: error instanceof Error ? error.name : 'unknown',
    });
    await deps.audit.appendLoose(securityStream(deps.clock.now()), {
      ...audit,
      details: { ...(audit.details ?? {}), requestId: request.id },
    });
  }
}

/** Security events not tied to a stored request, one stream per UTC day. */
export function securityStream(now: Date): string {
  return `security#${now.toISOString().slice(0, 10)}`;
}

/** Records a refusal that concerns no stored request (who the caller is, who may ask) on the security stream. */
export async function refuseOnSecurityStream(
  deps: Deps,
  actor: Pick<Identity, 'principal' | 'via'>,
  error: DomainError,
  details: Record<string, string | number | boolean> = {},
): Promise<void> {
  const now = deps.clock.now();
  await deps.audit.appendLoose(securityStream(now), {
    at: now.toISOString(),
    actor: actor.principal,
    via: actor.via,
    action: 'refused',
    comment: error.message,
    details: { code: error.code, ...details },
  });
}
