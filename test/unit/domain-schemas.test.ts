import { describe, expect, it } from 'vitest';
import { type DomainError, ValidationError } from '../../functions/domain/errors.js';
import {
  assertNewRequestCoherent,
  DecisionBody,
  ExtendBody,
  ListQuery,
  NewRequestBody,
  parseInput,
  STATEMENT_FIELDS,
  validationErrorFrom,
} from '../../functions/domain/schemas.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    const details = (error as ValidationError).details;
    return (details?.problems ?? []) as string[];
  }
  throw new Error('expected a ValidationError');
}

const minimal = { target: 'demo-pg', level: 'read', duration: '30m', reason: 'investigate INC-1' };

describe('NewRequestBody', () => {
  it('accepts a minimal request and turns the duration into seconds', () => {
    expect(parseInput(NewRequestBody, minimal)).toEqual({
      target: 'demo-pg',
      level: 'read',
      duration: 1800,
      reason: 'investigate INC-1',
    });
  });

  it.each([
    ['30m', 1800],
    ['1h30m', 5400],
    [' 2h ', 7200],
    [900, 900],
    ['900', 900],
  ])('reads the duration %j as %i seconds', (duration, seconds) => {
    expect(parseInput(NewRequestBody, { ...minimal, duration }).duration).toBe(seconds);
  });

  it.each([['0m'], [0], [-5], [1.5], ['soon'], ['1x'], ['']])('refuses the duration %j', (duration) => {
    expect(problemsOf(() => parseInput(NewRequestBody, { ...minimal, duration }))).toEqual([
      'duration: must be a duration like 30m, 1h30m, or a number of seconds',
    ]);
  });

  it('accepts every optional field', () => {
    const body = parseInput(NewRequestBody, {
      ...minimal,
      ticket: ' INC-42 ',
      scope: { schemas: [{ name: 'public', tables: ['orders'], privileges: ['SELECT'] }] },
      breakGlass: false,
      idempotencyKey: 'cli:2024-01-01T00:00:00.000Z_a-b',
    });
    expect(body).toEqual({
      target: 'demo-pg',
      level: 'read',
      duration: 1800,
      reason: 'investigate INC-1',
      ticket: 'INC-42',
      scope: { schemas: [{ name: 'public', tables: ['orders'], privileges: ['SELECT'] }] },
      breakGlass: false,
      idempotencyKey: 'cli:2024-01-01T00:00:00.000Z_a-b',
    });
  });

  it('trims the reason and treats a blank one as missing for the policy to judge', () => {
    expect(parseInput(NewRequestBody, { ...minimal, reason: '  why  ' }).reason).toBe('why');
    expect(parseInput(NewRequestBody, { ...minimal, reason: '   ' }).reason).toBe('');
  });

  it('refuses unknown fields, naming plain ones and never echoing odd ones', () => {
    expect(
      problemsOf(() => parseInput(NewRequestBody, { ...minimal, duraton: '1h', '<script>': 1 })),
    ).toEqual(['duraton: unknown field', '(root): unknown field']);
  });

  it("refuses a missing target and level (a missing duration is evaluateNewRequest's: statements take none)", () => {
    expect(problemsOf(() => parseInput(NewRequestBody, { reason: 'x' }))).toEqual([
      'target: is required',
      'level: is required',
    ]);
  });

  it('refuses target ids that are not policy ids, without echoing them', () => {
    const problems = problemsOf(() => parseInput(NewRequestBody, { ...minimal, target: "x'; DROP TABLE y" }));
    expect(problems).toEqual([
      'target: must be lowercase letters, digits and dashes, starting with a letter',
    ]);
    expect(problems.join()).not.toContain('DROP');
  });

  it('refuses a reason over 1000 characters', () => {
    expect(problemsOf(() => parseInput(NewRequestBody, { ...minimal, reason: 'x'.repeat(1001) }))).toEqual([
      'reason: must have at most 1000 characters',
    ]);
  });

  it('accepts a reason of exactly 1000 characters', () => {
    expect(parseInput(NewRequestBody, { ...minimal, reason: 'x'.repeat(1000) }).reason).toHaveLength(1000);
  });

  it.each([
    ['NUL', 'a\u0000b'],
    ['newline', 'a\nb'],
    ['escape', 'a\u001b[31m'],
    ['DEL', 'a\u007f'],
  ])('refuses a reason with a %s', (_label, reason) => {
    expect(problemsOf(() => parseInput(NewRequestBody, { ...minimal, reason }))).toEqual([
      'reason: must not contain control characters',
    ]);
  });

  it('refuses a ticket over 64 characters', () => {
    expect(problemsOf(() => parseInput(NewRequestBody, { ...minimal, ticket: 'T'.repeat(65) }))).toEqual([
      'ticket: must have at most 64 characters',
    ]);
  });

  it('refuses an idempotency key with other characters or over 128', () => {
    expect(problemsOf(() => parseInput(NewRequestBody, { ...minimal, idempotencyKey: 'a b' }))).toEqual([
      'idempotencyKey: must be letters, digits and . _ : -',
    ]);
    expect(
      problemsOf(() => parseInput(NewRequestBody, { ...minimal, idempotencyKey: 'k'.repeat(129) })),
    ).toEqual(['idempotencyKey: must have at most 128 characters']);
  });

  it('refuses a non-boolean breakGlass', () => {
    expect(problemsOf(() => parseInput(NewRequestBody, { ...minimal, breakGlass: 'yes' }))).toEqual([
      'breakGlass: must be true or false',
    ]);
  });

  it('refuses more than 50 scope entries', () => {
    const schemas = Array.from({ length: 51 }, (_, i) => ({ name: `s${i}` }));
    expect(problemsOf(() => parseInput(NewRequestBody, { ...minimal, scope: { schemas } }))).toEqual([
      'scope.schemas: must have at most 50 items',
    ]);
  });

  it('refuses unknown fields and bad privileges inside the scope', () => {
    expect(
      problemsOf(() =>
        parseInput(NewRequestBody, {
          ...minimal,
          scope: { schemas: [{ name: 'public', privileges: ['DROP'], sql: 'x' }] },
        }),
      ),
    ).toEqual([
      'scope.schemas[0].privileges[0]: must be one of: SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER',
      'scope.schemas[0].sql: unknown field',
    ]);
  });

  it('keeps quotes in scope identifiers (they are quoted when rendered) but refuses NUL bytes', () => {
    const quoted = parseInput(NewRequestBody, {
      ...minimal,
      scope: { schemas: [{ name: 'we"ird', tables: ['x; DROP TABLE y'] }] },
    });
    expect(quoted.scope).toEqual({ schemas: [{ name: 'we"ird', tables: ['x; DROP TABLE y'] }] });
    expect(
      problemsOf(() => parseInput(NewRequestBody, { ...minimal, scope: { schemas: [{ name: 'a\u0000' }] } })),
    ).toEqual(['scope.schemas[0].name: must not contain control characters']);
  });

  it('refuses a body that is not an object', () => {
    expect(problemsOf(() => parseInput(NewRequestBody, 'hello'))).toEqual([
      '(root): must be an object (key: value pairs)',
    ]);
  });
});

