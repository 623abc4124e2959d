/** The pages of the unauthenticated approval-link route: the confirmation form and the outcome. Pure rendering. */
import type { PendingExtension } from '../domain/types.js';
import {
  approvalsLine,
  escapeHtml,
  factsHtml,
  factsOf,
  h,
  page,
  type RequestFacts,
  statementsHtml,
} from './render.js';

/**
 * The page a GET of an approval link shows: the facts, and a form whose buttons POST the decision with the
 * CSRF value. Showing it decides nothing (email scanners follow links).
 */
export function confirmationPage(
  facts: RequestFacts,
  options: {
    approver: string;
    actionUrl: string;
    csrf: string;
    extension?: PendingExtension;
    expiresAt: string;
  },
): string {
  const { request } = facts;
  const what = options.extension ? 'an extension of access' : 'access';
  return page(
    `Decide on ${what}`,
    `<p>${h(options.approver)}, ${h(request.requesterEmail ?? request.requester)} asks for ${what} to ${h(facts.target.id)}.</p>
${factsHtml(factsOf(facts, options.extension))}
${options.extension ? '' : statementsHtml(request)}
<p>Approvals so far: ${h(approvalsLine(request, options.extension))}</p>
<form method="post" action="${escapeHtml(options.actionUrl)}">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<p><label for="comment">Comment (optional)</label><br><textarea id="comment" name="comment" rows="3" maxlength="1000"></textarea></p>
<p><button type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button></p>
</form>
<p><small>This link is yours alone and works once, until ${h(options.expiresAt)}.</small></p>`,
  );
}

export type LinkOutcome =
  | { kind: 'decided'; decision: 'approve' | 'deny'; status: string }
  | { kind: 'refused'; code: string; message: string };

const REFUSAL_TITLES: Record<string, string> = {
  APPROVAL_LINK_INVALID: 'This link is not valid',
  APPROVAL_LINK_USED: 'This link was already used',
  APPROVAL_LINK_EXPIRED: 'This link has expired',
  APPROVAL_WINDOW_CLOSED: 'The approval window has closed',
  CSRF_TOKEN_INVALID: 'Please use the confirmation page',
};

/** The page after a POST, or for a link that cannot be used. Names the error code for support. */
export function linkResultPage(outcome: LinkOutcome): string {
  if (outcome.kind === 'decided') {
    const verb = outcome.decision === 'approve' ? 'approval' : 'denial';
    return page(
      outcome.decision === 'approve' ? 'Approved' : 'Denied',
      `<p>Your ${verb} was recorded. The request is now ${h(outcome.status)}.</p><p>You can close this page.</p>`,
    );
  }
  const title = REFUSAL_TITLES[outcome.code] ?? 'This link cannot be used';
  return page(title, `<p>${h(outcome.message)}</p><p><small>Code: ${escapeHtml(outcome.code)}</small></p>`);
}
