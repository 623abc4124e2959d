/**
 * Time to access (#15): how long an engineer waits between asking and being logged in, through the local
 * HTTP API and the real workflow on one PostgreSQL.
 *   - auto-approved: POST /requests → credentials served (ACTIVE) → first successful login, over N sequential
 *     requests;
 *   - approved by link: the approver's click (the confirmation form's POST) → first successful login;
 *   - the physical floor next to them: the same grant SQL sent raw on one admin connection plus a first login
 *     as that user, and the DynamoDB transactions the path writes (one per audit event up to ACTIVE) timed on
 *     the same DynamoDB Local.
 * Prints p50/p99 and the ratio to the floor; never pass/fail.
 *   npx tsx bench/time-to-access.ts [--requests 50] [--clicks 10]
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { CreateTableCommand, DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { randomPassword } from '../functions/adapters/connection-uri.js';
import { scramVerifier } from '../functions/adapters/scram.js';
import { postgresGrantStatements } from '../functions/adapters/sql-privileges-postgres.js';
import type { Credentials } from '../functions/application/ports.js';
import { Privileges } from '../functions/domain/policy-schema.js';
import { type BenchStack, http, withBenchStack } from './load.js';
import { clientFor, nearestRank, numberArguments, positiveInteger, selectOn } from './support.js';

export interface Figures {
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

export interface TimeToAccessResult {
  /** Auto-approved: POST /requests → credentials served. */
  postToActive: Figures;
  /** Auto-approved: POST /requests → first successful login. */
  postToLogin: Figures;
  /** Approved by link: the click (form POST) → first successful login. */
  clickToLogin: Figures;
  /** Raw CREATE ROLE + grants on one admin connection, then a first login as the new role. */
  rawGrantAndLogin: Figures;
  /** One TransactWriteItems (request + audit event, both conditional) on the same DynamoDB Local. */
  dynamoTransaction: Figures;
  /** Transactions the auto-approved path writes up to ACTIVE (its audit events). */
  transactionsToActive: number;
  /** rawGrantAndLogin p50 + transactionsToActive × dynamoTransaction p50. */
  floorP50Ms: number;
  /** postToLogin p50 / floorP50Ms. */
  ratioP50: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function figures(samples: readonly number[]): Figures {
  const at = (p: number) => Math.round((nearestRank(samples, p) ?? Number.NaN) * 10) / 10;
  return { p50Ms: at(50), p99Ms: at(99), samples: samples.length };
}

/** Logs in as the grant's user until it works (the first successful login), then logs out. */
async function firstLogin(creds: Credentials, deadlineMs: number): Promise<number> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    const client = clientFor(creds);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return performance.now();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(5);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** Polls GET /requests/{id}/credentials every 5 ms until it answers 200. */
async function credentialsOf(
  stack: BenchStack,
  id: string,
  user: string,
): Promise<{ creds: Credentials; at: number }> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const response = await http<Credentials>('GET', `${stack.runtime.url}/requests/${id}/credentials`, user);
    if (response.status === 200) return { creds: response.body, at: performance.now() };
    await sleep(5);
  }
  throw new Error(`request ${id} never served credentials`);
}

async function create(stack: BenchStack, user: string, level: string, reason: string): Promise<string> {
  const created = await http<{ id?: string }>('POST', `${stack.runtime.url}/requests`, user, {
    target: stack.targetId,
    level,
    duration: '5m',
    reason,
  });
  if (created.status !== 201 || !created.body.id)
    throw new Error(`POST /requests answered ${created.status}`);
  return created.body.id;
}

/** Revokes without waiting, so roles do not pile up; not timed. */
async function revoke(stack: BenchStack, id: string, user: string): Promise<void> {
  await http('POST', `${stack.runtime.url}/requests/${id}/revoke`, user, { comment: 'bench done' });
}

async function autoApproved(stack: BenchStack, requests: number) {
  const toActive: number[] = [];
  const toLogin: number[] = [];
  let transactions = 0;
  for (let i = 0; i < requests; i++) {
    const user = `tta-${i}@example.com`;
    const started = performance.now();
    const id = await create(stack, user, 'read', `time to access ${i}`);
    const { creds, at } = await credentialsOf(stack, id, user);
    const loggedIn = await firstLogin(creds, 10_000);
    toActive.push(at - started);
    toLogin.push(loggedIn - started);
    if (i === 0) transactions = (await stack.runtime.app.deps.audit.list(id)).length;
    await revoke(stack, id, user);
  }
  return { toActive, toLogin, transactions };
}

/** The approver's mail for `id` in the outbox, then its link's page and CSRF value (not timed). */
async function openLink(stack: BenchStack, id: string): Promise<{ link: string; csrf: string }> {
  for (let i = 0; i < 400; i++) {
    const link = stack.runtime.outbox
      .list()
      .flatMap((mail) => mail.links)
      .find((l) => l.includes(`/approvals/${id}.`));
    if (link) {
      const html = await (await fetch(link)).text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
      if (!csrf) throw new Error(`no csrf on the page of ${link}`);
      return { link, csrf };
    }
    await sleep(25);
  }
  throw new Error(`no approval mail for ${id}`);
}

