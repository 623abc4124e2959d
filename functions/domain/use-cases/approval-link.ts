import type { Deps } from '../../ports.js';
import {
  checkLink,
  csrfTokenFor,
  linksAllowed,
  type ParsedLinkToken,
  parseLinkToken,
  requestIdPartOf,
  verifyCsrf,
} from '../approval-links.js';
import type { RequestFacts } from '../emails.js';
import { DomainError, type ErrorCode } from '../errors.js';
import type { AccessRequest, AuditDraft, Identity, PendingExtension } from '../types.js';
import { factsOf, levelOf, recordOnRequest, securityStream } from './common.js';
import { type Decision, decideRequest } from './decide-request.js';
import { levelOrUndefined } from './get-request.js';

type LinkRefusalCode = Extract<
  ErrorCode,
  | 'APPROVAL_LINK_INVALID'
  | 'APPROVAL_LINK_USED'
  | 'APPROVAL_LINK_EXPIRED'
  | 'CSRF_TOKEN_INVALID'
  | 'LINK_APPROVAL_UNAVAILABLE'
>;

const MESSAGES: Record<LinkRefusalCode, string> = {
  APPROVAL_LINK_INVALID:
    'This approval link is not valid. Use the link from your email, or decide in the API.',
  APPROVAL_LINK_USED: 'This approval link was already used, or the request was decided by someone else.',
  APPROVAL_LINK_EXPIRED: 'The approval window of this request has ended.',
  CSRF_TOKEN_INVALID: 'Open the link again and decide with the buttons on the confirmation page.',
  LINK_APPROVAL_UNAVAILABLE:
    'This request cannot be decided by link: a link cannot tell its approver from the requester here. Decide with a signed request: jitdb approve <id> (or deny).',
};

export class ApprovalLinkRefusedError extends DomainError {
  constructor(code: LinkRefusalCode) {
    super(code, MESSAGES[code]);
  }
}

export interface ConfirmationModel {
  facts: RequestFacts;
  approver: string;
  csrf: string;
  expiresAt: string;
  extension?: PendingExtension;
}

function linkIdentity(approver: string): Identity {
  return { principal: approver, email: approver, via: 'approval-link' };
}

/** The audit event of a refused link: who it was issued to when known, the code, never the token. */
function linkRefusedAudit(
  now: Date,
  code: LinkRefusalCode,
  request: AccessRequest | undefined,
  approver: string | undefined,
  method: 'GET' | 'POST',
): AuditDraft {
  return {
    at: now.toISOString(),
    actor: approver ?? 'anonymous',
    via: 'approval-link',
    action: 'link-refused',
    ...(request ? { fromStatus: request.status, toStatus: request.status } : {}),
    details: { code, method },
  };
}

/** Records the refusal (on the request the token names, else on the security stream) and throws it. */
async function refuseLink(
  deps: Deps,
  code: LinkRefusalCode,
  token: string,
  method: 'GET' | 'POST',
  request?: AccessRequest,
  approver?: string,
): Promise<never> {
  const now = deps.clock.now();
  let target = request;
  if (!target) {
    const id = requestIdPartOf(token);
    target = id ? await deps.requests.get(id) : undefined;
  }
  const audit = linkRefusedAudit(now, code, target, approver, method);
  if (target) await recordOnRequest(deps, target, audit);
  else await deps.audit.appendLoose(securityStream(now), audit);
  throw new ApprovalLinkRefusedError(code);
}

/** The link's request and the link itself, or an audited refusal. */
async function resolve(deps: Deps, token: string, method: 'GET' | 'POST') {
  const parsed = parseLinkToken(token);
  if (!parsed) return refuseLink(deps, 'APPROVAL_LINK_INVALID', token, method);
  const request = await deps.requests.get(parsed.requestId);
  if (!request) return refuseLink(deps, 'APPROVAL_LINK_INVALID', token, method);
  const check = checkWithPurpose(request, parsed, deps.clock.now(), deps);
  if (!check.ok) return refuseLink(deps, check.code, token, method, request, check.approver);
  return { parsed, request, index: check.index, approver: check.approver };
}

type PurposeCheck =
  | { ok: true; index: number; approver: string }
  | { ok: false; code: LinkRefusalCode; approver?: string };

/** A valid link whose purpose was already settled (the request is no longer pending) counts as used. */
function checkWithPurpose(
  request: AccessRequest,
  parsed: ParsedLinkToken,
  now: Date,
  deps: Deps,
): PurposeCheck {
  const check = checkLink(request, parsed.secret, now);
  const approver = check.index === undefined ? undefined : request.approvalLinks[check.index]?.approver;
  if (!check.ok) return { ok: false, code: check.code, ...(approver ? { approver } : {}) };
  const open =
    check.link.purpose === 'request'
      ? request.status === 'PENDING'
      : request.status === 'ACTIVE' && request.extension !== undefined;
  if (!open) return { ok: false, code: 'APPROVAL_LINK_USED', approver: check.link.approver };
  if (!linkMayDecide(request, deps)) {
    return { ok: false, code: 'LINK_APPROVAL_UNAVAILABLE', approver: check.link.approver };
  }
  return { ok: true, index: check.index, approver: check.link.approver };
}

/** A link decides only where links are allowed now (not one issued before the policy or the requester changed). */
function linkMayDecide(request: AccessRequest, deps: Deps): boolean {
  const level = levelOrUndefined(deps, request);
  return level !== undefined && linksAllowed(request, level);
}

/** GET /approvals/{token}: what the confirmation page shows. Decides nothing. */
export async function showApprovalLink(input: { token: string }, deps: Deps): Promise<ConfirmationModel> {
  const { parsed, request, index, approver } = await resolve(deps, input.token, 'GET');
  const link = request.approvalLinks[index];
  const { target } = levelOf(deps, request);
  return {
    facts: factsOf(request, target),
    approver,
    csrf: csrfTokenFor(parsed),
    expiresAt: link?.expiresAt ?? '',
    ...(link?.purpose === 'extension' && request.extension ? { extension: request.extension } : {}),
  };
}

/**
 * POST /approvals/{token}: decides exactly once. The link is re-checked on every fresh read inside the
 * conditional write, so of many concurrent POSTs one decides and the rest find the link used.
 */
export async function decideByLink(
  input: { token: string; decision: Decision; csrf: string; comment?: string | undefined },
  deps: Deps,
): Promise<{ status: string }> {
  const first = await resolve(deps, input.token, 'POST');
  if (!verifyCsrf(first.parsed, input.csrf)) {
    return refuseLink(deps, 'CSRF_TOKEN_INVALID', input.token, 'POST', first.request, first.approver);
  }
  let refusal: { code: LinkRefusalCode; request: AccessRequest; approver?: string } | undefined;
  try {
    const view = await decideRequest(
      {
        requestId: first.request.id,
        caller: linkIdentity(first.approver),
        decision: input.decision,
        comment: input.comment,
      },
      deps,
      {
        guard: (request, now) => {
          const check = checkWithPurpose(request, first.parsed, now, deps);
          if (check.ok) return check.index;
          refusal = { code: check.code, request, ...(check.approver ? { approver: check.approver } : {}) };
          throw new ApprovalLinkRefusedError(check.code);
        },
      },
    );
    return { status: view.status };
  } catch (error) {
    if (error instanceof ApprovalLinkRefusedError && refusal) {
      return refuseLink(deps, refusal.code, input.token, 'POST', refusal.request, refusal.approver);
    }
    throw error;
  }
}
