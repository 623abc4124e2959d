/**
 * The steps both engines take around a statement request's SQL (adapters/statement-runner.ts), on a session
 * that records what it is asked: the real engines run them in test/workflow/e2e-statements.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  explainStatements,
  type RowBudget,
  runStatements,
  type StatementRun,
  type StatementSession,
} from '../../functions/adapters/statement-runner.js';
import { StatementFailedError } from '../../functions/domain/statements.js';

const LIMITS = { timeoutSeconds: 5, maxRows: 3, maxBytes: 10_000 };

/** A session whose statements answer from `answers` (rows, or an error to throw), recording every step. */
function recordingSession(answers: Record<string, unknown[][] | Error>) {
  const steps: string[] = [];
  const session: StatementSession = {
    async connect() {
      steps.push('connect');
    },
    async control(command) {
      steps.push(command);
    },
    async runOne(text: string, budget: RowBudget): Promise<StatementRun> {
      steps.push(text);
      const answer = answers[text] ?? [];
      if (answer instanceof Error) throw answer;
      for (const row of answer) budget.add(row);
      return { command: 'SELECT', rowCount: answer.length, columns: ['c'] };
    },
    explainText: (statement) => `EXPLAIN ${statement}`,
    planLines: (rows) => rows.map((row) => String(row[0])),
    messageOf: (error) => (error as Error).message,
    abandon() {
      steps.push('abandon');
    },
    async close() {
      steps.push('close');
    },
  };
  return { session, steps };
}

describe('runStatements', () => {
  it('runs the statements in one transaction, the row budget shared by all of them', async () => {
    const { session, steps } = recordingSession({ 'SELECT a': [[1], [2]], 'SELECT b': [[3], [4]] });
    const outcomes = await runStatements(session, ['SELECT a', 'SELECT b'], LIMITS);
    expect(steps).toEqual(['connect', 'START TRANSACTION', 'SELECT a', 'SELECT b', 'COMMIT', 'close']);
    expect(outcomes).toEqual([
      { command: 'SELECT', rowCount: 2, columns: ['c'], rows: [[1], [2]] },
      { command: 'SELECT', rowCount: 2, columns: ['c'], rows: [[3]], truncated: true },
    ]);
  });

  it('rolls back, closes, and names the failed statement with its quoted values masked', async () => {
    const { session, steps } = recordingSession({ 'SELECT b': new Error("Duplicate entry 'x' for key 'k'") });
    const failure = await runStatements(session, ['SELECT a', 'SELECT b', 'SELECT c'], LIMITS).catch(
      (e) => e,
    );
    expect(failure).toBeInstanceOf(StatementFailedError);
    expect(failure).toMatchObject({ index: 1, message: "statement 2: Duplicate entry '…' for key '…'" });
    expect(steps).toEqual(['connect', 'START TRANSACTION', 'SELECT a', 'SELECT b', 'ROLLBACK', 'close']);
  });
});

describe('explainStatements', () => {
  it('plans queries and DML each in a transaction rolled back, and says why another statement has no plan', async () => {
    const { session, steps } = recordingSession({
      'EXPLAIN SELECT a': [['Seq Scan on a']],
      "EXPLAIN DELETE FROM b WHERE x = 'secret'": new Error("no such column 'secret'"),
    });
    const plans = await explainStatements(
      session,
      ['SELECT a', 'CREATE TABLE t (i int)', "DELETE FROM b WHERE x = 'secret'"],
      LIMITS,
    );
    expect(plans).toEqual([
      'Seq Scan on a',
      '(no plan: only queries and DML are explained)',
      "(no plan: no such column '…')",
    ]);
    expect(steps).toEqual([
      'connect',
      'START TRANSACTION',
      'EXPLAIN SELECT a',
      'ROLLBACK',
      'START TRANSACTION',
      "EXPLAIN DELETE FROM b WHERE x = 'secret'",
      'ROLLBACK',
      'close',
    ]);
  });
});
