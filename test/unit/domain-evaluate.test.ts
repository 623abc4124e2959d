import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../functions/domain/errors.js';
import { evaluateExtension, findLevel } from '../../functions/domain/evaluate.js';
import { type AccessRequest, GENESIS_HASH, type Identity } from '../../functions/domain/types.js';
import {
  at,
  domainErrorFrom,
  evaluate,
  freshRequest,
  levelOf,
  policy,
  REQUEST_ID,
  requester,
} from './support/domain-fixtures.js';

function codeOf(fn: () => unknown): { code: ErrorCode; message: string } {
  const e = domainErrorFrom(fn);
  if (!e) throw new Error('expected a DomainError');
  return { code: e.code, message: e.message };
}

describe('evaluateNewRequest: refusals', () => {
  it('refuses an unknown target', () => {
    expect(codeOf(() => evaluate({ target: 'nope' }))).toEqual({
      code: 'UNKNOWN_TARGET',
      message: "no target 'nope' in the policy",
    });
  });

  it('refuses an unknown level, including names of Object.prototype members', () => {
    expect(codeOf(() => evaluate({ level: 'admin' }))).toEqual({
      code: 'UNKNOWN_LEVEL',
      message: "target 'orders-db' has no level 'admin'",
    });
    expect(codeOf(() => evaluate({ level: 'constructor' })).code).toBe('UNKNOWN_LEVEL');
    expect(codeOf(() => evaluate({ level: '__proto__' })).code).toBe('UNKNOWN_LEVEL');
  });

  it('refuses a duration past the level maximum', () => {
    expect(codeOf(() => evaluate({ duration: 3601 }))).toEqual({
      code: 'DURATION_EXCEEDS_MAX',
      message: '1h1s exceeds the maximum of 1h',
    });
  });

  it('accepts exactly the level maximum', () => {
    expect(evaluate({ duration: 3600 }).request.durationSeconds).toBe(3600);
  });

  it('refuses a missing or blank reason when the level requires one', () => {
    expect(codeOf(() => evaluate({ reason: undefined })).code).toBe('REASON_REQUIRED');
    expect(codeOf(() => evaluate({ reason: '' }))).toEqual({
      code: 'REASON_REQUIRED',
      message: 'a reason is required for this level',
    });
  });

  it('accepts no reason when the level waives it', () => {
    expect(evaluate({ level: 'self', reason: undefined }).request.reason).toBe('');
  });

  it('refuses a missing ticket when the level has a ticket pattern', () => {
    expect(codeOf(() => evaluate({ level: 'write' }))).toEqual({
      code: 'TICKET_REQUIRED',
      message: 'a ticket is required for this level',
    });
    expect(codeOf(() => evaluate({ level: 'write', ticket: '' })).code).toBe('TICKET_REQUIRED');
  });

  it.each([['JIRA-1'], ['INC-'], ['INC-12x'], ['xINC-12']])('refuses the ticket %s', (ticket) => {
    expect(codeOf(() => evaluate({ level: 'write', ticket }))).toEqual({
      code: 'TICKET_INVALID',
      message: 'the ticket does not match ^(INC|CHG)-[0-9]+$',
    });
  });

  it('refuses a scope outside the level', () => {
    expect(codeOf(() => evaluate({ scope: { schemas: [{ name: 'billing' }] } }))).toEqual({
      code: 'SCOPE_NOT_IN_LEVEL',
      message: "schema 'billing' is not in this level",
    });
  });

  it('refuses break-glass on a level that does not allow it', () => {
    expect(codeOf(() => evaluate({ level: 'write', ticket: 'INC-1', breakGlass: true }))).toEqual({
      code: 'BREAK_GLASS_NOT_ALLOWED',
      message: "level 'write' does not allow break-glass",
    });
  });

  it('caps break-glass at its own maximum duration', () => {
    expect(codeOf(() => evaluate({ level: 'breakglass', breakGlass: true, duration: 1801 }))).toEqual({
      code: 'DURATION_EXCEEDS_MAX',
      message: '30m1s exceeds the maximum of 30m',
    });
  });

  it('requires a reason for break-glass', () => {
    expect(
      codeOf(() => evaluate({ level: 'breakglass', breakGlass: true, reason: '', duration: 1800 })).code,
    ).toBe('REASON_REQUIRED');
  });
});