describe('DecisionBody', () => {
  it('accepts an empty body and a trimmed comment', () => {
    expect(parseInput(DecisionBody, {})).toEqual({});
    expect(parseInput(DecisionBody, { comment: ' ok ' })).toEqual({ comment: 'ok' });
  });

  it('refuses a comment over 1000 characters and unknown fields', () => {
    expect(problemsOf(() => parseInput(DecisionBody, { comment: 'c'.repeat(1001), approve: true }))).toEqual([
      'comment: must have at most 1000 characters',
      'approve: unknown field',
    ]);
  });
});

describe('ExtendBody', () => {
  it('accepts a duration and a reason', () => {
    expect(parseInput(ExtendBody, { duration: '15m', reason: 'still digging' })).toEqual({
      duration: 900,
      reason: 'still digging',
    });
  });

  it('requires a non-blank reason', () => {
    expect(problemsOf(() => parseInput(ExtendBody, { duration: '15m', reason: '  ' }))).toEqual([
      'reason: is required',
    ]);
    expect(problemsOf(() => parseInput(ExtendBody, { duration: '15m' }))).toEqual(['reason: is required']);
  });
});

describe('ListQuery', () => {
  it('defaults to my requests', () => {
    expect(parseInput(ListQuery, {})).toEqual({ view: 'mine' });
  });

  it('reads the view, a status and a numeric limit from strings', () => {
    expect(
      parseInput(ListQuery, { view: 'to-approve', status: 'PENDING', limit: '20', cursor: 'abc' }),
    ).toEqual({
      view: 'to-approve',
      status: 'PENDING',
      limit: 20,
      cursor: 'abc',
    });
  });

  it('refuses unknown views and statuses', () => {
    expect(problemsOf(() => parseInput(ListQuery, { view: 'all', status: 'pending' }))).toEqual([
      'view: must be one of: mine, to-approve, flagged',
      'status: must be one of: PENDING, APPROVED, ACTIVE, DENIED, EXPIRED, CANCELLED, FAILED, REVOKE_FAILED, REVOKED, EXECUTED',
    ]);
  });
});

describe('validationErrorFrom', () => {
  it('carries the VALIDATION_FAILED code and a message listing the problems', () => {
    const result = DecisionBody.safeParse({ comment: 5 });
    expect(result.success).toBe(false);
    if (result.success) return;
    const error = validationErrorFrom(result.error);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toBe('invalid input: comment: must be a string');
    expect(error.details).toEqual({ problems: ['comment: must be a string'] });
  });
});

describe('once on a new request', () => {
  const base = { target: 'orders-db', level: 'read', duration: '30m', reason: 'look' };

  it('accepts once: true and refuses any other type', () => {
    expect(parseInput(NewRequestBody, { ...base, once: true }).once).toBe(true);
    for (const once of ['true', 1, null]) {
      expect(() => parseInput(NewRequestBody, { ...base, once })).toThrow(/once:/);
    }
  });

  it('refuses once together with a statement with ONCE_WITH_STATEMENT, and each alone passes', () => {
    for (const field of STATEMENT_FIELDS) {
      let code: string | undefined;
      try {
        assertNewRequestCoherent({ ...base, once: true, [field]: ['SELECT 1'] });
      } catch (error) {
        code = (error as DomainError).code;
      }
      expect(code).toBe('ONCE_WITH_STATEMENT');
      expect(() => assertNewRequestCoherent({ ...base, [field]: ['SELECT 1'] })).not.toThrow();
    }
    expect(() => assertNewRequestCoherent({ ...base, once: true })).not.toThrow();
  });
});
