/**
 * Enough of SQL's lexing to tell code from text, shared by the CLI (splitting a file into statements) and the
 * statement checks (a keyword is not a word inside a string): string literals ('…' with '' and backslash
 * escapes, as MySQL and PostgreSQL's E'…' read them; $tag$…$tag$), quoted identifiers ("…", `…`) and comments
 * (-- …, /* … *\/). An unterminated piece runs to the end.
 */

export interface SqlPiece {
  kind: 'code' | 'string' | 'identifier' | 'comment';
  /** Where it stands in the SQL: [start, end). */
  start: number;
  end: number;
  /** A string's or identifier's contents, escapes resolved; otherwise the text as written. */
  text: string;
}

const DOLLAR_TAG = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/;

/** The end of a quoted piece opened at `open`, and its contents with doubled quotes (and backslashes) resolved. */
function quoted(sql: string, open: number, backslash: boolean): { end: number; text: string } {
  const quote = sql[open];
  let text = '';
  let i = open + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslash && c === '\\') {
      text += sql[i + 1] ?? '';
      i += 2;
    } else if (c === quote && sql[i + 1] === quote) {
      text += quote;
      i += 2;
    } else if (c === quote) return { end: i + 1, text };
    else {
      text += c;
      i++;
    }
  }
  return { end: sql.length, text };
}

export function sqlPieces(sql: string): SqlPiece[] {
  const pieces: SqlPiece[] = [];
  let code = 0;
  const add = (piece: SqlPiece) => {
    if (piece.start > code)
      pieces.push({ kind: 'code', start: code, end: piece.start, text: sql.slice(code, piece.start) });
    pieces.push(piece);
    code = piece.end;
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const rest = sql.slice(i, i + 2);
    if (rest === '--') {
      const newline = sql.indexOf('\n', i);
      const end = newline < 0 ? sql.length : newline;
      add({ kind: 'comment', start: i, end, text: sql.slice(i, end) });
    } else if (rest === '/*') {
      const close = sql.indexOf('*/', i + 2);
      const end = close < 0 ? sql.length : close + 2;
      add({ kind: 'comment', start: i, end, text: sql.slice(i, end) });
    } else if (c === "'" || c === '`') {
      const { end, text } = quoted(sql, i, true);
      add({ kind: c === "'" ? 'string' : 'identifier', start: i, end, text });
    } else if (c === '"') {
      const { end, text } = quoted(sql, i, false);
      add({ kind: 'identifier', start: i, end, text });
    } else if (c === '$' && DOLLAR_TAG.test(sql.slice(i))) {
      const tag = DOLLAR_TAG.exec(sql.slice(i))?.[0] ?? '$$';
      const close = sql.indexOf(tag, i + tag.length);
      const end = close < 0 ? sql.length : close + tag.length;
      add({ kind: 'string', start: i, end, text: sql.slice(i + tag.length, close < 0 ? sql.length : close) });
    } else {
      i++;
      continue;
    }
    i = code;
  }
  if (code < sql.length) pieces.push({ kind: 'code', start: code, end: sql.length, text: sql.slice(code) });
  return pieces;
}
