import type { Deps } from '../../ports.js';
import { assertMayView } from '../authz.js';
import type { Identity } from '../types.js';
import { levelOf, loadRequest, type RequestView, viewOf } from './common.js';

/** One request, for its requester, its approvers, whoever already decided it and its reviewers. */
export async function getRequest(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<RequestView> {
  const request = await loadRequest(deps, input.requestId);
  assertMayView(
    input.caller,
    request,
    levelOrUndefined(deps, request),
    deps.clock.now(),
    deps.policy.policy(),
  );
  return viewOf(request);
}

export function levelOrUndefined(deps: Deps, request: Parameters<typeof levelOf>[1]) {
  try {
    return levelOf(deps, request).level;
  } catch {
    return undefined; // the level left the policy: only the requester (and past deciders) still see it
  }
}
