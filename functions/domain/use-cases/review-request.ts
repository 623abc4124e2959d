import type { Deps } from '../../ports.js';
import { ForbiddenError } from '../errors.js';
import { applyReview } from '../lifecycle.js';
import { DecisionBody, parseInput } from '../schemas.js';
import type { Identity } from '../types.js';
import { loadRequest, type RequestView, refuse, retryOnConflict, viewOf } from './common.js';

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
    let reviewed: ReturnType<typeof applyReview>;
    try {
      reviewed = applyReview(request, input.caller, {
        policy: deps.policy.policy(),
        now: deps.clock.now(),
        comment: body.comment,
      });
    } catch (error) {
      if (error instanceof ForbiddenError) await refuse(deps, request, input.caller, error);
      throw error;
    }
    return deps.requests.transition(request, reviewed.next, reviewed.audit);
  });
  return viewOf(saved);
}
