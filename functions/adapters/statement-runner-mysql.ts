import type { Connection as CoreConnection } from 'mysql2';
import mysql from 'mysql2/promise';
import type { Credentials, StatementLimits } from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import { StatementFailedError, type StatementOutcome } from '../domain/statements.js';
import { driverTls } from './connection-uri.js';
import {
  boundedPlan,
  clientDeadlineMs,
  isExplainable,
  NOT_EXPLAINABLE,
  outcomeOf,
  RowBudget,
  withDeadline,
} from './statement-runner.js';

/** MariaDB's and MySQL's "unknown system variable". */
const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;

/**
 * Runs a statement request on MySQL/MariaDB as its temporary user: START TRANSACTION, each statement (the driver
 * refuses several in one entry), COMMIT. The timeout is MariaDB's max_statement_time (any statement) or, on
 * MySQL, max_execution_time (SELECT only), and a client-side bound on every statement. DDL commits implicitly
 * on these engines: a statement request with DDL is not one transaction (README, statement requests).
 */
export async function runMysqlStatements(
  target: Target,
  credentials: Credentials,
  statements: readonly string[],
  limits: StatementLimits,
): Promise<StatementOutcome[]> {
  const ssl = driverTls(target.tls);
  let index = -1;
  let abandoned = false;
  let connection: mysql.Connection | undefined;
  try {
    connection = await mysql.createConnection({
      host: credentials.host,
      port: credentials.port,
      user: credentials.username,
      password: credentials.password,
      database: credentials.database,
      connectTimeout: 5_000,
      multipleStatements: false,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      ...(ssl === false ? {} : { ssl }),
    });
    // A connection the server ends (the revoke after a timeout) must not crash the process.
    connection.on('error', () => undefined);
    // The callback connection under the promise one streams rows (the promise API buffers a whole result).
    const core = (connection as unknown as { connection: CoreConnection }).connection;
    await setTimeout(connection, limits.timeoutSeconds);
    await connection.query('START TRANSACTION');
    const outcomes: StatementOutcome[] = [];
    let remaining = { maxRows: limits.maxRows, maxBytes: limits.maxBytes };
    const open = connection;
    const run = async () => {
      for (index = 0; index < statements.length; index++) {
        const budget = new RowBudget(remaining);
        const result = await runOne(core, statements[index] ?? '', budget);
        outcomes.push(outcomeOf(undefined, result.rowCount, result.columns, budget));
        remaining = budget.remaining();
      }
      index = statements.length;
      await open.query('COMMIT');
      return outcomes;
    };
    // mysql2's own per-query timeout misfires on streamed queries: the run is bounded here instead.
    return await withDeadline(run(), clientDeadlineMs(limits), () => {
      abandoned = true;
      open.destroy();
    });
  } catch (error) {
    if (!abandoned) await connection?.query('ROLLBACK').catch(() => undefined);
    throw new StatementFailedError(Math.min(Math.max(index, 0), statements.length - 1), messageOf(error));
  } finally {
    connection?.destroy();
  }
}

/**
 * Each statement's plan: `EXPLAIN <statement>`, its rows as `column=value` lines, in a transaction rolled back.
 * Only queries and DML are explained (isExplainable), so no statement can make it EXPLAIN ANALYZE.
 */
export async function explainMysqlStatements(
  target: Target,
  credentials: Credentials,
  statements: readonly string[],
  limits: StatementLimits,
): Promise<string[]> {
  const ssl = driverTls(target.tls);
  let connection: mysql.Connection | undefined;
  let abandoned = false;
  try {
    connection = await mysql.createConnection({
      host: credentials.host,
      port: credentials.port,
      user: credentials.username,
      password: credentials.password,
      database: credentials.database,
      connectTimeout: 5_000,
      multipleStatements: false,
      ...(ssl === false ? {} : { ssl }),
    });
    connection.on('error', () => undefined);
    await setTimeout(connection, limits.timeoutSeconds);
    const core = (connection as unknown as { connection: CoreConnection }).connection;
    const open = connection;
    const run = async () => {
      const plans: string[] = [];
      for (const statement of statements) {
        if (!isExplainable(statement)) {
          plans.push(NOT_EXPLAINABLE);
          continue;
        }
        const budget = new RowBudget({ maxRows: 200, maxBytes: 16 * 1024 });
        await open.query('START TRANSACTION');
        try {
          const { columns } = await runOne(core, `EXPLAIN ${statement}`, budget);
          plans.push(
            boundedPlan(
              budget.rows.map((row) =>
                (columns ?? []).map((c, i) => `${c}=${String(row[i] ?? 'NULL')}`).join(' '),
              ),
            ),
          );
        } catch (error) {
          plans.push(
            `(no plan: ${new StatementFailedError(0, messageOf(error)).message.replace(/^statement 1: /, '')})`,
          );
        } finally {
          await open.query('ROLLBACK').catch(() => undefined);
        }
      }
      return plans;
    };
    return await withDeadline(run(), clientDeadlineMs(limits), () => {
      abandoned = true;
      open.destroy();
    });
  } finally {
    if (!abandoned) connection?.destroy();
  }
}

async function setTimeout(connection: mysql.Connection, seconds: number): Promise<void> {
  try {
    await connection.query(`SET SESSION max_statement_time = ${Math.trunc(seconds)}`);
  } catch (error) {
    if ((error as { errno?: number }).errno !== ER_UNKNOWN_SYSTEM_VARIABLE) throw error;
    await connection.query(`SET SESSION max_execution_time = ${Math.trunc(seconds) * 1000}`);
  }
}

/** One statement, streamed, so the budget keeps what fits and the rest is read and dropped. */
function runOne(
  connection: CoreConnection,
  sql: string,
  budget: RowBudget,
): Promise<{ rowCount: number | null; columns: string[] | undefined }> {
  return new Promise((resolve, reject) => {
    let columns: string[] | undefined;
    let rows = 0;
    let affected: number | null = null;
    const query = connection.query({ sql, rowsAsArray: true });
    // A command (no result set) emits 'fields' with nothing.
    query.on('fields', (fields: { name: string }[] | undefined) => {
      if (fields) columns = fields.map((f) => f.name);
    });
    query.on('result', (row: unknown) => {
      if (Array.isArray(row)) {
        rows++;
        budget.add(row);
      } else if (row !== null && typeof row === 'object' && 'affectedRows' in row) {
        affected = Number((row as { affectedRows: number }).affectedRows);
      }
    });
    query.on('error', reject);
    query.on('end', () => resolve({ rowCount: columns ? rows : affected, columns }));
  });
}

/** The server's message (sqlMessage), whose quoted values StatementFailedError masks. */
function messageOf(error: unknown): string {
  if (
    error !== null &&
    typeof error === 'object' &&
    'sqlMessage' in error &&
    typeof error.sqlMessage === 'string'
  ) {
    return error.sqlMessage;
  }
  return error instanceof Error ? error.message : 'the statement failed';
}
