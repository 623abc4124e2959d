/** A stored request and what it means in the current policy: its target, its level, the grant it asks for. */
import { RequestNotFoundError } from '../domain/errors.js';
import { findLevel } from '../domain/evaluate.js';
import type { AccessLevel, Target } from '../domain/policy-schema.js';
import type { AccessRequest } from '../domain/types.js';
import type { RequestFacts } from '../views/render.js';
import type { Deps, GrantSpec } from './ports.js';

export async function loadRequest(deps: Deps, requestId: string): Promise<AccessRequest> {
  const request = await deps.requests.get(requestId);
  if (!request) throw new RequestNotFoundError(requestId);
  return request;
}

/** The request's target and level in the current policy; UNKNOWN_TARGET / UNKNOWN_LEVEL if either left it. */
export function levelOf(deps: Deps, request: AccessRequest): { target: Target; level: AccessLevel } {
  return findLevel(deps.policy.policy(), request.targetId, request.level);
}

/**
 * The request's level in the current policy, or undefined when it left the policy: only the requester (and
 * past deciders, reviewers) still see it or revoke it, and the lifecycle refuses a decision without it.
 */
export function levelOrUndefined(deps: Deps, request: AccessRequest): AccessLevel | undefined {
  try {
    return levelOf(deps, request).level;
  } catch {
    return undefined;
  }
}

/** The request's target if the policy still names it (a level may have been removed since). */
export function targetOf(deps: Deps, request: AccessRequest): Target | undefined {
  return deps.policy.policy().targets.find((t) => t.id === request.targetId);
}

export function grantSpec(
  request: AccessRequest,
  target: Target,
  level: AccessLevel,
  expiresAt: Date,
): GrantSpec {
  return {
    requestId: request.id,
    dbUser: request.dbUser,
    target,
    privileges: request.privileges,
    expiresAt,
    connectionLimit: request.once ? 1 : level.connectionLimit,
    ...(request.once ? { once: true } : {}),
  };
}

export function factsOf(request: AccessRequest, target: Target): RequestFacts {
  return { request, target: { id: target.id, environment: target.environment, engine: target.engine } };
}
