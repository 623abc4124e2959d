import pg from 'pg';
import type { Credentials, StatementLimits } from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import { driverTls } from './connection-uri.js';
import type { RowBudget, StatementRun, StatementSession } from './statement-runner.js';

/**
 * A statement request's session on PostgreSQL as its temporary user: each statement with the extended query
 * protocol (which refuses a second command in one entry, so nothing slips past the checks at request time).
 * statement_timeout is set at connection start (server side); rows past the budget are read and dropped. A plan
 * is `EXPLAIN (FORMAT TEXT) <statement>`: the option list keeps a statement from turning it into EXPLAIN ANALYZE.
 */
export function postgresSession(
  target: Target,
  credentials: Credentials,
  limits: StatementLimits,
): StatementSession {
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
    // no error event. The shared steps' deadline bounds the run instead.
    statement_timeout: limits.timeoutSeconds * 1000,
  });
  // A connection the server ends (the revoke after a timeout) must not crash the process.
  client.on('error', () => undefined);
  return {
    async connect() {
      await client.connect();
    },
    async control(command) {
      await client.query(command);
    },
    runOne: (text, budget) => runOne(client, text, budget),
    explainText: (statement) => `EXPLAIN (FORMAT TEXT) ${statement}`,
    planLines: (rows) => rows.map((row) => String(row[0] ?? '')),
    messageOf,
    abandon() {
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    },
    close: () => client.end(),
  };
}

function runOne(client: pg.Client, text: string, budget: RowBudget): Promise<StatementRun> {
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
