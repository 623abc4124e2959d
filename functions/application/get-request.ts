import { assertMayView } from '../domain/authz.js';
import type { Identity } from '../domain/types.js';
import { levelOrUndefined, loadRequest, type RequestView, viewOf } from './common.js';
import type { Deps } from './ports.js';

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
