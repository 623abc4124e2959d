import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultCsv, resultText, splitStatements } from '../../cli/commands/statements.js';
import { main } from '../../cli/main.js';
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

describe('jitdb policy check on statement settings', () => {
  it("names each bad request kind and statement setting by its path, and the timeout past the level's maxDuration", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jitdb-stmt-policy-'));
    const level = (extra: string) => `version: 1
targets:
  - id: demo
    engine: postgres
    connection: { host: 127.0.0.1, port: 5432 }
    database: demo
    credentialKind: password
    tls: disable
    levels:
      fix:
        privileges: { schemas: [{ name: public, privileges: [UPDATE] }] }
        maxDuration: 1m
        approvers: [carol@example.com]
${extra}
`;
    const check = async (yaml: string) => {
      const file = path.join(dir, `p${Math.random()}.yaml`);
      writeFileSync(file, yaml);
      const lines: string[] = [];
      const code = await main(['policy', 'check', file], {
        out: (t) => void lines.push(t),
        err: (t) => void lines.push(t),
        isTty: false,
      });
      return { code, text: lines.join('\n') };
    };
    try {
      const bad = await check(
        level(
          '        requests: [statement, query]\n        statement: { timeout: 20m, maxRows: -1, retention: 30d }',
        ),
      );
      expect(bad.code).toBe(1);
      for (const where of ['requests[1]', 'statement.timeout', 'statement.maxRows', 'statement.retention']) {
        expect(bad.text).toContain(`targets[0].levels.fix.${where}`);
      }
      const long = await check(level('        requests: [statement]\n        statement: { timeout: 2m }'));
      expect(long.code).toBe(1);
      expect(long.text).toContain('targets[0].levels.fix.statement.timeout: must be ≤ the rule maxDuration');
      const good = await check(
        level('        requests: [window, statement]\n        statement: { timeout: 30s }'),
      );
      expect(good.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
