/**
 * Statement requests end to end (issue #15, part 1), on real PostgreSQL and MariaDB, through the HTTP API and
 * the real ASL: approved → run once as a temporary user → result for the requester alone → no `jit_` user left;
 * denied → never run; failing → FAILED with the database's message, nothing left; bad input → 4xx, nothing
 * stored; the SQL shown escaped to approvers and hashed into the audit chain; a retried run never runs twice.
 */
import { createHash, randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  executeStatement,
  STATEMENT_OUTCOME_UNKNOWN,
} from '../../functions/application/execute-statement.js';
import { getResult } from '../../functions/application/get-result.js';
import type { Deps, ResultStore } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import { executionArnFor } from '../../functions/application/workflow-io.js';
import { evaluateNewRequest } from '../../functions/domain/evaluate.js';
import type { StatementResult } from '../../functions/domain/statements.js';
import { ALICE, BOB } from '../support/app-suite.js';
import { hostPortOf } from '../support/policies.js';
import { services } from '../support/services.js';
import {
  createTargetDatabase,
  type Refusal,
  roleExists,
  type System,
  startSystem,
  withDatabase,
} from '../support/system.js';

const ALICE_IDENTITY = { principal: ALICE, email: ALICE, via: 'local' as const };
const PG_DB = `stmt_${randomBytes(3).toString('hex')}`;
const MY_DB = `stmt_${randomBytes(3).toString('hex')}`;

/** The same levels on both targets: `change` (approved, statements only), `auto` (auto-approved), `read` (windows). */
function levels(schema: string): string {
  const privileges = `{ schemas: [{ name: ${schema}, privileges: [SELECT, INSERT, UPDATE, DELETE] }] }`;
  return `    levels:
      change:
        privileges: ${privileges}
        maxDuration: 1h
        approvers: [${BOB}]
        requests: [statement]
        statement: { timeout: 5s, maxRows: 2, maxBytes: 4096, retention: 1h }
      auto:
        privileges: ${privileges}
        maxDuration: 1h
        autoApprove: {}
        requests: [window, statement]
        statement: { timeout: 2s }
      read:
        privileges: ${privileges}
        maxDuration: 1h
        autoApprove: {}`;
}

function policyYaml(pgAdminUrl: string, mysqlAdminUrl: string): string {
  const pgAt = hostPortOf(pgAdminUrl);
  const myAt = new URL(mysqlAdminUrl);
  return `version: 1
targets:
  - id: app
    engine: postgres
    connection: { host: ${pgAt.host}, port: ${pgAt.port} }
    database: ${PG_DB}
    credentialKind: password
    tls: disable
${levels('public')}
  - id: shop
    engine: mysql
    connection: { host: ${myAt.hostname}, port: ${myAt.port} }
    database: ${MY_DB}
    credentialKind: password
    tls: disable
${levels(MY_DB)}
`;
}

let system: System;
let dropPg: () => Promise<void>;
let my: mysql.Connection;

beforeAll(async () => {
  const { pgAdminUrl, mysqlAdminUrl, dynamodbEndpoint } = services();
  dropPg = await createTargetDatabase(pgAdminUrl, PG_DB);
  my = await mysql.createConnection({ uri: mysqlAdminUrl });
  await my.query(`CREATE DATABASE \`${MY_DB}\``);
  await my.query(
    `CREATE TABLE \`${MY_DB}\`.orders (id int PRIMARY KEY, customer varchar(40) NOT NULL, total decimal(8,2) NOT NULL)`,
  );
  await my.query(
    `INSERT INTO \`${MY_DB}\`.orders VALUES (101, 'ada', 12.50), (102, 'grace', 99.00), (103, 'linus', 7.25)`,
  );
  system = await startSystem({
    dynamodbEndpoint,
    pgAdminUrl,
    mysqlAdminUrl,
    policyYaml: policyYaml(pgAdminUrl, mysqlAdminUrl),
  });
}, 60_000);

afterAll(async () => {
  await system?.stop();
  await dropPg?.();
  await my?.query(`DROP DATABASE IF EXISTS \`${MY_DB}\``).catch(() => undefined);
  await my?.end();
});

