import { describe, expect, it } from 'vitest';
import { DomainError, type ErrorCode } from '../../functions/domain/errors.js';
import { evaluateNewRequest } from '../../functions/domain/evaluate.js';
import { applyEvent } from '../../functions/domain/lifecycle.js';
import { Policy, type RequestKind } from '../../functions/domain/policy-schema.js';
import {
  checkStatements,
  MAX_STATEMENTS_BYTES,
  maskQuotedValues,
  StatementFailedError,
  statementsDigest,
} from '../../functions/domain/statements.js';
import { domainErrorFrom } from './support/domain-fixtures.js';
import { onSchema, passwordTarget } from './support/policy-samples.js';

const NOW = new Date('2026-03-01T10:00:00.000Z');
const REQUEST_ID = '01j9z3k4m5n6p7q8r9s0t1v2w3';
const alice = { principal: 'alice@example.com', email: 'alice@example.com', via: 'local' as const };

const policyWith = (bothRequests: RequestKind[]) =>
  Policy.parse({
    version: 1,
    targets: [
      passwordTarget({
        id: 'orders',
        database: 'orders',
        levels: {
          fix: {
            privileges: onSchema('public', 'UPDATE'),
            maxDuration: '1h',
            approvers: ['bob@example.com'],
            requests: ['statement'],
            statement: { timeout: '45s' },
          },
          both: {
            privileges: onSchema('public', 'SELECT'),
            maxDuration: '1h',
            autoApprove: {},
            requests: bothRequests,
          },
        },
      }),
    ],
  });
const policy = policyWith(['window', 'statement']);

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  return undefined;
}

const evaluate = (body: Record<string, unknown>) =>
  evaluateNewRequest({
    body: { target: 'orders', reason: 'fix', ...body } as never,
    requester: alice,
    policy,
    now: NOW,
    requestId: REQUEST_ID,
  });

describe('checkStatements', () => {
  it.each([
    ['a blank statement', ['  '], 'STATEMENT_INVALID'],
    ['only a comment and a semicolon', ['-- x\n/* y */ ;'], 'STATEMENT_INVALID'],
    ['a NUL byte', ['SELECT 1\u0000'], 'STATEMENT_INVALID'],
    ['an escape character', ['SELECT \u001b'], 'STATEMENT_INVALID'],
    ['DEL', ['SELECT \u007f'], 'STATEMENT_INVALID'],
    ['COMMIT behind a comment', ['/* harmless */ commit'], 'STATEMENT_INVALID'],
    ['ROLLBACK', ['ROLLBACK;'], 'STATEMENT_INVALID'],
    ['SET TRANSACTION', ['set  transaction read write'], 'STATEMENT_INVALID'],
    ['no statement', [], 'STATEMENT_INVALID'],
    ['21 statements', Array(21).fill('SELECT 1'), 'STATEMENT_TOO_LARGE'],
    ['more than 32 KiB', [`SELECT '${'é'.repeat(MAX_STATEMENTS_BYTES / 2)}'`], 'STATEMENT_TOO_LARGE'],
  ])('refuses %s', (_name, statements, code) => {
    expect(codeOf(() => checkStatements(statements as string[]))).toBe(code);
  });

  it.each([
    ["ALTER ROLE app PASSWORD 'hunter2'"],
    ["alter user app with encrypted password 'md5abc'"],
    ["CREATE USER app IDENTIFIED BY 'hunter2'"],
    ["ALTER USER 'app'@'%' IDENTIFIED WITH mysql_native_password BY 'hunter2'"],
    ["alter user app identified with mysql_native_password as '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'"],
    ["SET PASSWORD FOR 'app'@'%' = PASSWORD('hunter2')"],
    ["SET PASSWORD = 'hunter2'"],
    ["UPDATE app_users SET password = 'hunter2' WHERE id = 1"],
    ["CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'app', password 'hunter2')"],
    ["SELECT * FROM dblink('host=db user=app password=hunter2', 'SELECT 1') AS t(x int)"],
    ["SELECT * FROM dblink('postgres://app:hunter2@db/app', 'SELECT 1') AS t(x int)"],
    ['ALTER ROLE app PASSWORD $$hunter2$$'],
    ["ALTER ROLE app PASSWORD E'hunter2'"],
    ["ALTER ROLE app PASSWORD U&'hunter2'"],
    ["SELECT dblink_connect('host=db user=app password=''hunter2''')"],
  ])('refuses a credential in the SQL, without repeating it: %s', (statement) => {
    const error = domainErrorFrom(() => checkStatements(['SELECT 1', statement]));
    expect(error).toMatchObject({ code: 'STATEMENT_INVALID', details: { index: 1, problem: 'credential' } });
    expect(JSON.stringify(error)).not.toContain('hunter2');
  });

  it('accepts SQL that merely mentions passwords in names, comments or plain text', () => {
    expect(
      codeOf(() =>
        checkStatements([
          'SELECT password_reset_at FROM app_users WHERE id = 1',
          "UPDATE tickets SET note = 'reset the password' WHERE id = 2",
          "UPDATE tickets SET note = 'it''s the password' WHERE id = 3",
          '-- set password = x later\nSELECT 1',
          'ALTER ROLE app PASSWORD NULL',
          "SELECT 'https://docs.example.com/password' AS link",
        ]),
      ),
    ).toBeUndefined();
  });

  it('accepts multi-line SQL with tabs, comments and words that merely start like transaction control', () => {
    expect(
      codeOf(() =>
        checkStatements([
          '-- fix\r\nUPDATE orders\n\tSET total = 1\nWHERE id = 1;',
          'SELECT * FROM beginnings',
          'SELECT 1 AS commit_count',
        ]),
      ),
    ).toBeUndefined();
  });
});

