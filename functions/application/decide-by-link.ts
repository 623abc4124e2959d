import { DomainError, type ErrorCode } from '../domain/errors.js';
import { refusalSourceIp, refusalWindowOf, UNKNOWN_SCOPE } from '../domain/link-refusals.js';
import {
  checkLink,
  csrfTokenFor,
  linksAllowed,
  type ParsedLinkToken,
  parseLinkToken,
  requestIdPartOf,
  verifyCsrf,
} from '../domain/link-tokens.js';
import type { AccessRequest, AuditDraft, Identity, PendingExtension } from '../domain/types.js';
import type { RequestFacts } from '../views/render.js';
import { type Decision, decideRequest } from './decide-request.js';
import type { Deps } from './ports.js';
import { factsOf, levelOf, levelOrUndefined } from './request-lookup.js';

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

/** How a link attempt arrived: the token (never stored), the method, and API Gateway's source address. */
export interface LinkAttempt {
  token: string;
  method: 'GET' | 'POST';
  sourceIp?: string | undefined;
}

/** The audit marker of a refusal window: the first refused attempt of that minute, never the token. */
function linkRefusedMarker(
  now: Date,
  code: LinkRefusalCode,
  attempt: LinkAttempt,
  refusal: { scope: string; window: string; sourceIp: string },
  request: AccessRequest | undefined,
  approver: string | undefined,
): AuditDraft {
  const claimed = request ? undefined : requestIdPartOf(attempt.token);
  return {
    at: now.toISOString(),
    actor: approver ?? 'anonymous',
    via: 'approval-link',
    action: 'link-refused',
    ...(request ? { fromStatus: request.status, toStatus: request.status } : {}),
    details: {
      code,
      method: attempt.method,
      sourceIp: refusal.sourceIp,
      window: refusal.window,
      ...(claimed ? { claimedRequestId: claimed } : {}),
    },
  };
}

/**
 * Counts the refusal in its (request or `unknown`, minute) tally and throws it. The count never touches the
 * request item (a flood of forged links cannot slow or conflict with a decision) and never contends; a
 * valid link's repeated GET after its request was decided writes nothing (its decision is already audited).
 * `request` is the stored request the token names, when known; `lookup` says whether to look it up first.
 */
async function refuseLink(
  deps: Deps,
  code: LinkRefusalCode,
  attempt: LinkAttempt,
  known: { request?: AccessRequest; approver?: string; lookup?: boolean } = {},
): Promise<never> {
  if (code === 'APPROVAL_LINK_USED' && attempt.method === 'GET') throw new ApprovalLinkRefusedError(code);
  let request = known.request;
  if (!request && known.lookup) {
    const id = requestIdPartOf(attempt.token);
    request = id ? await deps.requests.get(id) : undefined;
  }
  const now = deps.clock.now();
  const refusal = {
    scope: request?.id ?? UNKNOWN_SCOPE,
    window: refusalWindowOf(now),
    code,
    method: attempt.method,
    sourceIp: refusalSourceIp(attempt.sourceIp),
  };
  try {
    await deps.requests.countLinkRefusal(
      refusal,
      linkRefusedMarker(now, code, attempt, refusal, request, known.approver),
    );
  } catch (error) {
    // The refusal stands either way; an outage of the tally must not turn it into a 500.
    deps.metrics.count('LinkRefusalNotCounted');
    deps.log.warn('could not count a refused approval link', {
      scope: refusal.scope,
      code,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
  throw new ApprovalLinkRefusedError(code);
}

/** The link's request and the link itself, or a counted refusal. */
async function resolve(deps: Deps, attempt: LinkAttempt) {
  const parsed = parseLinkToken(attempt.token);
  if (!parsed) return refuseLink(deps, 'APPROVAL_LINK_INVALID', attempt, { lookup: true });
  const request = await deps.requests.get(parsed.requestId);
  if (!request) return refuseLink(deps, 'APPROVAL_LINK_INVALID', attempt);
  const check = checkWithPurpose(request, parsed, deps.clock.now(), deps);
  if (!check.ok) {
    return refuseLink(deps, check.code, attempt, {
      request,
      ...(check.approver ? { approver: check.approver } : {}),
    });
  }
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
export async function showApprovalLink(
  input: { token: string; sourceIp?: string | undefined },
  deps: Deps,
): Promise<ConfirmationModel> {
  const { parsed, request, index, approver } = await resolve(deps, {
    token: input.token,
    method: 'GET',
    sourceIp: input.sourceIp,
  });
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
  input: {
    token: string;
    decision: Decision;
    csrf: string;
    comment?: string | undefined;
    sourceIp?: string | undefined;
  },
  deps: Deps,
): Promise<{ status: string }> {
  const attempt: LinkAttempt = { token: input.token, method: 'POST', sourceIp: input.sourceIp };
  const first = await resolve(deps, attempt);
  if (!verifyCsrf(first.parsed, input.csrf)) {
    return refuseLink(deps, 'CSRF_TOKEN_INVALID', attempt, {
      request: first.request,
      approver: first.approver,
    });
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
        justRead: first.request,
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
      return refuseLink(deps, refusal.code, attempt, {
        request: refusal.request,
        ...(refusal.approver ? { approver: refusal.approver } : {}),
      });
    }
    throw error;
  }
}
