import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { samePerson } from './identity.js';
import { isRequestId } from './naming.js';
import type { AccessLevel } from './policy-schema.js';
import type { AccessRequest, ApprovalLink } from './types.js';

/**
 * Emailed approval links. Each approver gets their own token `<requestId>.<secret>`, where the secret is 32
 * random bytes in base64url; the request keeps only sha256(secret), bound to that approver, a purpose and an
 * expiry. A link decides once; when anyone else decides, the remaining links are retired.
 *
 * CSRF: stateless double-submit. The confirmation page embeds HMAC-SHA256(secret, "csrf:" + requestId) in its
 * form; the POST must carry it back. Only someone who rendered the page (and so holds the secret) can produce
 * it, nothing is stored, and a scanner POSTing the bare link without the form field decides nothing.
 */

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export type LinkPurpose = ApprovalLink['purpose'];

export interface ParsedLinkToken {
  requestId: string;
  secret: string;
}

/** Splits a token into its request id and secret; undefined for anything not shaped like one. */
export function parseLinkToken(token: string): ParsedLinkToken | undefined {
  if (token.length !== 26 + 1 + 43) return undefined;
  const [requestId, secret, ...rest] = token.split('.');
  if (rest.length > 0 || !isRequestId(requestId) || secret === undefined || !SECRET_PATTERN.test(secret)) {
    return undefined;
  }
  return { requestId, secret };
}

/** The request id part of a token-like string, if it names a well-formed id (for auditing forged tokens). */
export function requestIdPartOf(token: string): string | undefined {
  const head = token.split('.')[0];
  return isRequestId(head) ? head : undefined;
}

export function hashLinkSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export interface IssuedLink {
  approver: string;
  /** The full token, for the email only; never stored or logged. */
  token: string;
  link: ApprovalLink;
}

/** New links, one per email approver; `secret` comes from the injected CSPRNG (Ids.secret). */
export function issueLinks(
  requestId: string,
  approvers: readonly string[],
  purpose: LinkPurpose,
  expiresAt: string,
  secret: () => string,
): IssuedLink[] {
  return approvers.map((approver) => {
    const value = secret();
    if (!SECRET_PATTERN.test(value)) throw new RangeError('a link secret must be 32 bytes of base64url');
    return {
      approver,
      token: `${requestId}.${value}`,
      link: { approver, tokenHash: hashLinkSecret(value), purpose, expiresAt },
    };
  });
}

/**
 * Whether a request's email approvers get links. A link's approver is known only by a mailbox, so the link path
 * can rule out self-approval only when the requester is a known person too (a trusted email); otherwise, and
 * where the level turns links off, approvers are told by email and decide through the API (signed callers).
 */
export function linksAllowed(request: AccessRequest, level: AccessLevel): boolean {
  return level.approvalLinks && request.requesterEmail !== undefined;
}

/** Email approvers who are told about a request (with a link, or without where links are not allowed): never the requester. */
export function emailRecipients(patterns: readonly string[], request: AccessRequest): string[] {
  const requester = { principal: request.requester, email: request.requesterEmail };
  return emailApprovers(patterns).filter((email) => !samePerson({ principal: email, email }, requester));
}

/**
 * The links to mail for a request: a link per recipient where links are allowed, else a notice without one.
 * `token` is absent on a notice.
 */
export function linksOrNotices(
  request: AccessRequest,
  level: AccessLevel,
  recipients: readonly string[],
  purpose: LinkPurpose,
  window: { closesAt: string; now: Date },
  secret: () => string,
): { issued: IssuedLink[]; mail: { approver: string; token?: string }[] } {
  if (!linksAllowed(request, level))
    return { issued: [], mail: recipients.map((approver) => ({ approver })) };
  // A bearer token: it works until the window closes or the level's linkLifetime has passed, whichever is first.
  const lifetimeEnds = window.now.getTime() + level.linkLifetime * 1000;
  const expiresAt = new Date(Math.min(Date.parse(window.closesAt), lifetimeEnds)).toISOString();
  const issued = issueLinks(request.id, recipients, purpose, expiresAt, secret);
  return { issued, mail: issued.map(({ approver, token }) => ({ approver, token })) };
}

/** The approver patterns that can receive a link: email addresses (ARN patterns use the API instead). */
export function emailApprovers(patterns: readonly string[]): string[] {
  return [
    ...new Set(patterns.filter((p) => !p.startsWith('arn:') && p.includes('@')).map((p) => p.toLowerCase())),
  ];
}

export type LinkCheck =
  | { ok: true; index: number; link: ApprovalLink }
  | {
      ok: false;
      code: 'APPROVAL_LINK_INVALID' | 'APPROVAL_LINK_USED' | 'APPROVAL_LINK_EXPIRED';
      index?: number;
    };

/**
 * Finds the link whose hash matches the secret. Every stored hash is compared in constant time (no early exit),
 * so timing does not reveal how many links exist or which one nearly matched.
 */
export function checkLink(request: AccessRequest, secret: string, now: Date): LinkCheck {
  const presented = Buffer.from(hashLinkSecret(secret), 'hex');
  let found = -1;
  request.approvalLinks.forEach((link, i) => {
    const stored = Buffer.from(link.tokenHash, 'hex');
    const equal = stored.length === presented.length && timingSafeEqual(stored, presented);
    if (equal && found === -1) found = i;
  });
  const link = request.approvalLinks[found];
  if (!link) return { ok: false, code: 'APPROVAL_LINK_INVALID' };
  if (link.usedAt !== undefined || link.retiredAt !== undefined) {
    return { ok: false, code: 'APPROVAL_LINK_USED', index: found };
  }
  if (now.getTime() >= Date.parse(link.expiresAt))
    return { ok: false, code: 'APPROVAL_LINK_EXPIRED', index: found };
  return { ok: true, index: found, link };
}

/** The CSRF value the confirmation page embeds (see the module comment for why it is derived, not stored). */
export function csrfTokenFor(parsed: ParsedLinkToken): string {
  return createHmac('sha256', parsed.secret).update(`csrf:${parsed.requestId}`).digest('base64url');
}

export function verifyCsrf(parsed: ParsedLinkToken, presented: string): boolean {
  const expected = Buffer.from(csrfTokenFor(parsed), 'utf8');
  const given = Buffer.from(presented, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Retires every still-open link (of a purpose, or all): the request was decided some other way. */
export function retireOpenLinks(
  links: readonly ApprovalLink[],
  at: string,
  purpose?: LinkPurpose,
): ApprovalLink[] {
  return links.map((link) =>
    link.usedAt === undefined &&
    link.retiredAt === undefined &&
    (purpose === undefined || link.purpose === purpose)
      ? { ...link, retiredAt: at }
      : link,
  );
}
