import { readFile } from 'node:fs/promises';
import { sqlPieces } from '../../functions/domain/sql-text.js';
import type { ResultCell, StatementResult } from '../../functions/domain/statements.js';
import { UsageError } from '../client.js';
import { type Command, type CommandContext, type Invocation, printResult } from '../command.js';
import { table } from '../output.js';
import { ACCESS_OPTIONS, failureText, type RequestView, requestPath, waitForRequest } from './requests.js';

/** Statement requests: `jitdb run` asks for SQL to be run once on approval, `jitdb result` prints what it did. */

/**
 * A file's SQL as statements: split at `;` outside quotes ('…', "…", `…`), dollar quotes ($$…$$, $tag$…$tag$)
 * and comments (-- …, /* … *\/). Each statement keeps its text as written, without the `;`; blank ones are dropped.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  const push = (end: number) => {
    const text = sql.slice(start, end).trim();
    if (text !== '') statements.push(text);
  };
  for (const piece of sqlPieces(sql)) {
    if (piece.kind !== 'code') continue;
    for (let i = piece.start; i < piece.end; i++) {
      if (sql[i] !== ';') continue;
      push(i);
      start = i + 1;
    }
  }
  push(sql.length);
  return statements;
}

async function statementsOf(input: Invocation): Promise<string[]> {
  const file = input.string('file');
  const given = input.strings('sql');
  if (given.length > 0 && file !== undefined) throw new UsageError('give --sql or --file, not both');
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const statements = splitStatements(text);
    if (statements.length === 0) throw new UsageError(`${file} holds no statement`);
    return statements;
  }
  if (given.length === 0)
    throw new UsageError('--sql "…" (repeatable, one statement each) or --file change.sql is required');
  return given;
}

export const runCommand: Command = {
  name: 'run',
  summary:
    'ask for SQL to be run once on approval (a statement request: no credentials, the result kept for you)',
  description: [
    'Approvers see the exact SQL; once approved, the workflow runs it once as a temporary user with the',
    "level's privileges, in one transaction under the level's statement timeout, then drops the user. The",
    "result (rows affected; a query's rows up to the level's limit) is kept for you alone: `jitdb result <id>`.",
  ].join('\n'),
  args: ['<target>'],
  options: {
    level: { ...ACCESS_OPTIONS.level, required: true },
    reason: ACCESS_OPTIONS.reason,
    ticket: ACCESS_OPTIONS.ticket,
    sql: { type: 'string', multiple: true, value: '"…"', help: 'one statement (repeatable, run in order)' },
    file: {
      type: 'string',
      value: 'FILE',
      help: 'a .sql file, split into statements at top-level semicolons',
    },
    wait: { type: 'boolean', help: 'wait until it has run (or was refused) and print the result' },
  },
  examples: [
    'jitdb run demo-pg --level write --reason "fix order 42" --sql "update orders set status = \'paid\' where id = 42" --wait',
    'jitdb run demo-pg --level write --reason "backfill" --file change.sql',
  ],
  async run(context, input) {
    const target = input.arg(0);
    const level = input.string('level');
    const statements = await statementsOf(input);
    const reason = input.string('reason');
    const ticket = input.string('ticket');
    const created = await context.client.post<RequestView>('/requests', {
      target,
      level,
      statements,
      ...(reason === undefined ? {} : { reason }),
      ...(ticket === undefined ? {} : { ticket }),
    });
    if (!input.boolean('wait')) {
      printResult(context, created, (r) =>
        [
          `${r.id} is ${r.status}`,
          `${statements.length} statement(s), SHA-256 ${r.statementsSha256 ?? '?'}`,
          `once it has run: jitdb result ${r.id}`,
        ].join('\n'),
      );
      return 0;
    }
    if (!context.config.json) context.output.out(`${created.id} is ${created.status}`);
    return waitAndPrint(context, created.id);
  },
};

/** Waits until the statement request settles, then prints its result (EXECUTED) or why it did not run. */
async function waitAndPrint(context: CommandContext, id: string): Promise<number> {
  const code = await waitForRequest(context, id, { summary: 'none' });
  const request = await context.client.get<RequestView>(requestPath(id));
  if (request.status === 'EXECUTED') {
    const result = await context.client.get<StatementResult>(requestPath(id, 'result'));
    printResult(context, result, (r) => `${id} is EXECUTED\n${resultText(r)}`);
    return 0;
  }
  printResult(context, request, (r) =>
    r.status === 'FAILED' ? `${r.id} is FAILED: ${failureText(r)}` : `${r.id} is ${r.status}`,
  );
  return code;
}

/** Each statement: what it did, and a query's rows as a table. */
export function resultText(result: StatementResult): string {
  const parts = result.statements.map((s, i) => {
    const head = `statement ${i + 1}: ${s.command ?? 'done'}${s.rowCount === null ? '' : `, ${s.rowCount} row(s)`}`;
    if (!s.columns) return head;
    const columns = s.columns;
    const rows = s.rows ?? [];
    const body =
      rows.length === 0
        ? '(no rows)'
        : table(
            rows,
            columns.map((header, c) => ({ header, value: (row: ResultCell[]) => cellText(row[c]) })),
          );
    const cut = s.truncated
      ? `\n(${rows.length} of ${s.rowCount ?? '?'} rows kept: the level's result limit)`
      : '';
    return `${head}\n${body}${cut}`;
  });
  return [...parts, `kept until ${result.expiresAt}`].join('\n\n');
}

function cellText(cell: ResultCell | undefined): string {
  return cell === null || cell === undefined ? 'NULL' : String(cell);
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvField(cell: ResultCell | undefined): string {
  const text = cell === null || cell === undefined ? '' : String(cell);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Each query's rows as CSV (a header line, then the rows); several queries are separated by a blank line. */
export function resultCsv(result: StatementResult): string {
  return result.statements
    .filter((s) => s.columns)
    .map((s) => [s.columns ?? [], ...(s.rows ?? [])].map((row) => row.map(csvField).join(',')).join('\n'))
    .join('\n\n');
}

export const resultCommand: Command = {
  name: 'result',
  summary: "what a statement request's SQL did: rows affected, a query's rows (yours alone)",
  args: ['<id>'],
  options: { csv: { type: 'boolean', help: "a query's rows as CSV (not with --json)" } },
  examples: [
    'jitdb result 01m83wct6xdqfgphc3n8h1hz1k',
    'jitdb result 01m83wct6xdqfgphc3n8h1hz1k --csv > rows.csv',
  ],
  async run(context, input) {
    const id = input.arg(0);
    const result = await context.client.get<StatementResult>(requestPath(id, 'result'));
    if (input.boolean('csv')) {
      if (context.config.json) throw new UsageError('--csv and --json are exclusive');
      context.output.out(resultCsv(result));
      return 0;
    }
    printResult(context, result, resultText);
    return 0;
  },
};
