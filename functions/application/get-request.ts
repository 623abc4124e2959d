import type { Identity } from '../domain/types.js';
import type { Deps } from './ports.js';
import { loadViewable } from './refusals.js';
import { type RequestView, viewOf } from './request-view.js';

/** One request, for its requester, its approvers, whoever already decided it and its reviewers. */
export async function getRequest(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<RequestView> {
  return viewOf(await loadViewable(deps, input.requestId, input.caller));
}