async function approvedByLink(stack: BenchStack, clicks: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < clicks; i++) {
    const user = `tta-click-${i}@example.com`;
    const id = await create(stack, user, 'reviewed', `time to access by link ${i}`);
    const { link, csrf } = await openLink(stack, id);
    const clicked = performance.now();
    const response = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, comment: '', decision: 'approve' }).toString(),
    });
    await response.text();
    if (response.status !== 200) throw new Error(`the approval form answered ${response.status}`);
    const { creds } = await credentialsOf(stack, id, user);
    samples.push((await firstLogin(creds, 10_000)) - clicked);
    await revoke(stack, id, user);
  }
  return samples;
}

/** The grant SQL the provisioner sends, raw on one admin connection, then a first login as that role. */
async function rawGrantAndLogin(stack: BenchStack, cycles: number): Promise<number[]> {
  const url = new URL(stack.pgAdminUrl);
  url.pathname = `/${stack.database}`;
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  const privileges = Privileges.parse(selectOn('public'));
  const samples: number[] = [];
  try {
    for (let i = 0; i < cycles; i++) {
      const role = `raw_tta_${randomBytes(4).toString('hex')}`;
      const password = randomPassword();
      const verifier = await scramVerifier(password); // computed by the provisioner before it connects too
      const started = performance.now();
      const until = pg.escapeLiteral(new Date(Date.now() + 300_000).toISOString());
      await admin.query(
        `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(verifier)} VALID UNTIL ${until} CONNECTION LIMIT 5`,
      );
      for (const statement of postgresGrantStatements(
        privileges,
        role,
        decodeURIComponent(url.username),
        stack.database,
      ))
        await admin.query(statement);
      const loggedIn = await firstLogin(
        {
          host: url.hostname,
          port: Number(url.port),
          username: role,
          password,
          database: stack.database,
        } as Credentials,
        10_000,
      );
      samples.push(loggedIn - started);
      await admin.query(`DROP OWNED BY ${pg.escapeIdentifier(role)}`);
      await admin.query(`DROP ROLE ${pg.escapeIdentifier(role)}`);
    }
  } finally {
    await admin.end();
  }
  return samples;
}

/** One request write plus one audit append, both conditional, as a transition writes them. */
async function dynamoTransactions(endpoint: string, count: number): Promise<number[]> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const table = `bench-tta-${randomBytes(4).toString('hex')}`;
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }),
  );
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const pk = { S: `r${i}` };
      const started = performance.now();
      await client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Put: {
                TableName: table,
                Item: { pk, sk: { S: 'request' }, status: { S: 'ACTIVE' } },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: table,
                Item: { pk, sk: { S: 'audit#1' }, action: { S: 'granted' } },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
      samples.push(performance.now() - started);
    }
  } finally {
    client.destroy();
  }
  return samples;
}

export async function run(
  options: { requests?: number; clicks?: number; log?: (line: string) => void } = {},
): Promise<TimeToAccessResult> {
  const requests = options.requests ?? 50;
  const clicks = options.clicks ?? 10;
  const log = options.log ?? (() => undefined);
  return withBenchStack({ maxGrant: '10m', reviewedLevel: true }, async (stack) => {
    // One unmeasured request warms the handlers, the pools and the server's caches.
    await autoApproved(stack, 1);
    const auto = await autoApproved(stack, requests);
    const clickSamples = await approvedByLink(stack, clicks);
    const raw = await rawGrantAndLogin(stack, requests);
    const dynamo = await dynamoTransactions(stack.dynamodbEndpoint, requests);
    const postToLogin = figures(auto.toLogin);
    const rawFigures = figures(raw);
    const dynamoFigures = figures(dynamo);
    const floorP50Ms = Math.round((rawFigures.p50Ms + auto.transactions * dynamoFigures.p50Ms) * 10) / 10;
    const result: TimeToAccessResult = {
      postToActive: figures(auto.toActive),
      postToLogin,
      clickToLogin: figures(clickSamples),
      rawGrantAndLogin: rawFigures,
      dynamoTransaction: dynamoFigures,
      transactionsToActive: auto.transactions,
      floorP50Ms,
      ratioP50: Math.round((postToLogin.p50Ms / floorP50Ms) * 100) / 100,
    };
    const show = (name: string, f: Figures) =>
      log(`${name}: p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms (${f.samples})`);
    show('POST → ACTIVE', result.postToActive);
    show('POST → first login', result.postToLogin);
    show('approval click → first login', result.clickToLogin);
    show('floor: raw grant SQL + first login', result.rawGrantAndLogin);
    show('floor: one DynamoDB transaction', result.dynamoTransaction);
    log(
      `floor p50 ${floorP50Ms} ms (raw grant + login, ${auto.transactions} transactions); POST → login is ${result.ratioP50}× the floor`,
    );
    return result;
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { requests, clicks } = numberArguments(
    { requests: 50, clicks: 10 },
    (v) => positiveInteger(v.requests) && positiveInteger(v.clicks),
    'npx tsx bench/time-to-access.ts [--requests 50] [--clicks 10]',
  );
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  await run({ requests, clicks, log: console.log });
  process.exit(0);
}