interface Engine {
  target: 'app' | 'shop';
  /** One value read as the admin. */
  scalar(sql: string): Promise<unknown>;
  userExists(user: string): Promise<boolean>;
}

const ENGINES: Engine[] = [
  {
    target: 'app',
    async scalar(sql) {
      const client = new pg.Client({ connectionString: withDatabase(services().pgAdminUrl, PG_DB) });
      await client.connect();
      try {
        const { rows } = await client.query<Record<string, unknown>>(sql);
        return Object.values(rows[0] ?? {})[0];
      } finally {
        await client.end();
      }
    },
    userExists: (user) => roleExists(services().pgAdminUrl, user),
  },
  {
    target: 'shop',
    async scalar(sql) {
      const [rows] = await my.query({ sql: sql.replace(/public\./g, `\`${MY_DB}\`.`), rowsAsArray: true });
      return (rows as unknown[][])[0]?.[0];
    },
    async userExists(user) {
      const [rows] = await my.query('SELECT COUNT(*) AS n FROM mysql.user WHERE user = ?', [user]);
      return Number((rows as { n: number }[])[0]?.n) > 0;
    },
  },
];

/** The table as each target names it (a PostgreSQL schema, a MySQL database). */
const orders = (engine: Engine) => (engine.target === 'app' ? 'public.orders' : `${MY_DB}.orders`);

async function file(
  level: string,
  engine: Engine,
  statements: string[],
): Promise<{ status: number; body: RequestView & Refusal }> {
  return system.call<RequestView & Refusal>('POST', '/requests', ALICE, {
    target: engine.target,
    level,
    reason: 'fix order totals',
    statements,
  });
}

