import { TargetUnavailableError } from '../domain/errors.js';
import { applyEvent } from '../domain/lifecycle.js';
import type { AccessRequest, Identity, RevokeReason } from '../domain/types.js';
import type { Deps } from './ports.js';
import { levelOrUndefined, loadRequest, targetOf } from './request-lookup.js';

/**
 * The one revoke: drops the request's database user (ordered, idempotent) and records REVOKED. A request
 * already REVOKED is returned as is. Throws ConflictError if the request changed meanwhile (callers retry).
 * With `dueBy`, a grant whose (fresh) expiresAt is later — an extension landed meanwhile — is left alone.
 */
export async function revokeGrant(
  deps: Deps,
  requestId: string,
  reason: RevokeReason,
  by?: Identity,
  options: { dueBy?: Date } = {},
): Promise<AccessRequest> {
  const request = await loadRequest(deps, requestId);
  if (request.status === 'REVOKED') return request;
  const { dueBy } = options;
  if (
    dueBy !== undefined &&
    request.status === 'ACTIVE' &&
    request.expiresAt !== undefined &&
    Date.parse(request.expiresAt) > dueBy.getTime()
  ) {
    return request;
  }
  const target = targetOf(deps, request);
  if (!target) throw new TargetUnavailableError(request.targetId, new Error('the target left the policy'));
  const report = await deps.provisioners
    .for(target)
    .revoke({ requestId: request.id, dbUser: request.dbUser, target });
  // A level gone from the policy still lets a grant be revoked: by the system, or by its requester.
  const { next, audit } = applyEvent(
    request,
    { type: 'revoked', reason, sessionsTerminated: report.sessionsTerminated, ...(by ? { by } : {}) },
    { level: levelOrUndefined(deps, request), now: deps.clock.now() },
  );
  return deps.requests.transition(request, next, audit);
}