describe('evaluateNewRequest: outcomes', () => {
  it('leaves a request above the auto-approve duration PENDING with its approval window', () => {
    const { request, audit } = evaluate({ duration: 3600 });
    expect(request).toEqual({
      id: REQUEST_ID,
      requester: requester.principal,
      requesterEmail: 'erin@example.com',
      targetId: 'orders-db',
      level: 'read',
      privileges: {
        roles: [],
        schemas: [{ name: 'public', tables: '*', privileges: ['SELECT'], defaultPrivileges: false }],
      },
      reason: 'investigate INC-1',
      durationSeconds: 3600,
      breakGlass: false,
      autoApproved: false,
      status: 'PENDING',
      version: 0,
      createdAt: '2025-03-01T10:00:00.000Z',
      updatedAt: '2025-03-01T10:00:00.000Z',
      approvalDeadline: '2025-03-01T11:00:00.000Z',
      approvalsRequired: 1,
      approvals: [],
      dbUser: `jit_${REQUEST_ID}`,
      extensions: [],
      revokeAttempts: 0,
      approvalLinks: [],
      auditSeq: 0,
      auditHead: GENESIS_HASH,
    } satisfies AccessRequest);
    expect(audit).toEqual({
      at: '2025-03-01T10:00:00.000Z',
      actor: requester.principal,
      via: 'iam',
      action: 'requested',
      toStatus: 'PENDING',
      comment: 'investigate INC-1',
      details: {
        targetId: 'orders-db',
        level: 'read',
        durationSeconds: 3600,
        approvalsRequired: 1,
        scoped: false,
      },
    });
  });

  it('auto-approves when every auto-approve condition holds', () => {
    const { request, audit } = evaluate({ duration: 900 });
    expect(request.status).toBe('APPROVED');
    expect(request.autoApproved).toBe(true);
    expect(request.breakGlass).toBe(false);
    expect(request.approvalsRequired).toBe(0);
    expect(request.approvalDeadline).toBeUndefined();
    expect(audit.action).toBe('auto-approved');
    expect(audit.toStatus).toBe('APPROVED');
  });

  it('auto-approves only requesters matching the rule', () => {
    const robot: Identity = { principal: 'arn:aws:sts::123456789012:assumed-role/Robot/ci', via: 'iam' };
    expect(evaluate({ level: 'self' }, robot).request.status).toBe('APPROVED');
    expect(evaluate({ level: 'self' }, requester).request.status).toBe('PENDING');
  });

  it('approves break-glass at once, flags it and names who is told', () => {
    const { request, audit } = evaluate({ level: 'breakglass', breakGlass: true, duration: 1800 });
    expect(request.status).toBe('APPROVED');
    expect(request.breakGlass).toBe(true);
    expect(request.autoApproved).toBe(false);
    expect(request.privileges).toEqual({ roles: ['pg_read_all_data', 'pg_write_all_data'], schemas: [] });
    expect(audit).toEqual({
      at: '2025-03-01T10:00:00.000Z',
      actor: requester.principal,
      via: 'iam',
      action: 'break-glass',
      toStatus: 'APPROVED',
      comment: 'investigate INC-1',
      details: {
        targetId: 'orders-db',
        level: 'breakglass',
        durationSeconds: 1800,
        approvalsRequired: 0,
        scoped: false,
        notify: 'security@example.com',
      },
    });
  });

  it('without breakGlass, a break-glass level goes through approvers like any other', () => {
    expect(evaluate({ level: 'breakglass', duration: 3600 }).request.status).toBe('PENDING');
  });

  it('sets escalation, approvals required, the ticket, scope and idempotency key', () => {
    const { request, audit } = evaluate({
      level: 'write',
      ticket: 'CHG-7',
      duration: 7200,
      scope: { schemas: [{ name: 'billing' }] },
      idempotencyKey: 'k-1',
    });
    expect(request.status).toBe('PENDING');
    expect(request.approvalsRequired).toBe(2);
    expect(request.approvalDeadline).toBe('2025-03-01T11:00:00.000Z');
    expect(request.escalateAt).toBe('2025-03-01T10:30:00.000Z');
    expect(request.escalated).toBe(false);
    expect(request.ticket).toBe('CHG-7');
    expect(request.idempotencyKey).toBe('k-1');
    expect(request.scope).toEqual({ schemas: [{ name: 'billing' }] });
    expect(request.privileges).toEqual({
      roles: [],
      schemas: [{ name: 'billing', tables: ['invoices'], privileges: ['SELECT'], defaultPrivileges: false }],
    });
    expect(audit.details).toEqual({
      targetId: 'orders-db',
      level: 'write',
      durationSeconds: 7200,
      approvalsRequired: 2,
      scoped: true,
      ticket: 'CHG-7',
    });
  });

  it('finds a level with its target', () => {
    expect(findLevel(policy, 'orders-db', 'read').target.id).toBe('orders-db');
  });
});