describe.each(ENGINES)('a statement request on $target', (engine) => {
  it('is shown verbatim to approvers, runs once on approval, and its result is for the requester alone', async () => {
    const statements = [
      `UPDATE ${orders(engine)} SET total = total + 1 WHERE id IN (101, 102)`,
      `SELECT id, customer, '<b>&amp;</b>' AS tag\nFROM ${orders(engine)}\nORDER BY id`,
    ];
    const created = await file('change', engine, statements);
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect(created.body).toMatchObject({ status: 'PENDING', statements });

    // The approver sees the exact SQL in the API…
    const seen = await system.call<RequestView>('GET', `/requests/${id}`, BOB);
    expect(seen.body.statements).toEqual(statements);
    const digest = createHash('sha256').update(JSON.stringify(statements)).digest('hex');
    expect(seen.body.statementsSha256).toBe(digest);
    // …in the email, and on the confirmation page: escaped, monospaced, never as markup.
    const link = await system.approvalLink(id, BOB);
    const email = system.outbox.list().find((m) => m.to.includes(BOB) && m.text.includes(id));
    expect(email?.text).toContain(statements[1]);
    expect(email?.html).toContain('&lt;b&gt;&amp;amp;&lt;/b&gt;');
    expect(email?.html).not.toContain('<b>&amp;</b>');
    const page = await system.openLink(link);
    // The plans were computed before approvers were asked, as the request's user, which is gone again.
    expect(await engine.userExists(created.body.dbUser ?? '')).toBe(false);
    expect(page.html).toContain('Plan (EXPLAIN, computed without running it)');
    expect(page.html).toMatch(engine.target === 'app' ? /Update on orders/ : /table=orders/);
    expect(email?.text).toContain('its plan (EXPLAIN, not run)');
    expect(page.html).toContain('<pre style="font-family:ui-monospace');
    expect(page.html).toContain(
      `SELECT id, customer, &#39;&lt;b&gt;&amp;amp;&lt;/b&gt;&#39; AS tag\nFROM ${orders(engine)}\nORDER BY id`,
    );
    expect(page.html).not.toContain('<b>&amp;</b>');
    expect(page.html).toContain(digest);

    // Nothing ran before the approval.
    expect(Number(await engine.scalar(`SELECT total FROM ${orders(engine)} WHERE id = 101`))).toBe(12.5);
    expect(page.csrf).toBeDefined();
    expect((await system.postLink(link, 'approve', page.csrf ?? '')).status).toBe(200);
    const done = await system.waitForStatus(id, 'EXECUTED');
    expect(done.executedAt).toBeDefined();
    await system.executionEnd(id);

    // Ran once, in one transaction.
    expect(Number(await engine.scalar(`SELECT total FROM ${orders(engine)} WHERE id = 101`))).toBe(13.5);
    expect(Number(await engine.scalar(`SELECT total FROM ${orders(engine)} WHERE id = 103`))).toBe(7.25);

    // The requester reads the result: rows affected, then the query's columns and rows up to maxRows.
    const result = await system.call<StatementResult>('GET', `/requests/${id}/result`, ALICE);
    expect(result.status).toBe(200);
    expect(result.body.statements[0]?.rowCount).toBe(2);
    expect(result.body.statements[1]).toMatchObject({
      rowCount: 3,
      columns: ['id', 'customer', 'tag'],
      rows: [
        [101, 'ada', '<b>&amp;</b>'],
        [102, 'grace', '<b>&amp;</b>'],
      ],
      truncated: true,
    });
    // Nobody else does, approver included.
    const refused = await system.call<Refusal>('GET', `/requests/${id}/result`, BOB);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('NOT_REQUESTER');
    // The requester never gets credentials for it.
    const creds = await system.call<Refusal>('GET', `/requests/${id}/credentials`, ALICE);
    expect(creds.status).toBe(409);
    expect(creds.body.error.code).toBe('NO_CREDENTIALS_FOR_STATEMENT');

    // Nothing left on the target.
    expect(await engine.userExists(done.dbUser)).toBe(false);

    // The audit chain holds the SQL's hash, and neither the rows nor the SQL's data.
    const events = await system.audit(id);
    expect(events.find((e) => e.action === 'requested')?.details).toMatchObject({
      statements: 2,
      statementsSha256: digest,
    });
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['requested', 'explained', 'approved', 'execution-started', 'executed']),
    );
    expect(JSON.stringify(events)).not.toContain('grace');
    // Neither is in the workflow's history nor in the logs.
    const history = system.workflow.history(executionArnFor(system.workflow.stateMachineArn, id));
    expect(JSON.stringify(history)).not.toContain('grace');
    expect(system.logs().join('\n')).not.toContain('grace');
    const verified = await system.call<{ verification: { ok: boolean } }>(
      'GET',
      `/requests/${id}/audit`,
      ALICE,
    );
    expect(verified.body.verification.ok).toBe(true);
  });

  it('never runs a denied statement request', async () => {
    const created = await file('change', engine, [`DELETE FROM ${orders(engine)}`]);
    const id = created.body.id;
    await system.approvalLink(id, BOB);
    const denied = await system.call<RequestView>('POST', `/requests/${id}/deny`, BOB, { comment: 'no' });
    expect(denied.body.status).toBe('DENIED');
    await system.executionEnd(id);
    expect(Number(await engine.scalar(`SELECT COUNT(*) FROM ${orders(engine)}`))).toBe(3);
    expect(await system.auditActions(id)).not.toContain('execution-started');
    expect((await system.call<Refusal>('GET', `/requests/${id}/result`, ALICE)).body.error.code).toBe(
      'RESULT_NOT_AVAILABLE',
    );
  });

  it('ends FAILED with the database message when a statement fails, rolled back, nothing left', async () => {
    const created = await file('auto', engine, [
      `INSERT INTO ${orders(engine)} VALUES (900, 'secret-customer', 1)`,
      `INSERT INTO ${orders(engine)} VALUES (900, 'secret-customer', 2)`,
    ]);
    const id = created.body.id;
    const failed = await system.waitForStatus(id, 'FAILED');
    expect(failed.lastError?.code).toBe('StatementFailed');
    expect(failed.lastError?.message).toMatch(/^statement 2: /);
    expect(failed.lastError?.message).toMatch(/duplicate/i);
    // The database's message only: the row's values are not echoed.
    expect(failed.lastError?.message).not.toContain('900');
    expect(JSON.stringify(await system.audit(id))).not.toContain('secret-customer');
    expect(Number(await engine.scalar(`SELECT COUNT(*) FROM ${orders(engine)} WHERE id = 900`))).toBe(0);
    expect(await engine.userExists(failed.dbUser)).toBe(false);
    const shown = await system.call<RequestView>('GET', `/requests/${id}`, ALICE);
    expect(shown.body.lastError?.message).toBe(failed.lastError?.message);
  });

  it('ends FAILED at the statement timeout, with its session ended and its user dropped', async () => {
    const sleep = engine.target === 'app' ? 'SELECT pg_sleep(30)' : 'SELECT SLEEP(30)';
    const created = await file('auto', engine, [sleep]);
    const failed = await system.waitForStatus(created.body.id, 'FAILED', 30_000);
    expect(failed.lastError?.code).toBe('StatementFailed');
    expect(await engine.userExists(failed.dbUser)).toBe(false);
  });
  it('ends FAILED when a statement lifts its own timeout: the client-side bound ends it, the user is dropped', async () => {
    const lift =
      engine.target === 'app'
        ? ['SET statement_timeout = 0', 'SELECT pg_sleep(60)']
        : ['SET SESSION max_statement_time = 0', 'SELECT SLEEP(60)'];
    const created = await file('auto', engine, lift);
    const failed = await system.waitForStatus(created.body.id, 'FAILED', 40_000);
    expect(failed.lastError?.message).toBe(
      'statement 2: the statements ran past their timeout (7 s with the grace)',
    );
    expect(await engine.userExists(failed.dbUser)).toBe(false);
  });
});