describe('a statement request, evaluated', () => {
  it("keeps the SQL, its SHA-256 (also in the audit event) and the level's timeout as its duration", () => {
    const statements = ['UPDATE public.orders SET total = 0 WHERE id = 7'];
    const { request, audit } = evaluate({ level: 'fix', statements });
    expect(request).toMatchObject({
      statements,
      statementsSha256: statementsDigest(statements),
      durationSeconds: 45,
    });
    expect(request.statementsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(audit.details).toMatchObject({ statements: 1, statementsSha256: request.statementsSha256 });
    expect(request.status).toBe('PENDING');
  });

  it('refuses a window on a statement-only level, statements on a window-only one, and a duration with statements', () => {
    expect(codeOf(() => evaluate({ level: 'fix', duration: 600 }))).toBe('WINDOW_NOT_ALLOWED');
    const windowOnly = policyWith(['window']);
    expect(
      codeOf(() =>
        evaluateNewRequest({
          body: { target: 'orders', level: 'both', reason: 'x', statements: ['SELECT 1'] },
          requester: alice,
          policy: windowOnly,
          now: NOW,
          requestId: REQUEST_ID,
        }),
      ),
    ).toBe('STATEMENTS_NOT_ALLOWED');
    expect(codeOf(() => evaluate({ level: 'both', duration: 600, statements: ['SELECT 1'] }))).toBe(
      'VALIDATION_FAILED',
    );
    expect(codeOf(() => evaluate({ level: 'both' }))).toBe('VALIDATION_FAILED');
  });

  it('cannot be cancelled once its run has started, and ends EXECUTED only after it started', () => {
    const { request } = evaluate({ level: 'both', statements: ['SELECT 1'] });
    expect(request.status).toBe('APPROVED');
    const level = policy.targets[0]?.levels.both;
    expect(codeOf(() => applyEvent(request, { type: 'executed', statements: [] }, { level, now: NOW }))).toBe(
      'INVALID_TRANSITION',
    );
    const started = applyEvent(request, { type: 'execution-started' }, { level, now: NOW });
    expect(started.next).toMatchObject({ status: 'APPROVED', executionStartedAt: NOW.toISOString() });
    expect(started.audit.action).toBe('execution-started');
    expect(codeOf(() => applyEvent(started.next, { type: 'cancel', by: alice }, { level, now: NOW }))).toBe(
      'INVALID_TRANSITION',
    );
    expect(codeOf(() => applyEvent(started.next, { type: 'execution-started' }, { level, now: NOW }))).toBe(
      'INVALID_TRANSITION',
    );
    const done = applyEvent(
      started.next,
      { type: 'executed', statements: [{ command: 'SELECT', rowCount: 1 }, { rowCount: null }] },
      { level, now: NOW },
    );
    expect(done.next.status).toBe('EXECUTED');
    expect(done.audit.details).toEqual({ statements: 2, rowCounts: '1,-' });
  });
});

describe('what a failed statement may say', () => {
  it("masks MySQL's quoted values and numbers the statement", () => {
    expect(maskQuotedValues("Duplicate entry 'ada@example.com' for key 'email'")).toBe(
      "Duplicate entry '…' for key '…'",
    );
    expect(new StatementFailedError(1, "Duplicate entry 'it\\'s' for key 'PRIMARY'").message).toBe(
      "statement 2: Duplicate entry '…' for key '…'",
    );
  });
});