function activeRequest(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    ...freshRequest({ level: 'write', ticket: 'INC-1', duration: 3600 }),
    status: 'ACTIVE',
    grant: {
      dbUser: `jit_${REQUEST_ID}`,
      engine: 'postgres',
      kind: 'password',
      host: '127.0.0.1',
      port: 5432,
      database: 'orders',
      grantedAt: '2025-03-01T10:00:00.000Z',
      expiresAt: '2025-03-01T11:00:00.000Z',
    },
    expiresAt: '2025-03-01T11:00:00.000Z',
    ...overrides,
  };
}

/** A read grant of 30 minutes (read allows 1h in total). */
function activeRead(overrides: Partial<AccessRequest> = {}): AccessRequest {
  const base = activeRequest({ level: 'read', expiresAt: '2025-03-01T10:30:00.000Z' });
  const grant = base.grant ? { ...base.grant, expiresAt: '2025-03-01T10:30:00.000Z' } : undefined;
  return { ...base, ...(grant ? { grant } : {}), ...overrides };
}

/** Asks, a minute in, to extend `request` on the write level (two approvals, no auto-approve allowance). */
function extendWrite(request: AccessRequest, duration: number) {
  return evaluateExtension(request, { duration, reason: 'r' }, levelOf('write'), at(60));
}

describe('evaluateExtension', () => {
  it('auto-approves within autoApproveUpTo in total', () => {
    expect(
      evaluateExtension(activeRead(), { duration: 900, reason: 'more' }, levelOf('read'), at(600)),
    ).toEqual({
      autoApproved: true,
      extension: {
        id: `${REQUEST_ID}-x1`,
        durationSeconds: 900,
        reason: 'more',
        requestedBy: requester.principal,
        requestedAt: '2025-03-01T10:10:00.000Z',
        approvalsRequired: 0,
        approvals: [],
        newExpiresAt: '2025-03-01T10:45:00.000Z',
      },
    });
  });

  it('needs approvers once earlier extensions used up the auto-approve allowance', () => {
    const request = activeRead({
      extensions: [{ durationSeconds: 600, approvedAt: '', newExpiresAt: '', by: 'system' }],
    });
    const result = evaluateExtension(request, { duration: 600, reason: 'more' }, levelOf('read'), at(600));
    expect(result.autoApproved).toBe(false);
    expect(result.extension.approvalsRequired).toBe(1);
    expect(result.extension.id).toBe(`${REQUEST_ID}-x2`);
  });

  it('needs the level approvals when there is no auto-approve allowance', () => {
    const result = extendWrite(activeRequest(), 3600);
    expect(result.autoApproved).toBe(false);
    expect(result.extension.approvalsRequired).toBe(2);
    expect(result.extension.newExpiresAt).toBe('2025-03-01T12:00:00.000Z');
  });

  it('refuses past maxTotal counted from grantedAt', () => {
    expect(
      codeOf(() =>
        evaluateExtension(activeRequest(), { duration: 7201, reason: 'r' }, levelOf('write'), at(60)),
      ),
    ).toEqual({
      code: 'EXTENSION_EXCEEDS_MAX',
      message: 'the grant would last 3h1s, past the maximum of 3h',
    });
    expect(
      evaluateExtension(activeRequest(), { duration: 7200, reason: 'r' }, levelOf('write'), at(60)).extension
        .newExpiresAt,
    ).toBe('2025-03-01T13:00:00.000Z');
  });

  it('defaults maxTotal to the level maxDuration', () => {
    expect(
      codeOf(() => evaluateExtension(activeRead(), { duration: 1860, reason: 'r' }, levelOf('read'), at(60))),
    ).toEqual({
      code: 'EXTENSION_EXCEEDS_MAX',
      message: 'the grant would last 1h1m, past the maximum of 1h',
    });
  });

  it('refuses on a level that allows no extensions', () => {
    expect(
      codeOf(() =>
        evaluateExtension(activeRequest(), { duration: 60, reason: 'r' }, levelOf('breakglass'), at(60)),
      ),
    ).toEqual({ code: 'EXTENSION_EXCEEDS_MAX', message: "level 'write' allows no extensions" });
  });

  it('refuses unless ACTIVE', () => {
    for (const status of ['PENDING', 'APPROVED', 'REVOKE_FAILED', 'REVOKED'] as const) {
      expect(codeOf(() => extendWrite(activeRequest({ status }), 60))).toEqual({
        code: 'REQUEST_NOT_ACTIVE',
        message: `the request is ${status}, not ACTIVE`,
      });
    }
  });

  it('refuses while another extension is pending', () => {
    const pending = extendWrite(activeRequest(), 60);
    expect(codeOf(() => extendWrite(activeRequest({ extension: pending.extension }), 60))).toEqual({
      code: 'EXTENSION_PENDING',
      message: 'an extension is already waiting for approval',
    });
  });
});
