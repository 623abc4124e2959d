import pg from 'pg';
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

/**
 * Runs a statement request on PostgreSQL as its temporary user: BEGIN, each statement with the extended query
 * protocol (which refuses a second command in one entry, so nothing slips past the checks at request time), COMMIT.
 * statement_timeout is set at connection start (server side); rows past the budget are read and dropped.
 */
function userClient(target: Target, credentials: Credentials, limits: StatementLimits): pg.Client {
  const client = new pg.Client({
    host: credentials.host,
    port: credentials.port,
    user: credentials.username,
    password: credentials.password,
    database: credentials.database,
    ssl: driverTls(target.tls),
    connectionTimeoutMillis: 5_000,
    application_name: 'jit-db-access statement',
    statement_timeout: limits.timeoutSeconds * 1000,
  });
  client.on('error', () => undefined);
  return client;
}

/**
 * Each statement's plan: `EXPLAIN (FORMAT TEXT) <statement>` (the option list keeps a statement from turning it
 * into EXPLAIN ANALYZE), with the extended protocol (one command), each in a transaction rolled back.
 */
export async function explainPostgresStatements(
  target: Target,
  credentials: Credentials,
  statements: readonly string[],
  limits: StatementLimits,
): Promise<string[]> {
  const client = userClient(target, credentials, limits);
  let abandoned = false;
  const run = async () => {
    await client.connect();
    const plans: string[] = [];
    for (const statement of statements) {
      if (!isExplainable(statement)) {
        plans.push(NOT_EXPLAINABLE);
        continue;
      }
      const budget = new RowBudget({ maxRows: 200, maxBytes: 16 * 1024 });
      await client.query('BEGIN');
      try {
        await runOne(client, `EXPLAIN (FORMAT TEXT) ${statement}`, budget);
        plans.push(boundedPlan(budget.rows.map((row) => String(row[0] ?? ''))));
      } catch (error) {
        plans.push(`(no plan: ${messageOf(error)})`);
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    }
    return plans;
  };
  try {
    return await withDeadline(run(), clientDeadlineMs(limits), () => {
      abandoned = true;
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    });
  } finally {
    if (!abandoned) await client.end().catch(() => undefined);
  }
}

export async function runPostgresStatements(
  target: Target,
  credentials: Credentials,
  statements: readonly string[],
  limits: StatementLimits,
): Promise<StatementOutcome[]> {
  const client = new pg.Client({
    host: credentials.host,
    port: credentials.port,
    user: credentials.username,
    password: credentials.password,
    database: credentials.database,
    ssl: driverTls(target.tls),
    connectionTimeoutMillis: 5_000,
    application_name: 'jit-db-access statement',
    // Not query_timeout: pg turns it into a callback on the query, which then buffers every row and reports
    // no error event. withDeadline below bounds the run instead.
    statement_timeout: limits.timeoutSeconds * 1000,
  });
  // A connection the server ends (the revoke after a timeout) must not crash the process.
  client.on('error', () => undefined);
  let index = -1;
  let abandoned = false;
  const run = async () => {
    await client.connect();
    await client.query('BEGIN');
    const outcomes: StatementOutcome[] = [];
    let remaining = { maxRows: limits.maxRows, maxBytes: limits.maxBytes };
    for (index = 0; index < statements.length; index++) {
      const budget = new RowBudget(remaining);
      const result = await runOne(client, statements[index] ?? '', budget);
      outcomes.push(outcomeOf(result.command, result.rowCount, result.columns, budget));
      remaining = budget.remaining();
    }
    index = statements.length;
    await client.query('COMMIT');
    return outcomes;
  };
  try {
    return await withDeadline(run(), clientDeadlineMs(limits), () => {
      abandoned = true;
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    });
  } catch (error) {
    if (!abandoned) await client.query('ROLLBACK').catch(() => undefined);
    throw new StatementFailedError(Math.min(Math.max(index, 0), statements.length - 1), messageOf(error));
  } finally {
    if (!abandoned) await client.end().catch(() => undefined);
  }
}

function runOne(
  client: pg.Client,
  text: string,
  budget: RowBudget,
): Promise<{ command: string | undefined; rowCount: number | null; columns: string[] }> {
  return new Promise((resolve, reject) => {
    const query = new pg.Query({ text, rowMode: 'array', queryMode: 'extended' } as pg.QueryConfig);
    // A row listener stops pg from accumulating rows itself: the budget keeps what fits.
    query.on('row', (row: unknown[]) => budget.add(row));
    query.on('error', reject);
    query.on('end', (result: pg.QueryResult) => {
      resolve({
        command: result.command || undefined,
        rowCount: result.rowCount ?? null,
        columns: (result.fields ?? []).map((f) => f.name),
      });
    });
    client.query(query);
  });
}

/** The server's primary message only: never DETAIL, HINT or WHERE, which may quote the data. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : 'the statement failed';
}
