import { createHash } from 'node:crypto';
import { DomainError, PolicyRefusedError } from './errors.js';
import type { AccessLevel, RequestKind } from './policy-schema.js';
import { sqlPieces } from './sql-text.js';

/**
 * Statement requests: SQL approved as written and run once by the workflow. What a statement may be is decided
 * here, before anything is stored; the run itself is an adapter's (functions/adapters/statement-runner.ts).
 */

/** At most this many statements in one request, run in order in one transaction. */
export const MAX_STATEMENTS = 20;
/** The statements' total size in UTF-8: well under the API's 64 KiB body limit and a DynamoDB item. */
export const MAX_STATEMENTS_BYTES = 32 * 1024;

/**
 * Statements that begin, end or split the transaction the workflow opens: refused, so "one transaction" holds
 * (PostgreSQL would otherwise commit half the work at a user's COMMIT). MySQL/MariaDB also commit implicitly
 * before and after DDL; that cannot be refused by a first word and is documented.
 */
const TRANSACTION_CONTROL =
  /^(begin|start|commit|end|rollback|abort|savepoint|release|prepare|set\s+(session\s+characteristics|transaction|autocommit)|xa|lock\s+tables|unlock\s+tables)\b/i;

/** Tab, line feed, carriage return: what SQL written in a file holds besides printable text. */
function hasForbiddenControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** The statement's text with leading whitespace and comments (`-- …`, `/* … *\/`) removed. */
export function withoutLeadingComments(sql: string): string {
  const first = sqlPieces(sql).find((p) => p.kind !== 'comment' && (p.kind !== 'code' || /\S/.test(p.text)));
  return first ? sql.slice(first.start).replace(/^\s+/, '') : '';
}

/**
 * A credential written into the SQL: a password given as a literal (CREATE/ALTER ROLE|USER … PASSWORD '…',
 * IDENTIFIED BY '…', SET PASSWORD, PASSWORD('…'), a column named password set to a literal, OPTIONS
 * (password '…')), or inside a literal (a connection string's password=…, a URI's user:secret@). The SQL is
 * stored on the request, mailed to approvers and shown by the API, and a secret must be in none of them.
 */
const PASSWORD_IN_CODE =
  /\bpassword\s*(?:=\s*|\(\s*)?(?:e|u&)?''|\bidentified\s+(?:with\s+\S+\s+)?by\b|\bidentified\s+with\s+\S*password\S*\s+as\b|^\s*set\s+password\b/i;
const PASSWORD_IN_TEXT =
  /\b(?:password|passwd|pwd)\s*=\s*['"]?[^\s'";,)]|[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:[^\s/@]+@/i;

export function carriesCredential(sql: string): boolean {
  const pieces = sqlPieces(sql);
  // Strings become '' and identifiers their names, so the keyword checks see code only.
  const code = pieces
    .map((p) =>
      p.kind === 'string' ? "''" : p.kind === 'identifier' ? p.text : p.kind === 'comment' ? ' ' : p.text,
    )
    .join('');
  return (
    PASSWORD_IN_CODE.test(code) || pieces.some((p) => p.kind === 'string' && PASSWORD_IN_TEXT.test(p.text))
  );
}

/**
 * Refuses statements that must not be stored: too many or too large, blank, control characters, transaction
 * control, a credential in the text.
 */
export function checkStatements(statements: readonly string[]): void {
  if (statements.length === 0) {
    throw new DomainError('STATEMENT_INVALID', 'statements: at least one statement is required', {
      details: { problem: 'empty' },
    });
  }
  const bytes = statements.reduce((sum, s) => sum + Buffer.byteLength(s, 'utf8'), 0);
  if (statements.length > MAX_STATEMENTS || bytes > MAX_STATEMENTS_BYTES) {
    throw new DomainError(
      'STATEMENT_TOO_LARGE',
      `statements: at most ${MAX_STATEMENTS} statements and ${MAX_STATEMENTS_BYTES} bytes in all`,
      {
        details: {
          statements: statements.length,
          bytes,
          maxStatements: MAX_STATEMENTS,
          maxBytes: MAX_STATEMENTS_BYTES,
        },
      },
    );
  }
  statements.forEach((statement, index) => {
    const refuse = (problem: string, message: string) => {
      throw new DomainError('STATEMENT_INVALID', `statements[${index}]: ${message}`, {
        details: { index, problem },
      });
    };
    if (hasForbiddenControl(statement)) {
      refuse(
        'control-character',
        'must not contain NUL bytes or control characters other than tab and newline',
      );
    }
    const body = withoutLeadingComments(statement).replace(/[\s;]+$/, '');
    if (body === '') refuse('empty', 'is empty');
    if (TRANSACTION_CONTROL.test(body)) {
      refuse(
        'transaction-control',
        'must not begin, end or split the transaction: the statements run in one',
      );
    }
    if (carriesCredential(body)) {
      // The message never repeats the statement: the secret stays out of the response and any log of it.
      refuse(
        'credential',
        'must not carry a password or another credential: the SQL is stored with the request and shown to approvers',
      );
    }
  });
}

/** SHA-256 (hex) of the statements as JSON (`["…","…"]`): what the audit chain records of them. */
export function statementsDigest(statements: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(statements), 'utf8').digest('hex');
}

/**
 * A statement the database refused (or the timeout ended): its message only, never DETAIL or a value from the
 * data, so it may be stored on the request and in its audit event.
 */
export class StatementFailedError extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(`statement ${index + 1}: ${maskQuotedValues(message)}`);
    this.name = 'StatementFailed';
  }
}

/** MySQL/MariaDB put values in their messages in single quotes (`Duplicate entry 'x' for key …`): masked. */
export function maskQuotedValues(message: string): string {
  return message.replace(/'(?:[^'\\]|\\.)*'/g, "'…'");
}

/** Refuses a request of a kind its level does not take. */
export function assertKindAllowed(level: AccessLevel, levelName: string, kind: RequestKind): void {
  if (level.requests.includes(kind)) return;
  if (kind === 'statement') {
    throw new PolicyRefusedError(
      'STATEMENTS_NOT_ALLOWED',
      `level '${levelName}' does not take statement requests`,
      { details: { level: levelName, requests: level.requests.join(',') } },
    );
  }
  throw new PolicyRefusedError(
    'WINDOW_NOT_ALLOWED',
    `level '${levelName}' takes statement requests only: send statements`,
    { details: { level: levelName, requests: level.requests.join(',') } },
  );
}

/** One value of a result row, as stored and returned: text for anything that is not a plain JSON scalar. */
export type ResultCell = string | number | boolean | null;

/** What one statement did. */
export interface StatementOutcome {
  /** The command tag the database reported (`SELECT`, `UPDATE`…), when it reports one. */
  command?: string;
  /** Rows affected (DML) or returned (a query); null when the database reports none. */
  rowCount: number | null;
  /** A query's column names. */
  columns?: string[];
  /** Up to the level's maxRows / maxBytes of a query's rows. */
  rows?: ResultCell[][];
  /** True when rows were left out to keep within maxRows / maxBytes. */
  truncated?: boolean;
}

/** The outcome of a statement request, kept for its requester alone until `expiresAt` (the level's retention). */
export interface StatementResult {
  requestId: string;
  requester: string;
  executedAt: string;
  expiresAt: string;
  statements: StatementOutcome[];
}
