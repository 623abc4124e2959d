import { applyReview } from '../domain/lifecycle.js';
import { DecisionBody, parseInput } from '../domain/schemas.js';
import type { Identity } from '../domain/types.js';
import { retryOnConflict } from './conflict-retry.js';
import type { Deps } from './ports.js';
import { authorise } from './refusals.js';
import { loadRequest } from './request-lookup.js';
import { type RequestView, viewOf } from './request-view.js';

/**
 * A reviewer acknowledges a break-glass request: it leaves the flagged list, and the acknowledgement is
 * audited in the same transaction. Refusals of standing (not a reviewer, one's own request) are audited too.
 */
export async function reviewRequest(
  input: { requestId: string; caller: Identity; body: unknown },
  deps: Deps,
): Promise<RequestView> {
  const body = parseInput(DecisionBody, input.body);
  const saved = await retryOnConflict(async () => {
    const request = await loadRequest(deps, input.requestId);
    const reviewed = await authorise(deps, request, input.caller, () =>
      applyReview(request, input.caller, {
        policy: deps.policy.policy(),
        now: deps.clock.now(),
        comment: body.comment,
      }),
    );
    return deps.requests.transition(request, reviewed.next, reviewed.audit);
  });
  return viewOf(saved);
}
