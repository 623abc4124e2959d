import { describe, expect, it } from 'vitest';
import { resultCsv, resultText, splitStatements } from '../../cli/commands/statements.js';
import type { StatementResult } from '../../functions/domain/statements.js';

describe('splitStatements', () => {
  it('splits at semicolons outside quotes, dollar quotes and comments, keeping each statement as written', () => {
    const sql = `-- a comment; not a split
UPDATE t SET a = 'x;y' WHERE b = "c;d";
/* block ; comment */ INSERT INTO t VALUES ($$semi;colon$$, $fn$ a; b $fn$);
SELECT 'it''s; fine'
;;
`;
    expect(splitStatements(sql)).toEqual([
      `-- a comment; not a split\nUPDATE t SET a = 'x;y' WHERE b = "c;d"`,
      '/* block ; comment */ INSERT INTO t VALUES ($$semi;colon$$, $fn$ a; b $fn$)',
      "SELECT 'it''s; fine'",
    ]);
  });

  it('answers no statement for a file of blanks and comments', () => {
    expect(splitStatements('  \n;\n')).toEqual([]);
  });
});

const RESULT: StatementResult = {
  requestId: 'r',
  requester: 'alice@example.com',
  executedAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  statements: [
    { command: 'UPDATE', rowCount: 2 },
    {
      command: 'SELECT',
      rowCount: 3,
      columns: ['id', 'note'],
      rows: [
        [1, 'plain'],
        [2, 'has "quotes", a comma\nand a newline'],
      ],
      truncated: true,
    },
  ],
};

describe('result output', () => {
  it('prints CSV per RFC 4180, queries only', () => {
    expect(resultCsv(RESULT)).toBe('id,note\n1,plain\n2,"has ""quotes"", a comma\nand a newline"');
  });

  it('prints what each statement did and says when rows were left out', () => {
    const text = resultText(RESULT);
    expect(text).toContain('statement 1: UPDATE, 2 row(s)');
    expect(text).toContain('statement 2: SELECT, 3 row(s)');
    expect(text).toContain("(2 of 3 rows kept: the level's result limit)");
  });
});
