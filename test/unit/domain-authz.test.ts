import { describe, expect, it } from 'vitest';
import {
  approversOf,
  assertMayApprove,
  assertMayCancel,
  assertMayDeny,
  assertMayExtend,
  assertMayFetchCredentials,
  assertMayRevoke,
  assertMayView,
  isRequester,
  matchesPrincipal,
  requestableTargets,
} from '../../functions/domain/authz.js';
import { type AccessRequest, type Identity, SYSTEM } from '../../functions/domain/types.js';
import {
  alice,
  at,
  bob,
  carol,
  codeOf,
  dave,
  freshRequest,
  levelOf,
  NOW,
  oncall,
  policy,
  requester,
} from './support/domain-fixtures.js';

const id = (principal: string, email?: string): Identity => ({
  principal,
  ...(email ? { email } : {}),
  via: 'iam',
});

describe('matchesPrincipal', () => {
  it('matches an email pattern against the email, case-insensitively', () => {
    expect(matchesPrincipal('Alice@Example.com', id('arn:aws:iam::1:user/alice', 'alice@example.COM'))).toBe(
      true,
    );
  });

  it('matches an email pattern against a trusted email, case-insensitively', () => {
    expect(
      matchesPrincipal('alice@example.com', {
        principal: 'ALICE@example.com',
        email: 'ALICE@example.com',
        via: 'approval-link',
      }),
    ).toBe(true);
  });

  it('never matches an email pattern against a principal without a trusted email', () => {
    const session = 'arn:aws:sts::123456789012:assumed-role/Engineer/alice@example.com';
    expect(matchesPrincipal('alice@example.com', { principal: session, via: 'iam' })).toBe(false);
  });

  it('does not match an email against a substring or another address', () => {
    expect(matchesPrincipal('alice@example.com', id('malice@example.com', 'malice@example.com'))).toBe(false);
    expect(matchesPrincipal('alice@example.com', id('arn:aws:iam::1:user/alice'))).toBe(false);
  });

  it('matches an ARN pattern with * as any run of characters, anchored', () => {
    const pattern = 'arn:aws:sts::123456789012:assumed-role/Dba/*';
    expect(matchesPrincipal(pattern, id('arn:aws:sts::123456789012:assumed-role/Dba/carol'))).toBe(true);
    expect(matchesPrincipal(pattern, id('arn:aws:sts::123456789012:assumed-role/Dba/'))).toBe(true);
    expect(matchesPrincipal(pattern, id('arn:aws:sts::123456789012:assumed-role/DbaX/carol'))).toBe(false);
    expect(matchesPrincipal(pattern, id('xarn:aws:sts::123456789012:assumed-role/Dba/carol'))).toBe(false);
    expect(matchesPrincipal('arn:aws:iam::*:role/Admin', id('arn:aws:iam::42:role/Admin'))).toBe(true);
    expect(matchesPrincipal('arn:aws:iam::*:role/Admin', id('arn:aws:iam::42:role/Admin2'))).toBe(false);
  });

  it('treats regex characters in ARN patterns literally', () => {
    expect(matchesPrincipal('arn:aws:iam::1:user/a.b', id('arn:aws:iam::1:user/axb'))).toBe(false);
    expect(matchesPrincipal('arn:aws:iam::1:user/a+', id('arn:aws:iam::1:user/aa'))).toBe(false);
    expect(matchesPrincipal('arn:aws:iam::1:user/(a|b)', id('arn:aws:iam::1:user/(a|b)'))).toBe(true);
  });

  it('matches ARN patterns case-sensitively and never against the email', () => {
    expect(matchesPrincipal('arn:aws:iam::1:user/Alice', id('arn:aws:iam::1:user/alice'))).toBe(false);
    expect(matchesPrincipal('arn:aws:iam::1:user/*', id('alice@example.com', 'arn:aws:iam::1:user/x'))).toBe(
      false,
    );
  });

  it('lets * span slashes and newlines cannot sneak past the anchor', () => {
    expect(matchesPrincipal('arn:aws:iam::1:*', id('arn:aws:iam::1:role/a/b/c'))).toBe(true);
    expect(matchesPrincipal('arn:aws:iam::1:user/a', id('arn:aws:iam::1:user/a\nx'))).toBe(false);
  });
});

