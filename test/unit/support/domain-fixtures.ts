import { expect } from 'vitest';
import { DomainError, type ErrorCode } from '../../../functions/domain/errors.js';
import { evaluateNewRequest } from '../../../functions/domain/evaluate.js';
import { type AccessLevel, Policy, type PolicyInput } from '../../../functions/domain/policy-schema.js';
import type { NewRequestBody } from '../../../functions/domain/schemas.js';
import type { AccessRequest, Identity } from '../../../functions/domain/types.js';
import { onSchema, passwordTarget } from './policy-samples.js';

/** A fixed clock for domain tests. */
export const NOW = new Date('2025-03-01T10:00:00.000Z');
export const REQUEST_ID = '01jn9x7k2m0000000000000000';

export const alice: Identity = { principal: 'alice@example.com', email: 'alice@example.com', via: 'local' };
export const bob: Identity = { principal: 'bob@example.com', email: 'bob@example.com', via: 'approval-link' };
export const carol: Identity = {
  principal: 'arn:aws:sts::123456789012:assumed-role/Dba/carol',
  email: 'carol@example.com',
  via: 'iam',
};
export const dave: Identity = { principal: 'dave@example.com', email: 'dave@example.com', via: 'local' };
export const oncall: Identity = {
  principal: 'dba-oncall@example.com',
  email: 'dba-oncall@example.com',
  via: 'approval-link',
};
export const requester: Identity = {
  principal: 'arn:aws:sts::123456789012:assumed-role/Engineer/erin',
  email: 'erin@example.com',
  via: 'iam',
};

export const policyInput: PolicyInput = {
  version: 1,
  targets: [
    passwordTarget({
      id: 'orders-db',
      environment: 'production',
      connection: { host: '127.0.0.1', port: 5432 },
      database: 'orders',
      levels: {
        read: {
          privileges: onSchema('public', 'SELECT'),
          maxDuration: '1h',
          approvers: ['alice@example.com', 'bob@example.com'],
          autoApprove: { maxDuration: '15m' },
          extension: { autoApproveUpTo: '15m' },
        },
        write: {
          privileges: {
            schemas: [
              { name: 'public', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] },
              { name: 'billing', tables: ['invoices'], privileges: ['SELECT'] },
            ],
          },
          maxDuration: '2h',
          approvers: ['alice@example.com', 'bob@example.com', 'arn:aws:sts::123456789012:assumed-role/Dba/*'],
          approvalsRequired: 2,
          approvalWindow: '1h',
          ticketPattern: '^(INC|CHG)-[0-9]+$',
          escalation: { after: '30m', approvers: ['dba-oncall@example.com'] },
          extension: { maxTotal: '3h' },
        },
        breakglass: {
          privileges: { roles: ['pg_read_all_data', 'pg_write_all_data'] },
          allowDangerousRoles: ['pg_read_all_data', 'pg_write_all_data'],
          maxDuration: '1h',
          approvers: ['arn:aws:sts::123456789012:assumed-role/Dba/*'],
          breakGlass: {
            allowed: true,
            requesters: ['erin@example.com'],
            notify: ['security@example.com'],
            maxDuration: '30m',
          },
          extension: { allowed: false },
        },
        self: {
          privileges: onSchema('public', 'SELECT'),
          maxDuration: '1h',
          approvers: ['arn:aws:sts::123456789012:assumed-role/Engineer/*'],
          allowSelfApproval: true,
          requireReason: false,
          autoApprove: { requesters: ['arn:aws:sts::123456789012:assumed-role/Robot/*'] },
        },
      },
    }),
  ],
};

export const policy: Policy = Policy.parse(policyInput);

export function levelOf(name: string): AccessLevel {
  const level = policy.targets[0]?.levels[name];
  if (!level) throw new Error(`fixture has no level ${name}`);
  return level;
}

export function newBody(overrides: Partial<NewRequestBody> = {}): NewRequestBody {
  return { target: 'orders-db', level: 'read', duration: 3600, reason: 'investigate INC-1', ...overrides };
}

/** What evaluateNewRequest makes of `newBody(overrides)` from `who` under the fixture policy at NOW. */
export function evaluate(overrides: Partial<NewRequestBody> = {}, who: Identity = requester) {
  return evaluateNewRequest({
    body: newBody(overrides),
    requester: who,
    policy,
    now: NOW,
    requestId: REQUEST_ID,
  });
}

/** A freshly evaluated request, before any event. */
export function freshRequest(
  overrides: Partial<NewRequestBody> = {},
  who: Identity = requester,
): AccessRequest {
  return evaluate(overrides, who).request;
}

/** The DomainError `fn` throws (failing the test if it throws anything else), or undefined if it returns. */
export function domainErrorFrom(fn: () => unknown): DomainError | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  return undefined;
}

/** The code of the DomainError `fn` throws, or 'none' if it returns. */
export function codeOf(fn: () => unknown): ErrorCode | 'none' {
  return domainErrorFrom(fn)?.code ?? 'none';
}

export function at(offsetSeconds: number): Date {
  return new Date(NOW.getTime() + offsetSeconds * 1000);
}