describe('statement requests refused at the door (4xx with a code, nothing stored)', () => {
  const engine = ENGINES[0] as Engine;
  it.each<[string, () => Promise<{ status: number; body: Refusal }>, number, string]>([
    [
      'oversized SQL',
      () => file('change', engine, [`SELECT '${'x'.repeat(33 * 1024)}'`]),
      400,
      'STATEMENT_TOO_LARGE',
    ],
    [
      'too many statements',
      () => file('change', engine, Array(21).fill('SELECT 1')),
      400,
      'STATEMENT_TOO_LARGE',
    ],
    ['a NUL byte', () => file('change', engine, ['SELECT 1\u0000; DROP TABLE x']), 400, 'STATEMENT_INVALID'],
    ['a control character', () => file('change', engine, ['SELECT \u001b[2J1']), 400, 'STATEMENT_INVALID'],
    ['an empty statement', () => file('change', engine, ['  -- nothing\n ;']), 400, 'STATEMENT_INVALID'],
    ['no statement at all', () => file('change', engine, []), 400, 'STATEMENT_INVALID'],
    [
      'a COMMIT that would split the transaction',
      () => file('change', engine, ['/* x */ COMMIT']),
      400,
      'STATEMENT_INVALID',
    ],
    [
      'a password written into the SQL',
      () => file('change', engine, ["ALTER ROLE app_owner PASSWORD 'Sup3r-s3cret!'"]),
      400,
      'STATEMENT_INVALID',
    ],
    [
      'statements on a window-only level',
      () => file('read', engine, ['SELECT 1']),
      403,
      'STATEMENTS_NOT_ALLOWED',
    ],
    [
      'a window on a statement-only level',
      () =>
        system.call<Refusal>('POST', '/requests', ALICE, {
          target: 'app',
          level: 'change',
          duration: '30m',
          reason: 'x',
        }),
      403,
      'WINDOW_NOT_ALLOWED',
    ],
    [
      'a duration with statements',
      () =>
        system.call<Refusal>('POST', '/requests', ALICE, {
          target: 'app',
          level: 'auto',
          duration: '30m',
          reason: 'x',
          statements: ['SELECT 1'],
        }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'use-once credentials asked with statements',
      () =>
        system.call<Refusal>('POST', '/requests', ALICE, {
          target: 'app',
          level: 'auto',
          reason: 'x',
          once: true,
          statements: ['SELECT 1'],
        }),
      400,
      'ONCE_WITH_STATEMENT',
    ],
  ])('refuses %s', async (_name, send, status, code) => {
    const before = await system.scanTables();
    const answer = await send();
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
    expect(await system.scanTables()).toBe(before);
    expect(JSON.stringify(answer.body)).not.toContain('Sup3r-s3cret!');
    expect(system.logs().join('\n')).not.toContain('Sup3r-s3cret!');
  });
});

describe('a retried run', () => {
  const engine = ENGINES[0] as Engine;

  /** An APPROVED statement request stored without a workflow: the test plays the workflow's retries itself. */
  async function approvedRequest(marker: number): Promise<string> {
    const requestId = system.deps.ids.requestId();
    const { request, audit } = evaluateNewRequest({
      body: {
        target: 'app',
        level: 'auto',
        reason: 'retry',
        statements: [`INSERT INTO public.orders VALUES (${marker}, 'retry', 1)`],
      },
      requester: ALICE_IDENTITY,
      policy: system.policy,
      now: new Date(),
      requestId,
    });
    await system.deps.requests.create(request, audit);
    return requestId;
  }

  /** The deps with a result store whose first call of `method` fails as a crash would. */
  function crashingOnce(method: 'put' | 'transition'): Deps {
    let crashed = false;
    const results = system.deps.results as ResultStore;
    const crash = () => {
      if (crashed) return false;
      crashed = true;
      return true;
    };
    if (method === 'put') {
      return {
        ...system.deps,
        results: {
          put: async (r) => {
            if (crash()) throw new Error('the function died after the commit');
            return results.put(r);
          },
          get: (id, now) => results.get(id, now),
        },
      };
    }
    const requests = system.deps.requests;
    return {
      ...system.deps,
      requests: Object.assign(Object.create(requests) as typeof requests, {
        transition: async (...args: Parameters<typeof requests.transition>) => {
          if (args[1].status === 'EXECUTED' && crash())
            throw new Error('the function died before its last write');
          return requests.transition(...args);
        },
      }),
    };
  }

  it('does not run the statements again when the earlier attempt may have run them (no result): FAILED', async () => {
    const id = await approvedRequest(950);
    await expect(executeStatement({ requestId: id }, crashingOnce('put'))).rejects.toThrow('died');
    const retried = await executeStatement({ requestId: id }, system.deps);
    expect(retried).toEqual({ status: 'FAILED' });
    const request = await system.request(id);
    expect(request.lastError?.code).toBe(STATEMENT_OUTCOME_UNKNOWN);
    // The one run committed; the retry did not insert again (it would have failed on the key, or added a row).
    expect(Number(await engine.scalar('SELECT COUNT(*) FROM public.orders WHERE id = 950'))).toBe(1);
    expect(await engine.userExists(request.dbUser)).toBe(false);
  });

  it('settles EXECUTED from the stored result when the earlier attempt ran and stored it', async () => {
    const id = await approvedRequest(951);
    await expect(executeStatement({ requestId: id }, crashingOnce('transition'))).rejects.toThrow('died');
    // The retry finds the run recorded and its result stored: EXECUTED, without running it again.
    expect(await executeStatement({ requestId: id }, system.deps)).toEqual({ status: 'EXECUTED' });
    expect(await executeStatement({ requestId: id }, system.deps)).toEqual({ status: 'EXECUTED' });
    expect(Number(await engine.scalar('SELECT COUNT(*) FROM public.orders WHERE id = 951'))).toBe(1);
    const result = await system.call<StatementResult>('GET', `/requests/${id}/result`, ALICE);
    expect(result.body.statements).toEqual([{ command: 'INSERT', rowCount: 1 }]);
    // Past the level's retention (24 h by default) the result is gone, even before DynamoDB's TTL removes it.
    const later = { ...system.deps, clock: { now: () => new Date(Date.now() + 25 * 3600 * 1000) } };
    await expect(getResult({ requestId: id, caller: ALICE_IDENTITY }, later)).rejects.toMatchObject({
      code: 'RESULT_EXPIRED',
    });
    expect(await engine.userExists((await system.request(id)).dbUser)).toBe(false);
  });
});