describe('approversOf', () => {
  const write = freshRequest({ level: 'write', ticket: 'INC-1' });

  it('lists the rule approvers before escalation is due', () => {
    expect(approversOf(write, levelOf('write'), at(1799))).toEqual([
      'alice@example.com',
      'bob@example.com',
      'arn:aws:sts::123456789012:assumed-role/Dba/*',
    ]);
  });

  it('adds the escalation approvers once escalateAt has passed', () => {
    expect(approversOf(write, levelOf('write'), at(1800))).toEqual([
      'alice@example.com',
      'bob@example.com',
      'arn:aws:sts::123456789012:assumed-role/Dba/*',
      'dba-oncall@example.com',
    ]);
  });

  it('adds them when escalation was recorded, whatever the clock says', () => {
    expect(approversOf({ ...write, escalated: true }, levelOf('write'), NOW)).toContain(
      'dba-oncall@example.com',
    );
  });
});

describe('assertMayApprove', () => {
  const read = freshRequest();
  const write = freshRequest({ level: 'write', ticket: 'INC-1' });

  it('lets a listed approver approve', () => {
    expect(codeOf(() => assertMayApprove(alice, read, levelOf('read'), NOW))).toBe('none');
    expect(codeOf(() => assertMayApprove(carol, write, levelOf('write'), NOW))).toBe('none');
  });

  it('refuses someone who is not an approver', () => {
    expect(codeOf(() => assertMayApprove(dave, read, levelOf('read'), NOW))).toBe('NOT_AN_APPROVER');
  });

  it('refuses an escalation approver before escalation and accepts them after', () => {
    expect(codeOf(() => assertMayApprove(oncall, write, levelOf('write'), at(1799)))).toBe('NOT_AN_APPROVER');
    expect(codeOf(() => assertMayApprove(oncall, write, levelOf('write'), at(1800)))).toBe('none');
  });

  it('refuses self-approval by the same principal', () => {
    const own = freshRequest({}, alice);
    expect(codeOf(() => assertMayApprove(alice, own, levelOf('read'), NOW))).toBe('SELF_APPROVAL_FORBIDDEN');
  });

  it('refuses self-approval by the same email through another channel', () => {
    const own = freshRequest({}, id('arn:aws:sts::1:assumed-role/Engineer/alice', 'Alice@example.com'));
    const viaLink: Identity = { principal: 'alice@example.com', via: 'approval-link' };
    expect(codeOf(() => assertMayApprove(viaLink, own, levelOf('read'), NOW))).toBe(
      'SELF_APPROVAL_FORBIDDEN',
    );
  });

  it('refuses self-approval even for someone who is not an approver (recorded as self-approval)', () => {
    expect(codeOf(() => assertMayApprove(requester, read, levelOf('read'), NOW))).toBe(
      'SELF_APPROVAL_FORBIDDEN',
    );
  });

  it('allows self-approval where the level allows it', () => {
    const own = freshRequest({ level: 'self' });
    expect(codeOf(() => assertMayApprove(requester, own, levelOf('self'), NOW))).toBe('none');
  });

  it('refuses a second approval from the same approver', () => {
    const approved: AccessRequest = {
      ...write,
      approvals: [
        { by: 'alice@example.com', email: 'alice@example.com', at: NOW.toISOString(), via: 'local' },
      ],
    };
    expect(codeOf(() => assertMayApprove(alice, approved, levelOf('write'), NOW))).toBe(
      'ALREADY_APPROVED_BY_YOU',
    );
    expect(codeOf(() => assertMayApprove(bob, approved, levelOf('write'), NOW))).toBe('none');
  });

  it('refuses a second approval from the same person through another channel', () => {
    const approved: AccessRequest = {
      ...write,
      approvals: [{ by: carol.principal, email: 'carol@example.com', at: NOW.toISOString(), via: 'iam' }],
    };
    const carolByLink: Identity = { principal: 'carol@example.com', via: 'approval-link' };
    expect(codeOf(() => assertMayApprove({ ...carol }, approved, levelOf('write'), NOW))).toBe(
      'ALREADY_APPROVED_BY_YOU',
    );
    // carol's link identity is not an approver by email (only by role ARN), so it stops earlier
    expect(codeOf(() => assertMayApprove(carolByLink, approved, levelOf('write'), NOW))).toBe(
      'NOT_AN_APPROVER',
    );
  });

  it("checks a pending extension's approvals on an ACTIVE request", () => {
    const active: AccessRequest = {
      ...write,
      status: 'ACTIVE',
      approvals: [{ by: 'alice@example.com', at: NOW.toISOString(), via: 'local' }],
      extension: {
        id: 'x1',
        durationSeconds: 60,
        reason: 'r',
        requestedBy: requester.principal,
        requestedAt: NOW.toISOString(),
        approvalsRequired: 2,
        approvals: [{ by: 'bob@example.com', at: NOW.toISOString(), via: 'approval-link' }],
        newExpiresAt: NOW.toISOString(),
      },
    };
    expect(codeOf(() => assertMayApprove(alice, active, levelOf('write'), NOW))).toBe('none');
    expect(codeOf(() => assertMayApprove(bob, active, levelOf('write'), NOW))).toBe(
      'ALREADY_APPROVED_BY_YOU',
    );
  });
});

