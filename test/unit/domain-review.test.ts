import { describe, expect, it } from 'vitest';
import { viewOf } from '../../functions/application/request-view.js';
import { assertMayView, isReviewer, reviewersOf } from '../../functions/domain/authz.js';
import { applyReview } from '../../functions/domain/lifecycle.js';
import { isFlagged } from '../../functions/domain/lifecycle-records.js';
import { Policy } from '../../functions/domain/policy-schema.js';
import type { AccessRequest, Identity } from '../../functions/domain/types.js';
import { at, carol, codeOf, freshRequest, NOW, policyInput, requester } from './support/domain-fixtures.js';

/** The fixture policy plus a security team (global) and a DBA lead (the target's reviewer). */
const reviewed = Policy.parse({
  ...policyInput,
  reviewers: ['audit@example.com', 'arn:aws:iam::123456789012:role/SecurityAudit'],
  targets: policyInput.targets.map((t) => ({
    ...t,
    reviewers: ['dba-lead@example.com', 'erin@example.com'],
  })),
});
const target = reviewed.targets[0];
if (!target) throw new Error('fixture has no target');

const person = (email: string): Identity => ({ principal: email, email, via: 'local' });
const security = person('security@example.com'); // the breakglass level's notify address
const auditor = person('audit@example.com');
const dbaLead = person('dba-lead@example.com');
const stranger = person('mallory@example.com');

const breakGlass = freshRequest({ level: 'breakglass', breakGlass: true, duration: 1800 });
const read = freshRequest({ level: 'read', duration: 600 });

describe('reviewersOf', () => {
  it("is the policy's reviewers, the target's and the level's break-glass notify addresses, once each", () => {
    expect(reviewersOf(reviewed, target, target.levels.breakglass)).toEqual([
      'audit@example.com',
      'arn:aws:iam::123456789012:role/SecurityAudit',
      'dba-lead@example.com',
      'erin@example.com',
      'security@example.com',
    ]);
    expect(reviewersOf(reviewed, target, target.levels.read)).toEqual([
      'audit@example.com',
      'arn:aws:iam::123456789012:role/SecurityAudit',
      'dba-lead@example.com',
      'erin@example.com',
    ]);
  });

  it('is only the global list when the target or the level left the policy', () => {
    const global = ['audit@example.com', 'arn:aws:iam::123456789012:role/SecurityAudit'];
    expect(reviewersOf(reviewed, undefined, undefined)).toEqual(global);
    expect(reviewersOf(reviewed, target, undefined)).toEqual(global);
  });
});

describe('isReviewer', () => {
  it("makes a break-glass notify address a reviewer of that level's requests only", () => {
    expect(isReviewer(security, reviewed, breakGlass)).toBe(true);
    expect(isReviewer(security, reviewed, read)).toBe(false);
  });

  it('makes global and target reviewers reviewers of every request on the target', () => {
    for (const request of [breakGlass, read]) {
      expect(isReviewer(auditor, reviewed, request)).toBe(true);
      expect(isReviewer(dbaLead, reviewed, request)).toBe(true);
      expect(isReviewer(stranger, reviewed, request)).toBe(false);
    }
  });

  it('matches an ARN reviewer pattern against a session of that role', () => {
    const session: Identity = {
      principal: 'arn:aws:sts::123456789012:assumed-role/SecurityAudit/anyone',
      via: 'iam',
    };
    expect(isReviewer(session, reviewed, read)).toBe(true);
  });

  it('never matches an email reviewer pattern against an identity without that trusted email', () => {
    const chosenName: Identity = {
      principal: 'arn:aws:sts::123456789012:assumed-role/Engineer/security@example.com',
      via: 'iam',
    };
    expect(isReviewer(chosenName, reviewed, breakGlass)).toBe(false);
    expect(isReviewer({ principal: 'security@example.com', via: 'iam' }, reviewed, breakGlass)).toBe(false);
  });

  it('keeps only global reviewers once the target or level is gone from the policy', () => {
    const orphanLevel: AccessRequest = { ...breakGlass, level: 'retired' };
    const orphanTarget: AccessRequest = { ...breakGlass, targetId: 'retired-db' };
    for (const request of [orphanLevel, orphanTarget]) {
      expect(isReviewer(auditor, reviewed, request)).toBe(true);
      expect(isReviewer(dbaLead, reviewed, request)).toBe(false);
      expect(isReviewer(security, reviewed, request)).toBe(false);
    }
  });
});

describe('assertMayView for reviewers', () => {
  it('lets a reviewer view a request they neither made nor may approve, and still refuses anyone else', () => {
    const level = target.levels.breakglass;
    expect(codeOf(() => assertMayView(security, breakGlass, level, NOW, reviewed))).toBe('none');
    expect(codeOf(() => assertMayView(auditor, breakGlass, undefined, NOW, reviewed))).toBe('none');
    expect(codeOf(() => assertMayView(stranger, breakGlass, level, NOW, reviewed))).toBe('NOT_ALLOWED');
  });
});

describe('applyReview', () => {
  it('records who acknowledged a break-glass request and when, with no status change', () => {
    const { next, audit } = applyReview(breakGlass, security, {
      policy: reviewed,
      now: at(60),
      comment: 'ok',
    });
    expect(next.status).toBe(breakGlass.status);
    expect(next.review).toEqual({
      by: 'security@example.com',
      email: 'security@example.com',
      at: at(60).toISOString(),
      comment: 'ok',
      via: 'local',
    });
    expect(audit).toEqual({
      at: at(60).toISOString(),
      actor: 'security@example.com',
      via: 'local',
      action: 'reviewed',
      fromStatus: breakGlass.status,
      toStatus: breakGlass.status,
      comment: 'ok',
    });
    expect(isFlagged(breakGlass)).toBe(true);
    expect(isFlagged(next)).toBe(false);
    expect(viewOf(breakGlass).flagged).toBe(true);
    expect(viewOf(next).flagged).toBe(false);
    expect(viewOf(read).flagged).toBe(false);
  });

  it('refuses a second acknowledgement, a request that is not break-glass, a non-reviewer and the requester', () => {
    const { next } = applyReview(breakGlass, security, { policy: reviewed, now: at(60) });
    const review = (request: AccessRequest, who: Identity) => () =>
      applyReview(request, who, { policy: reviewed, now: at(120) });
    expect(codeOf(review(next, auditor))).toBe('ALREADY_REVIEWED');
    expect(codeOf(review(read, auditor))).toBe('NOT_FLAGGED');
    expect(codeOf(review(breakGlass, stranger))).toBe('NOT_A_REVIEWER');
    expect(codeOf(review(breakGlass, carol))).toBe('NOT_A_REVIEWER'); // an approver is not a reviewer
    // erin is a target reviewer too, but never of her own request
    expect(codeOf(review(breakGlass, requester))).toBe('SELF_REVIEW_FORBIDDEN');
  });
});
