import { approversOf } from '../domain/authz.js';
import { emailRecipients, linksOrNotices } from '../domain/link-tokens.js';
import type { AuditDraft } from '../domain/types.js';
import { SYSTEM } from '../domain/types.js';
import { completeApproval } from './approval-step.js';
import { retryOnConflict } from './conflict-retry.js';
import { emailLinks } from './notifications.js';
import type { Deps } from './ports.js';
import { levelOf, loadRequest } from './request-lookup.js';
import type { RequestApprovalInput } from './workflow-io.js';

/**
 * The `.waitForTaskToken` step: keeps the task token on the request (the API completes it), gives each email
 * approver a link and mails it. A retry with the same token sends nothing again. If the request was decided
 * before this step ran, the step is completed here at once.
 */
export async function requestApproval(
  input: RequestApprovalInput,
  deps: Deps,
): Promise<Record<string, never>> {
  let mail: { approver: string; token?: string }[] = [];
  const saved = await retryOnConflict(async () => {
    mail = [];
    const request = await loadRequest(deps, input.requestId);
    if (request.status !== 'PENDING' || request.taskToken === input.taskToken) return request;
    const now = deps.clock.now();
    const { level } = levelOf(deps, request);
    const deadline =
      request.approvalDeadline ?? new Date(now.getTime() + level.approvalWindow * 1000).toISOString();
    // A fresh token after the first one is a redelivery of the step: keep what was sent, just take the token.
    const redelivery =
      request.taskToken !== undefined || request.approvalLinks.some((l) => l.purpose === 'request');
    const recipients = redelivery ? [] : emailRecipients(approversOf(request, level, now), request);
    const { issued, mail: toMail } = linksOrNotices(
      request,
      level,
      recipients,
      'request',
      { closesAt: deadline, now },
      () => deps.ids.secret(),
    );
    const audit: AuditDraft = {
      at: now.toISOString(),
      actor: SYSTEM.principal,
      via: SYSTEM.via,
      action: 'approval-requested',
      fromStatus: request.status,
      toStatus: request.status,
      details: {
        approvers: toMail.length,
        links: issued.length > 0,
        approvalsRequired: request.approvalsRequired,
        deadline,
      },
    };
    const next = {
      ...request,
      taskToken: input.taskToken,
      approvalLinks: [...request.approvalLinks, ...issued.map((i) => i.link)],
    };
    const stored = await deps.requests.transition(request, next, audit);
    mail = toMail;
    return stored;
  });
  if (saved.status === 'APPROVED') {
    await completeApproval(deps, { ...saved, taskToken: input.taskToken }, { outcome: 'approved' });
  } else if (saved.status === 'DENIED' || saved.status === 'CANCELLED' || saved.status === 'EXPIRED') {
    const error = saved.status === 'DENIED' ? 'Denied' : 'Cancelled';
    await completeApproval(
      deps,
      { ...saved, taskToken: input.taskToken },
      { error, cause: `request ${saved.status}` },
    );
  } else if (mail.length > 0) {
    const { target } = levelOf(deps, saved);
    await emailLinks(deps, saved, target, mail, { purpose: 'request' });
  }
  return {};
}
