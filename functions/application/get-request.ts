import type { Identity } from '../domain/types.js';
import { loadViewable, type RequestView, viewOf } from './common.js';
import type { Deps } from './ports.js';

/** One request, for its requester, its approvers, whoever already decided it and its reviewers. */
export async function getRequest(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<RequestView> {
  return viewOf(await loadViewable(deps, input.requestId, input.caller));
}
