import type { Credentials, StatementLimits, StatementRunner } from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import {
  maskQuotedValues,
  type ResultCell,
  StatementFailedError,
  type StatementOutcome,
  withoutLeadingComments,
} from '../domain/statements.js';

/**
 * The StatementRunner: the engine module (and its driver) is imported on first use, as the provisioners do.
 * Each engine connects as the request's temporary user, never as the admin; the steps around the statements
 * (transaction, budget, deadline, rollback, close) are the same for both and live here.
 */
export function statementRunner(): StatementRunner {
  return {
    async run(target, credentials, statements, limits) {
      return runStatements(await sessionFor(target, credentials, limits), statements, limits);
    },
    async explain(target, credentials, statements, limits) {
      return explainStatements(await sessionFor(target, credentials, limits), statements, limits);
    },
  };
}

async function sessionFor(
  target: Target,
  credentials: Credentials,
  limits: StatementLimits,
): Promise<StatementSession> {
  if (target.engine === 'postgres') {
    const { postgresSession } = await import('./statement-runner-postgres.js');
    return postgresSession(target, credentials, limits);
  }
  const { mysqlSession } = await import('./statement-runner-mysql.js');
  return mysqlSession(target, credentials, limits);
}

/** What one engine does, as the request's temporary user, for the steps below. */
export interface StatementSession {
  /** Connects (bounded by the driver's connect timeout) with the server-side statement timeout set. */
  connect(): Promise<void>;
  /** A transaction-control command: START TRANSACTION, COMMIT or ROLLBACK. */
  control(command: 'START TRANSACTION' | 'COMMIT' | 'ROLLBACK'): Promise<void>;
  /** One statement, its rows streamed into `budget` (the rest read and dropped). */
  runOne(text: string, budget: RowBudget): Promise<StatementRun>;
  /** The EXPLAIN that plans `statement` without running it. */
  explainText(statement: string): string;
  /** An EXPLAIN's kept rows as the plan's lines. */
  planLines(rows: readonly ResultCell[][], columns: readonly string[] | undefined): string[];
  /** The error's message as the engine states it, without what may quote the data. */
  messageOf(error: unknown): string;
  /** Closes the connection at once, mid-statement (the deadline passed). */
  abandon(): void;
  /** Closes the connection after use. */
  close(): Promise<void>;
}

/** What one statement did: a command's tag where the engine gives one, its row count, a query's columns. */
export interface StatementRun {
  command?: string | undefined;
  rowCount: number | null;
  columns: string[] | undefined;
}

/** Runs the statements in order in one transaction and commits; StatementFailedError after rolling back. */
export async function runStatements(
  session: StatementSession,
  statements: readonly string[],
  limits: StatementLimits,
): Promise<StatementOutcome[]> {
  let index = -1;
  try {
    return await inSession(session, limits, async () => {
      await session.control('START TRANSACTION');
      const outcomes: StatementOutcome[] = [];
      let remaining = { maxRows: limits.maxRows, maxBytes: limits.maxBytes };
      for (index = 0; index < statements.length; index++) {
        const budget = new RowBudget(remaining);
        const result = await session.runOne(statements[index] ?? '', budget);
        outcomes.push(outcomeOf(result.command, result.rowCount, result.columns, budget));
        remaining = budget.remaining();
      }
      index = statements.length;
      await session.control('COMMIT');
      return outcomes;
    });
  } catch (error) {
    throw new StatementFailedError(
      Math.min(Math.max(index, 0), statements.length - 1),
      session.messageOf(error),
    );
  }
}

/** Each statement's plan, each in a transaction rolled back; one that cannot be planned gets a line saying why. */
export async function explainStatements(
  session: StatementSession,
  statements: readonly string[],
  limits: StatementLimits,
): Promise<string[]> {
  return inSession(session, limits, async () => {
    const plans: string[] = [];
    for (const statement of statements) {
      if (!isExplainable(statement)) {
        plans.push(NOT_EXPLAINABLE);
        continue;
      }
      const budget = new RowBudget({ maxRows: 200, maxBytes: 16 * 1024 });
      await session.control('START TRANSACTION');
      try {
        const { columns } = await session.runOne(session.explainText(statement), budget);
        plans.push(boundedPlan(session.planLines(budget.rows, columns)));
      } catch (error) {
        plans.push(`(no plan: ${maskQuotedValues(session.messageOf(error))})`);
      } finally {
        await session.control('ROLLBACK').catch(() => undefined);
      }
    }
    return plans;
  });
}

/**
 * Connects, does `work` within the client-side deadline, and closes; on a failure, rolls back first. Past the
 * deadline the connection is abandoned instead: the revoke that follows ends the server's session for good.
 */
async function inSession<T>(
  session: StatementSession,
  limits: StatementLimits,
  work: () => Promise<T>,
): Promise<T> {
  let abandoned = false;
  try {
    await session.connect();
    return await withDeadline(work(), clientDeadlineMs(limits), () => {
      abandoned = true;
      session.abandon();
    });
  } catch (error) {
    if (!abandoned) await session.control('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    if (!abandoned) await session.close().catch(() => undefined);
  }
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
