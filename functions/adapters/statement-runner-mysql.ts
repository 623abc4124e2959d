import type { Connection as CoreConnection } from 'mysql2';
import mysql from 'mysql2/promise';
import type { Credentials, StatementLimits } from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import { driverTls } from './connection-uri.js';
import type { RowBudget, StatementRun, StatementSession } from './statement-runner.js';

/** MariaDB's and MySQL's "unknown system variable". */
const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;

/**
 * A statement request's session on MySQL/MariaDB as its temporary user: each statement on its own (the driver
 * refuses several in one entry). The timeout is MariaDB's max_statement_time (any statement) or, on MySQL,
 * max_execution_time (SELECT only), and the shared steps' client-side deadline. DDL commits implicitly on these
 * engines: a statement request with DDL is not one transaction (README, statement requests). A plan is
 * `EXPLAIN <statement>`, its rows as `column=value` lines; only queries and DML are explained (isExplainable),
 * so no statement can make it EXPLAIN ANALYZE.
 */
export function mysqlSession(
  target: Target,
  credentials: Credentials,
  limits: StatementLimits,
): StatementSession {
  let connection: mysql.Connection | undefined;
  const open = (): mysql.Connection => {
    if (!connection) throw new Error('not connected');
    return connection;
  };
  return {
    async connect() {
      const ssl = driverTls(target.tls);
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
      await setTimeout(connection, limits.timeoutSeconds);
    },
    async control(command) {
      await open().query(command);
    },
    // The callback connection under the promise one streams rows (the promise API buffers a whole result).
    // mysql2's own per-query timeout misfires on streamed queries: the shared steps' deadline bounds the run.
    runOne: (sql, budget) =>
      runOne((open() as unknown as { connection: CoreConnection }).connection, sql, budget),
    explainText: (statement) => `EXPLAIN ${statement}`,
    planLines: (rows, columns) =>
      rows.map((row) => (columns ?? []).map((c, i) => `${c}=${String(row[i] ?? 'NULL')}`).join(' ')),
    messageOf,
    abandon() {
      connection?.destroy();
    },
    async close() {
      connection?.destroy();
    },
  };
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
function runOne(connection: CoreConnection, sql: string, budget: RowBudget): Promise<StatementRun> {
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

/** The server's message (sqlMessage), whose quoted values the shared steps mask. */
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
