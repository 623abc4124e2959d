import { describe, expect, it } from 'vitest';
import {
  checkLink,
  csrfTokenFor,
  emailApprovers,
  hashLinkSecret,
  issueLinks,
  linksOrNotices,
  parseLinkToken,
  retireOpenLinks,
  verifyCsrf,
} from '../../functions/domain/link-tokens.js';
import { freshRequest, levelOf, NOW, REQUEST_ID } from './support/domain-fixtures.js';

const SECRETS = ['A'.repeat(43), 'B'.repeat(43), 'C'.repeat(43)];
const EXPIRES = '2025-03-01T11:00:00.000Z';

function secrets() {
  let i = 0;
  return () => SECRETS[i++] ?? 'Z'.repeat(43);
}

/** Request links for alice and bob, with the secrets SECRETS[0] and SECRETS[1], open until EXPIRES. */
function linksForAliceAndBob() {
  return issueLinks(REQUEST_ID, ['alice@example.com', 'bob@example.com'], 'request', EXPIRES, secrets());
}

describe('approval link tokens', () => {
  it('gives each approver their own token and keeps only the SHA-256 of its secret', () => {
    const issued = linksForAliceAndBob();
    expect(issued.map((i) => i.token)).toEqual([
      `${REQUEST_ID}.${SECRETS[0]}`,
      `${REQUEST_ID}.${SECRETS[1]}`,
    ]);
    expect(issued[0]?.link).toEqual({
      approver: 'alice@example.com',
      tokenHash: hashLinkSecret(SECRETS[0] ?? ''),
      purpose: 'request',
      expiresAt: EXPIRES,
    });
    expect(JSON.stringify(issued.map((i) => i.link))).not.toContain(SECRETS[0]);
  });

  it('parses only well-formed tokens', () => {
    expect(parseLinkToken(`${REQUEST_ID}.${SECRETS[0]}`)).toEqual({
      requestId: REQUEST_ID,
      secret: SECRETS[0],
    });
    expect(parseLinkToken(`${REQUEST_ID}.short`)).toBeUndefined();
    expect(parseLinkToken(`NOTANID.${SECRETS[0]}`)).toBeUndefined();
    expect(parseLinkToken(`${REQUEST_ID}.${SECRETS[0]}.x`)).toBeUndefined();
  });

  it('accepts an open link, refuses a used, retired, expired or unknown one', () => {
    const issued = linksForAliceAndBob();
    const request = { ...freshRequest(), approvalLinks: issued.map((i) => i.link) };
    expect(checkLink(request, SECRETS[1] ?? '', NOW)).toMatchObject({ ok: true, index: 1 });
    expect(checkLink(request, SECRETS[2] ?? '', NOW)).toEqual({ ok: false, code: 'APPROVAL_LINK_INVALID' });
    expect(checkLink(request, SECRETS[0] ?? '', new Date(EXPIRES))).toEqual({
      ok: false,
      code: 'APPROVAL_LINK_EXPIRED',
      index: 0,
    });
    const retired = { ...request, approvalLinks: retireOpenLinks(request.approvalLinks, NOW.toISOString()) };
    expect(checkLink(retired, SECRETS[0] ?? '', NOW)).toEqual({
      ok: false,
      code: 'APPROVAL_LINK_USED',
      index: 0,
    });
  });

  it('refuses a token of request A presented on request B', () => {
    const other = '01jn9x7k2m0000000000000001';
    const issuedForA = issueLinks(REQUEST_ID, ['alice@example.com'], 'request', EXPIRES, secrets());
    const requestB = { ...freshRequest(), id: other, approvalLinks: [] };
    expect(checkLink(requestB, SECRETS[0] ?? '', NOW)).toEqual({ ok: false, code: 'APPROVAL_LINK_INVALID' });
    expect(issuedForA[0]?.token.startsWith(REQUEST_ID)).toBe(true);
  });

  it('derives a CSRF value only the link holder can produce', () => {
    const parsed = { requestId: REQUEST_ID, secret: SECRETS[0] ?? '' };
    const csrf = csrfTokenFor(parsed);
    expect(verifyCsrf(parsed, csrf)).toBe(true);
    expect(verifyCsrf({ ...parsed, secret: SECRETS[1] ?? '' }, csrf)).toBe(false);
    expect(verifyCsrf(parsed, '')).toBe(false);
  });

  it('sends links to email approvers only', () => {
    expect(emailApprovers(['Alice@Example.com', 'arn:aws:iam::1:role/x*', 'alice@example.com'])).toEqual([
      'alice@example.com',
    ]);
  });
});

describe('link lifetime', () => {
  const recipients = ['alice@example.com'];
  const closesAt = '2025-03-03T10:00:00.000Z'; // a two-day window
  const requestLinks = (level: ReturnType<typeof levelOf>) =>
    linksOrNotices(freshRequest(), level, recipients, 'request', { closesAt, now: NOW }, secrets());

  it("ends a link at the level's linkLifetime (24 h by default) when the window is longer", () => {
    const level = levelOf('read');
    expect(level.linkLifetime).toBe(24 * 3600);
    const { issued } = requestLinks(level);
    expect(issued[0]?.link.expiresAt).toBe('2025-03-02T10:00:00.000Z');
  });

  it('never lets a link outlive the window it decides in', () => {
    const level = { ...levelOf('read'), linkLifetime: 7 * 86400 };
    const { issued } = requestLinks(level);
    expect(issued[0]?.link.expiresAt).toBe(closesAt);
  });

  it('issues no link at all where the level turns links off, only a notice', () => {
    const level = { ...levelOf('read'), approvalLinks: false };
    const out = requestLinks(level);
    expect(out).toEqual({ issued: [], mail: [{ approver: 'alice@example.com' }] });
  });
});
