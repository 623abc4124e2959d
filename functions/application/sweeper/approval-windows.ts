import { isEscalated } from '../../domain/authz.js';
import { ConflictError } from '../../domain/errors.js';
import { applyEvent } from '../../domain/lifecycle.js';
import { emailRecipients, linksOrNotices } from '../../domain/link-tokens.js';
import { completeApproval } from '../approval-step.js';
import { retryOnConflict } from '../conflict-retry.js';
import { expireUndecided } from '../failures.js';
import { listAllByStatus } from '../list-requests.js';
import { emailLinks, notifyRetired } from '../notifications.js';
import type { Deps } from '../ports.js';
import { levelOf, loadRequest } from '../request-lookup.js';
import type { SweepReport } from './report.js';

/** Expires PENDING requests past their approval deadline (as of `now`) and escalates those past escalateAt. */
export async function sweepApprovalWindows(deps: Deps, now: Date, report: SweepReport): Promise<void> {
  for (const request of await listAllByStatus(deps, 'PENDING')) {
    try {
      if (request.approvalDeadline && Date.parse(request.approvalDeadline) <= now.getTime()) {
        if (await expire(deps, request.id)) report.expired++;
      } else if (request.escalateAt && request.escalated !== true && isEscalated(request, now)) {
        if (await escalate(deps, request.id)) report.escalated++;
      }
    } catch (error) {
      if (!(error instanceof ConflictError)) report.errors++; // a conflict: someone decided it meanwhile
    }
  }
}

/** Expires a PENDING request past its deadline; false when it was decided meanwhile. */
async function expire(deps: Deps, requestId: string): Promise<boolean> {
  const expired = await retryOnConflict(async () => {
    const request = await loadRequest(deps, requestId);
    if (!request.approvalDeadline || Date.parse(request.approvalDeadline) > deps.clock.now().getTime())
      return undefined;
    const saved = await expireUndecided(deps, request);
    return saved && { request, saved };
  });
  if (!expired) return false;
  const { request, saved } = expired;
  await completeApproval(deps, request, { error: 'Cancelled', cause: 'the approval window ended' });
  await notifyRetired(deps, request, saved, 'expired without a decision');
  return true;
}

async function escalate(deps: Deps, requestId: string): Promise<boolean> {
  const escalated = await retryOnConflict(async () => {
    const request = await loadRequest(deps, requestId);
    const now = deps.clock.now();
    if (request.status !== 'PENDING' || request.escalated === true || !isEscalated(request, now))
      return undefined;
    const { target, level } = levelOf(deps, request);
    if (!level.escalation) return undefined;
    const { next, audit } = applyEvent(request, { type: 'escalated' }, { level, now });
    const already = new Set(request.approvalLinks.map((l) => l.approver));
    const { issued, mail } = linksOrNotices(
      request,
      level,
      emailRecipients(level.escalation.approvers, request).filter((a) => !already.has(a)),
      'request',
      { closesAt: request.approvalDeadline ?? now.toISOString(), now },
      () => deps.ids.secret(),
    );
    const saved = await deps.requests.transition(
      request,
      { ...next, approvalLinks: [...next.approvalLinks, ...issued.map((i) => i.link)] },
      audit,
    );
    return { saved, target, mail };
  });
  if (!escalated) return false;
  const { saved, target, mail } = escalated;
  await emailLinks(deps, saved, target, mail, { purpose: 'request', escalation: true });
  return true;
}