describe('assertMayDeny', () => {
  const read = freshRequest();

  it('lets an approver deny, even one who approved earlier', () => {
    const approved = {
      ...read,
      approvals: [{ by: 'alice@example.com', at: NOW.toISOString(), via: 'local' as const }],
    };
    expect(codeOf(() => assertMayDeny(alice, approved, levelOf('read'), NOW))).toBe('none');
  });

  it.each<[string, Identity, string]>([
    ['refuses a non-approver', dave, 'NOT_AN_APPROVER'],
    ['refuses the requester', requester, 'SELF_APPROVAL_FORBIDDEN'],
  ])('%s', (_title, who, code) => {
    expect(codeOf(() => assertMayDeny(who, read, levelOf('read'), NOW))).toBe(code);
  });
});

describe('assertMayRevoke', () => {
  const read = freshRequest();

  it.each<[string, Identity, 'read' | undefined, string]>([
    ['lets the requester revoke', requester, 'read', 'none'],
    ['lets an approver revoke', bob, 'read', 'none'],
    ['lets the system revoke', SYSTEM, undefined, 'none'],
    ['refuses anyone else', dave, 'read', 'NOT_ALLOWED'],
    ['refuses approvers of a level no longer in the policy', bob, undefined, 'NOT_ALLOWED'],
  ])('%s', (_title, who, level, code) => {
    expect(codeOf(() => assertMayRevoke(who, read, level && levelOf(level), NOW))).toBe(code);
  });
});

describe('assertMayFetchCredentials', () => {
  const active: AccessRequest = { ...freshRequest(), status: 'ACTIVE' };

  it('gives credentials to the requester of an ACTIVE request', () => {
    expect(codeOf(() => assertMayFetchCredentials(requester, active))).toBe('none');
  });

  it('refuses anyone but the requester, approvers included', () => {
    expect(codeOf(() => assertMayFetchCredentials(alice, active))).toBe('NOT_REQUESTER');
  });

  it.each([
    ['PENDING'],
    ['APPROVED'],
    ['DENIED'],
    ['EXPIRED'],
    ['CANCELLED'],
    ['FAILED'],
    ['REVOKE_FAILED'],
    ['REVOKED'],
  ] as const)('refuses while %s', (status) => {
    expect(codeOf(() => assertMayFetchCredentials(requester, { ...active, status }))).toBe(
      'REQUEST_NOT_ACTIVE',
    );
  });
});

