import type { Credentials, StatementLimits, StatementRunner } from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import { type ResultCell, type StatementOutcome, withoutLeadingComments } from '../domain/statements.js';

/**
 * The StatementRunner: the engine module (and its driver) is imported on first use, as the provisioners do.
 * Each engine connects as the request's temporary user, never as the admin.
 */
export function statementRunner(): StatementRunner {
  return {
    async run(
      target: Target,
      credentials: Credentials,
      statements: readonly string[],
      limits: StatementLimits,
    ) {
      if (target.engine === 'postgres') {
        const { runPostgresStatements } = await import('./statement-runner-postgres.js');
        return runPostgresStatements(target, credentials, statements, limits);
      }
      const { runMysqlStatements } = await import('./statement-runner-mysql.js');
      return runMysqlStatements(target, credentials, statements, limits);
    },
    async explain(
      target: Target,
      credentials: Credentials,
      statements: readonly string[],
      limits: StatementLimits,
    ) {
      if (target.engine === 'postgres') {
        const { explainPostgresStatements } = await import('./statement-runner-postgres.js');
        return explainPostgresStatements(target, credentials, statements, limits);
      }
      const { explainMysqlStatements } = await import('./statement-runner-mysql.js');
      return explainMysqlStatements(target, credentials, statements, limits);
    },
  };
}

/**
 * Statements EXPLAIN may plan without running them: queries and DML only, by their first word. Anything else
 * (DDL, and ANALYZE above all: `EXPLAIN ` + `ANALYZE DELETE …` would run the DELETE) gets no plan.
 */
const EXPLAINABLE = /^(select|insert|update|delete|with|values|table|replace|merge)\b/i;

export function isExplainable(statement: string): boolean {
  return EXPLAINABLE.test(withoutLeadingComments(statement));
}

/** What approvers read for a statement with no plan. */
export const NOT_EXPLAINABLE = '(no plan: only queries and DML are explained)';

/** One statement's plan, bounded (a plan is shown in an email and stored on the request). */
export function boundedPlan(lines: readonly string[]): string {
  const text = lines.join('\n');
  return text.length > MAX_PLAN_CHARS ? `${text.slice(0, MAX_PLAN_CHARS)}\n…(cut)` : text;
}

const MAX_PLAN_CHARS = 4000;

/** A driver's value as a result cell: JSON scalars as they are, dates as ISO text, bytes as `\x` hex, the rest as JSON. */
export function cellOf(value: unknown): ResultCell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  return JSON.stringify(value);
}

/** Collects a query's rows up to maxRows and maxBytes (the rows' JSON), noting what was left out. */
export class RowBudget {
  readonly rows: ResultCell[][] = [];
  truncated = false;
  private bytes = 0;

  constructor(private readonly limits: Pick<StatementLimits, 'maxRows' | 'maxBytes'>) {}

  add(values: readonly unknown[]): void {
    if (this.truncated) return;
    const row = values.map(cellOf);
    const size = Buffer.byteLength(JSON.stringify(row), 'utf8');
    if (this.rows.length >= this.limits.maxRows || this.bytes + size > this.limits.maxBytes) {
      this.truncated = true;
      return;
    }
    this.rows.push(row);
    this.bytes += size;
  }

  /** What the next statement may still keep: the budget is for the whole result, not per statement. */
  remaining(): Pick<StatementLimits, 'maxRows' | 'maxBytes'> {
    return {
      maxRows: Math.max(0, this.limits.maxRows - this.rows.length),
      maxBytes: Math.max(0, this.limits.maxBytes - this.bytes),
    };
  }
}

/** A query's outcome (columns and the rows kept), or a command's (its row count only). */
export function outcomeOf(
  command: string | undefined,
  rowCount: number | null,
  columns: string[] | undefined,
  budget: RowBudget,
): StatementOutcome {
  return {
    ...(command ? { command } : {}),
    rowCount,
    ...(columns && columns.length > 0
      ? { columns, rows: budget.rows, ...(budget.truncated ? { truncated: true } : {}) }
      : {}),
  };
}

/** A client-side bound a little past the server's statement timeout, for a statement that raised its own. */
export function clientDeadlineMs(limits: StatementLimits): number {
  return limits.timeoutSeconds * 1000 + 5_000;
}

/**
 * `work`, or a rejection once `ms` have passed, after `abandon` (which closes the connection: the revoke that
 * follows ends the server's session, and with it the transaction, for good).
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, abandon: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abandon();
      reject(new Error(`the statements ran past their timeout (${Math.round(ms / 1000)} s with the grace)`));
    }, ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
