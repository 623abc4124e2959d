import { assertMayCancel } from '../domain/authz.js';
import { applyEvent } from '../domain/lifecycle.js';
import { DecisionBody, parseInput } from '../domain/schemas.js';
import type { Identity } from '../domain/types.js';
import { completeApproval } from './approval-step.js';
import { retryOnConflict } from './conflict-retry.js';
import { notifyRetired } from './notifications.js';
import type { Deps } from './ports.js';
import { loadAuthorised } from './refusals.js';
import { levelOf } from './request-lookup.js';
import { type RequestView, viewOf } from './request-view.js';

/** The requester withdraws a request not yet granted; the workflow's approval step fails with 'Cancelled'. */
export async function cancelRequest(
  input: { requestId: string; caller: Identity; body: unknown },
  deps: Deps,
): Promise<RequestView> {
  const body = parseInput(DecisionBody, input.body);
  const { before, saved } = await retryOnConflict(async () => {
    const request = await loadAuthorised(deps, input.requestId, input.caller, assertMayCancel);
    const { level } = levelOf(deps, request);
    const { next, audit } = applyEvent(
      request,
      { type: 'cancel', by: input.caller, ...(body.comment ? { comment: body.comment } : {}) },
      { level, now: deps.clock.now() },
    );
    return { before: request, saved: await deps.requests.transition(request, next, audit) };
  });
  if (before.status === 'PENDING') {
    await completeApproval(deps, saved, { error: 'Cancelled', cause: 'cancelled by the requester' });
  }
  await notifyRetired(deps, before, saved, 'cancelled by the requester');
  return viewOf(saved);
}
