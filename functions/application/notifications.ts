/** Emails that follow a stored change: approval links, and notices to approvers whose links it retired. */
import type { Target } from '../domain/policy-schema.js';
import type { AccessRequest, ApprovalLink } from '../domain/types.js';
import { approvalRequestEmail, decidedEmail } from '../views/emails.js';
import type { Deps } from './ports.js';
import { factsOf, targetOf } from './request-lookup.js';

/** Sends an email; a failed send is logged (without content) and does not undo the decision already stored. */
export async function sendSafely(
  deps: Deps,
  email: Parameters<Deps['mailer']['send']>[0],
  requestId: string,
) {
  try {
    await deps.mailer.send(email);
  } catch (error) {
    deps.log.warn('email not sent', {
      requestId,
      recipients: email.to.length,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}

/** Approvers whose links this transition retired (they had an open link before, not after). */
export function retiredApprovers(before: readonly ApprovalLink[], after: readonly ApprovalLink[]): string[] {
  const open = (l: ApprovalLink) => l.usedAt === undefined && l.retiredAt === undefined;
  const out = new Set<string>();
  after.forEach((link, i) => {
    const was = before[i];
    if (was && open(was) && link.retiredAt !== undefined && link.usedAt === undefined) out.add(link.approver);
  });
  return [...out];
}

/** Tells approvers with retired links that the request was decided. */
export async function notifyRetired(
  deps: Deps,
  before: AccessRequest,
  after: AccessRequest,
  outcome: string,
  by?: string,
): Promise<void> {
  // Whoever already decided knows; only the others are told.
  const decided = new Set(
    [...after.approvals, ...(after.denial ? [after.denial] : [])].flatMap((d) => [d.by, d.email ?? d.by]),
  );
  const to = retiredApprovers(before.approvalLinks, after.approvalLinks).filter((a) => !decided.has(a));
  const target = targetOf(deps, after);
  if (to.length === 0 || !target) return;
  await sendSafely(
    deps,
    decidedEmail(factsOf(after, target), { to, outcome, ...(by ? { by } : {}) }),
    after.id,
  );
}

/** Emails each recipient their own approval link, or (no token) a notice to decide through the API. */
export async function emailLinks(
  deps: Deps,
  request: AccessRequest,
  target: Target,
  issued: { approver: string; token?: string | undefined }[],
  options: { purpose: ApprovalLink['purpose']; escalation?: boolean },
): Promise<void> {
  const base = deps.publicBaseUrl.replace(/\/+$/, '');
  for (const { approver, token } of issued) {
    const email = approvalRequestEmail(factsOf(request, target), {
      to: approver,
      ...(token ? { link: `${base}/approvals/${token}` } : {}),
      ...(options.purpose === 'extension' && request.extension ? { extension: request.extension } : {}),
      ...(options.escalation ? { escalation: true } : {}),
    });
    await sendSafely(deps, email, request.id);
  }
}
