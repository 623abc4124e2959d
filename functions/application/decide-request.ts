import { assertMayApprove, assertMayDeny } from '../domain/authz.js';
import { PolicyRefusedError } from '../domain/errors.js';
import { applyEvent, type LifecycleEvent } from '../domain/lifecycle.js';
import { refusalAudit } from '../domain/lifecycle-records.js';
import { DecisionBody, parseInput } from '../domain/schemas.js';
import type { AccessRequest, Identity } from '../domain/types.js';
import { completeApproval } from './approval-step.js';
import { retryOnConflict } from './conflict-retry.js';
import { notifyRetired } from './notifications.js';
import type { Deps } from './ports.js';
import { authorise, recordOnRequest } from './refusals.js';
import { levelOf, loadRequest } from './request-lookup.js';
import { type RequestView, viewOf } from './request-view.js';

export type Decision = 'approve' | 'deny';

export interface DecideOptions {
  /**
   * Runs on each fresh read before authorisation: the approval-link check. Returns the index of the link that
   * decides, which is marked used in the same write as the decision.
   */
  guard?: (request: AccessRequest, now: Date) => Promise<number | undefined> | number | undefined;
  /**
   * The request as the caller just read it (the link check reads it first): the first attempt decides on it
   * instead of reading again; the conditional write still refuses it if it is stale, and a retry reads fresh.
   */
  justRead?: AccessRequest;
}

/**
 * Approves or denies a pending request, or the pending extension of an active one. Refusals that matter
 * (self-approval, unlisted approver) are audited in the same transaction. The N-th approval completes the
 * workflow's approval step; a denial fails it with 'Denied'. Approvers whose links were retired are told.
 */
export async function decideRequest(
  input: { requestId: string; caller: Identity; decision: Decision; comment?: string | undefined },
  deps: Deps,
  options: DecideOptions = {},
): Promise<RequestView> {
  let justRead = options.justRead?.id === input.requestId ? options.justRead : undefined;
  const { before, saved } = await retryOnConflict(async () => {
    const now = deps.clock.now();
    const request = justRead ?? (await loadRequest(deps, input.requestId));
    justRead = undefined;
    const linkIndex = options.guard ? await options.guard(request, now) : undefined;
    const { level } = levelOf(deps, request);
    await authorise(deps, request, input.caller, () => {
      if (input.decision === 'approve') assertMayApprove(input.caller, request, level, now);
      else assertMayDeny(input.caller, request, level, now);
    });
    await assertWindowOpen(deps, request, input.caller, now);
    const extending = request.status === 'ACTIVE' && request.extension !== undefined;
    const comment = input.comment ? { comment: input.comment } : {};
    const event: LifecycleEvent = extending
      ? {
          type: input.decision === 'approve' ? 'extension-approve' : 'extension-deny',
          by: input.caller,
          ...comment,
        }
      : { type: input.decision, by: input.caller, ...comment };
    const { next, audit } = applyEvent(request, event, { level, now });
    const at = now.toISOString();
    const marked =
      linkIndex === undefined
        ? next
        : {
            ...next,
            approvalLinks: next.approvalLinks.map((link, i) => {
              if (i !== linkIndex) return link;
              const { retiredAt: _retired, ...open } = link;
              return { ...open, usedAt: at };
            }),
          };
    const saved = await deps.requests.transition(request, marked, audit);
    return { before: request, saved };
  });
  await afterDecision(deps, before, saved, input.caller);
  return viewOf(saved);
}

/**
 * A decision after the approval deadline (or, for an extension, after the grant ran out) is refused: the
 * workflow has stopped waiting (its timeout is the deadline), so an approval stored now would never be
 * granted. The refusal is audited; the sweeper records EXPIRED.
 */
async function assertWindowOpen(deps: Deps, request: AccessRequest, caller: Identity, now: Date) {
  const closesAt =
    request.status === 'PENDING'
      ? request.approvalDeadline
      : request.status === 'ACTIVE' && request.extension
        ? request.expiresAt
        : undefined;
  if (closesAt === undefined || now.getTime() < Date.parse(closesAt)) return;
  const error = new PolicyRefusedError(
    'APPROVAL_WINDOW_CLOSED',
    request.status === 'PENDING'
      ? `the approval window of this request closed at ${closesAt}`
      : `the grant ended at ${closesAt}; the extension can no longer be decided`,
    { details: { closedAt: closesAt } },
  );
  await recordOnRequest(deps, request, refusalAudit(request, caller, error, now));
  throw error;
}

async function afterDecision(deps: Deps, before: AccessRequest, saved: AccessRequest, by: Identity) {
  const who = by.email ?? by.principal;
  if (before.status === 'PENDING' && saved.status === 'APPROVED') {
    await completeApproval(deps, saved, { outcome: 'approved' });
    await notifyRetired(deps, before, saved, 'approved', who);
  } else if (saved.status === 'DENIED') {
    await completeApproval(deps, saved, { error: 'Denied', cause: 'denied by an approver' });
    await notifyRetired(deps, before, saved, 'denied', who);
  } else if (before.extension && !saved.extension && saved.status === 'ACTIVE') {
    // The record says the later time at once (the workflow and the sweeper key on it). The in-database guard
    // (PostgreSQL VALID UNTIL) moves at the next credentials fetch or when the workflow reaches the old
    // expiry: this function faces callers and reaches no database.
    const approved = saved.expiresAt !== before.expiresAt;
    await notifyRetired(deps, before, saved, approved ? 'extension approved' : 'extension denied', who);
  }
}

/** The API's approve/deny: body is `{comment?}`. */
export async function decideFromApi(
  input: { requestId: string; caller: Identity; decision: Decision; body: unknown },
  deps: Deps,
): Promise<RequestView> {
  const body = parseInput(DecisionBody, input.body);
  return decideRequest({ ...input, comment: body.comment }, deps);
}