describe('assertMayView', () => {
  const write = freshRequest({ level: 'write', ticket: 'INC-1' });

  it('lets the requester and approvers view', () => {
    expect(codeOf(() => assertMayView(requester, write, levelOf('write'), NOW, policy))).toBe('none');
    expect(codeOf(() => assertMayView(carol, write, levelOf('write'), NOW, policy))).toBe('none');
  });

  it('lets escalation approvers view once escalated', () => {
    expect(codeOf(() => assertMayView(oncall, write, levelOf('write'), NOW, policy))).toBe('NOT_ALLOWED');
    expect(codeOf(() => assertMayView(oncall, write, levelOf('write'), at(1800), policy))).toBe('none');
  });

  it('lets someone who decided view it even after the policy dropped them', () => {
    const decided = {
      ...write,
      denial: { by: 'dave@example.com', at: NOW.toISOString(), via: 'local' as const },
    };
    expect(codeOf(() => assertMayView(dave, decided, undefined, NOW, policy))).toBe('none');
  });

  it('refuses anyone else', () => {
    expect(codeOf(() => assertMayView(dave, write, levelOf('write'), NOW, policy))).toBe('NOT_ALLOWED');
  });
});

describe('assertMayCancel and assertMayExtend', () => {
  const read = freshRequest();

  it('are for the requester only', () => {
    expect(codeOf(() => assertMayCancel(requester, read))).toBe('none');
    expect(codeOf(() => assertMayCancel(alice, read))).toBe('NOT_REQUESTER');
    expect(codeOf(() => assertMayExtend(requester, read))).toBe('none');
    expect(codeOf(() => assertMayExtend(alice, read))).toBe('NOT_REQUESTER');
  });

  it('recognise the requester by email too', () => {
    const erin = { principal: 'ERIN@example.com', email: 'ERIN@example.com', via: 'approval-link' } as const;
    expect(isRequester(erin, read)).toBe(true);
  });
});

describe('requestableTargets', () => {
  it('lists every target and level with its headline facts, and no connection details', () => {
    const targets = requestableTargets(policy, requester);
    expect(targets).toHaveLength(1);
    const target = targets[0];
    expect(target).toMatchObject({
      id: 'orders-db',
      engine: 'postgres',
      environment: 'production',
      credentialKind: 'password',
    });
    expect(JSON.stringify(targets)).not.toContain('127.0.0.1');
    expect(target?.levels.map((l) => l.name)).toEqual(['read', 'write', 'breakglass', 'self']);
    expect(target?.levels[0]).toEqual({
      name: 'read',
      maxDuration: 3600,
      approvers: ['alice@example.com', 'bob@example.com'],
      approvalsRequired: 1,
      autoApproveUpTo: 900,
      requireReason: true,
      breakGlass: false,
      extensionAutoApproveUpTo: 900,
      privileges: ['SELECT'],
      schemas: ['public'],
      requests: ['window'],
    });
    expect(target?.levels[1]).toMatchObject({ approvalsRequired: 2, ticketPattern: '^(INC|CHG)-[0-9]+$' });
    expect(target?.levels[1]?.autoApproveUpTo).toBeUndefined();
    expect(target?.levels[2]).toMatchObject({
      breakGlass: true,
      privileges: ['pg_read_all_data', 'pg_write_all_data'],
      extensionAutoApproveUpTo: 0,
    });
  });

  it('shows auto-approval only to requesters the rule names', () => {
    const robot: Identity = { principal: 'arn:aws:sts::123456789012:assumed-role/Robot/ci', via: 'iam' };
    expect(requestableTargets(policy, robot)[0]?.levels[3]?.autoApproveUpTo).toBe(3600);
    expect(requestableTargets(policy, requester)[0]?.levels[3]?.autoApproveUpTo).toBeUndefined();
  });
});
