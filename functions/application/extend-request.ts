import { approversOf, assertEligible, assertMayExtend } from '../domain/authz.js';
import { PolicyRefusedError } from '../domain/errors.js';
import { evaluateExtension } from '../domain/evaluate.js';
import { applyEvent } from '../domain/lifecycle.js';
import { emailRecipients, linksOrNotices } from '../domain/link-tokens.js';
import { ExtendBody, parseInput } from '../domain/schemas.js';
import type { Identity } from '../domain/types.js';
import { retryOnConflict } from './conflict-retry.js';
import { emailLinks } from './notifications.js';
import type { Deps } from './ports.js';
import { authorise, loadAuthorised } from './refusals.js';
import { levelOf } from './request-lookup.js';
import { type RequestView, viewOf } from './request-view.js';

/**
 * More time on an active grant. Within the level's auto-approve allowance it applies at once (the database's
 * own expiry moves first); beyond it, approvers get extension links and decide.
 */
export async function extendRequest(
  input: { requestId: string; caller: Identity; body: unknown },
  deps: Deps,
): Promise<RequestView> {
  const body = parseInput(ExtendBody, input.body);
  let emails: { approver: string; token?: string }[] = [];
  const saved = await retryOnConflict(async () => {
    const now = deps.clock.now();
    const request = await loadAuthorised(deps, input.requestId, input.caller, assertMayExtend);
    if (request.status === 'ACTIVE' && request.expiresAt && Date.parse(request.expiresAt) <= now.getTime()) {
      // Its revoke is due (the workflow or the sweeper is on it): more time now would race the revoke.
      throw new PolicyRefusedError('REQUEST_NOT_ACTIVE', `the grant expired at ${request.expiresAt}`, {
        details: { status: request.status, expiresAt: request.expiresAt },
      });
    }
    const { level } = levelOf(deps, request);
    await authorise(deps, request, input.caller, () =>
      assertEligible(input.caller, level, {
        targetId: request.targetId,
        level: request.level,
        breakGlass: request.breakGlass,
      }),
    );
    const { autoApproved, extension } = evaluateExtension(request, body, level, now);
    const { next, audit } = applyEvent(
      request,
      { type: 'extension-requested', by: input.caller, extension, autoApproved },
      { level, now },
    );
    if (autoApproved) return deps.requests.transition(request, next, audit);
    // The decision has to land before the grant runs out, and within the level's approval window.
    const deadline = Math.min(
      Date.parse(request.expiresAt ?? extension.requestedAt),
      now.getTime() + level.approvalWindow * 1000,
    );
    const { issued, mail } = linksOrNotices(
      request,
      level,
      emailRecipients(approversOf(request, level, now), request),
      'extension',
      { closesAt: new Date(deadline).toISOString(), now },
      () => deps.ids.secret(),
    );
    emails = mail;
    return deps.requests.transition(
      request,
      { ...next, approvalLinks: [...next.approvalLinks, ...issued.map((i) => i.link)] },
      audit,
    );
  });
  if (emails.length > 0) {
    const { target } = levelOf(deps, saved);
    await emailLinks(deps, saved, target, emails, { purpose: 'extension' });
  }
  return viewOf(saved);
}
