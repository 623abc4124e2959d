import * as z from 'zod/mini';
import './zod-locale.js';
import { parseDuration } from './duration.js';
import { DomainError, ValidationError } from './errors.js';
import { formatPath } from './policy-issues.js';
import { hasControlCharacters, ID_PATTERN, Identifier, TablePrivilege } from './policy-schema.js';
import { REQUEST_STATUSES } from './types.js';

/**
 * The API's request bodies and query strings. Objects are strict (an unknown field is refused, so a typo
 * like `duraton` never silently falls back to a default) and error messages never echo the input.
 */

const MAX_SCOPE_ENTRIES = 50;

/** Free text shown to approvers and kept in audit: trimmed, no control characters at all (no newlines). */
const text = (max: number) =>
  z.string().check(
    z.trim(),
    z.maxLength(max),
    z.refine((s) => !hasControlCharacters(s), 'must not contain control characters'),
  );

const id = z
  .string()
  .check(z.regex(ID_PATTERN, 'must be lowercase letters, digits and dashes, starting with a letter'));

/** `30m`, `1h30m`, `2h` or a whole number of seconds; the result is seconds. The level's maximum is policy's job. */
export const DurationInput = z.pipe(
  z.union([z.string().check(z.maxLength(32)), z.number()]),
  z.transform((value: string | number, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      ctx.issues.push({
        code: 'custom',
        message: 'must be a duration like 30m, 1h30m, or a number of seconds',
        input: value,
      });
      return z.NEVER;
    }
    return seconds;
  }),
);

export const RequestedScopeBody = z.strictObject({
  schemas: z
    .array(
      z.strictObject({
        name: Identifier,
        tables: z.optional(z.array(Identifier).check(z.minLength(1), z.maxLength(MAX_SCOPE_ENTRIES))),
        privileges: z.optional(z.array(TablePrivilege).check(z.minLength(1))),
      }),
    )
    .check(z.minLength(1), z.maxLength(MAX_SCOPE_ENTRIES)),
});

export const NewRequestBody = z.strictObject({
  target: id,
  level: id,
  /** Required for a window request; a statement request takes none (its level's statement timeout bounds it). */
  duration: z.optional(DurationInput),
  /**
   * A statement request: the SQL to run once on approval, one statement per entry, in order, in one transaction.
   * Only the shape is checked here; size, control characters and blank entries are statements.ts's
   * (STATEMENT_TOO_LARGE / STATEMENT_INVALID), so each refusal has its own code.
   */
  statements: z.optional(
    z
      .array(z.string())
      .check(z.maxLength(1000))
      .register(z.globalRegistry, {
        description:
          'A statement request: SQL run once on approval, one statement per entry, in order, in one transaction, as a ' +
          "temporary user with the level's privileges (narrowed by scope). At most 20 statements and 32 KiB in all; no " +
          'NUL bytes or control characters other than tab and newline; no transaction control (BEGIN, COMMIT…). ' +
          'Send no duration with it. The result: GET /requests/{id}/result.',
      }),
  ),
  /** Optional here so a level with `requireReason: false` can omit it; a blank reason counts as missing. */
  reason: z.optional(text(1000)),
  ticket: z.optional(text(64)),
  scope: z.optional(RequestedScopeBody),
  breakGlass: z.optional(z.boolean()),
  /** Use-once credentials: one database session, revoked when it ends (ARCHITECTURE.md, "Use-once credentials"). */
  once: z.optional(z.boolean()),
  idempotencyKey: z.optional(
    z
      .string()
      .check(
        z.minLength(1),
        z.maxLength(128),
        z.regex(/^[A-Za-z0-9._:-]+$/, 'must be letters, digits and . _ : -'),
      ),
  ),
});
export type NewRequestBody = z.output<typeof NewRequestBody>;

/** The body field that makes a new request a statement request (issue #15, part 1). */
export const STATEMENT_FIELDS = ['statements'] as const;

/**
 * Checks across fields of a parsed new request that the schema cannot express. `once` hands out credentials
 * for one session; a statement request hands out none (the workflow runs it), so the two are refused together.
 */
export function assertNewRequestCoherent(body: Readonly<Record<string, unknown>>): void {
  if (body.once === true && STATEMENT_FIELDS.some((field) => body[field] !== undefined)) {
    throw new DomainError(
      'ONCE_WITH_STATEMENT',
      'once cannot be combined with a statement: a statement request is run by the workflow and hands out no credentials',
    );
  }
}

export const DecisionBody = z.strictObject({
  comment: z.optional(text(1000)),
});
export type DecisionBody = z.output<typeof DecisionBody>;

export const ExtendBody = z.strictObject({
  duration: DurationInput,
  reason: z.pipe(text(1000), z.string().check(z.minLength(1, 'is required'))),
});
export type ExtendBody = z.output<typeof ExtendBody>;

/** GET /requests: query string values arrive as strings. */
export const ListQuery = z.strictObject({
  view: z._default(z.enum(['mine', 'to-approve', 'flagged']), 'mine'),
  status: z.optional(z.enum(REQUEST_STATUSES)),
  limit: z.optional(z.coerce.number().check(z.int(), z.gte(1), z.lte(100))),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});
export type ListQuery = z.output<typeof ListQuery>;

/** Keys safe to repeat back in an error: short and plain. Anything else is reported without its name. */
const PLAIN_KEY = /^[A-Za-z0-9_-]{1,40}$/;

/** Renders zod issues as `path: message` lines; unknown keys are named only when plain, never the values. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        lines.push(
          PLAIN_KEY.test(key)
            ? `${formatPath([...issue.path, key])}: unknown field`
            : `${formatPath(issue.path)}: unknown field`,
        );
      }
      continue;
    }
    lines.push(`${formatPath(issue.path)}: ${issue.message}`);
  }
  return [...new Set(lines)];
}

/** A ZodError as the API's ValidationError, with `details.problems` listing each `path: message`. */
export function validationErrorFrom(error: z.core.$ZodError): ValidationError {
  const problems = formatIssues(error.issues);
  return new ValidationError(`invalid input: ${problems.join('; ')}`, { problems });
}

/** Parses with `schema` or throws a ValidationError. */
export function parseInput<S extends z.ZodMiniType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationErrorFrom(result.error);
  return result.data;
}
