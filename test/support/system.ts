/**
 * The whole system in-process, for the end-to-end workflow tests: the handler factories `npm start` uses
 * (local/runtime.ts's createHandlers), the real ASL on LocalWorkflow, DynamoDB Local, a real PostgreSQL,
 * the local HTTP server in front of the route table, and an outbox instead of SES. Built here rather than
 * through startRuntime because the tests need the LocalWorkflow itself (describe, stop by hand, fast
 * retries), the sweeper with an explicit reconcile flag, and every log line captured.
 */
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import pg from 'pg';
import { expect } from 'vitest';
import { DynamoAuditLog } from '../../functions/adapters/dynamodb-audit.js';
import { createDocumentClient, createDynamoDbClient } from '../../functions/adapters/dynamodb-client.js';
import { DynamoRequestStore } from '../../functions/adapters/dynamodb-requests.js';
import { DynamoResultStore } from '../../functions/adapters/dynamodb-results.js';
import { createTables } from '../../functions/adapters/dynamodb-tables.js';
import { createProvisioners } from '../../functions/adapters/provisioners.js';
import { hostPortEndpoints } from '../../functions/adapters/rds-endpoint.js';
import { statementRunner } from '../../functions/adapters/statement-runner.js';
import type { ReconcileMode } from '../../functions/application/expiry-sweeper.js';
import type { Credentials, Deps, LinkRefusalCount } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import { executionArnFor } from '../../functions/application/workflow-io.js';
import { linkRefusalStream, linkRefusalWindowOfSeq } from '../../functions/domain/link-refusals.js';
import type { Policy } from '../../functions/domain/policy-schema.js';
import type { AccessRequest, AuditEvent, RequestStatus } from '../../functions/domain/types.js';
import { createHandler as createExpirySweeperHandler } from '../../functions/handlers/expiry-sweeper.js';
import { parsePolicy } from '../../functions/shared/config.js';
import { cryptoIds } from '../../functions/shared/ids.js';
import { startHttpServer } from '../../local/http-server.js';
import { invokeLocally } from '../../local/invocations.js';
import { createLocalWorkflow, lateBoundWorkflow, localAdminCredentials } from '../../local/local-adapters.js';
import { OutboxMailer } from '../../local/outbox.js';
import { createHandlers } from '../../local/runtime.js';
import type { ExecutionDescription } from '../../local/workflow-executions.js';
import type { LocalWorkflow } from '../../local/workflow-runner.js';
import { undocumented } from './api-contract.js';

export interface SystemOptions {
  /** The policy YAML the test wrote. */
  policyYaml: string;
  dynamodbEndpoint: string;
  /** Superuser URL of the PostgreSQL server the targets live on (the admin credentials of every target). */
  pgAdminUrl: string;
  /** Admin URL of the MySQL/MariaDB server the policy's mysql targets live on, if it has any. */
  mysqlAdminUrl?: string;
  /** Retry pauses of the ASL, scaled down; default 50 ms. */
  retryIntervalMs?: number;
}

export interface HttpAnswer<T> {
  status: number;
  body: T;
}

/** The body of a refused API call. */
export interface Refusal {
  error: { code: string; message: string };
}

export interface LinkPage {
  status: number;
  html: string;
  csrf: string | undefined;
}

export interface System {
  url: string;
  policy: Policy;
  deps: Deps;
  workflow: LocalWorkflow;
  outbox: OutboxMailer;
  /** Every line written to stdout/stderr (Powertools included) and every use-case log line, since start. */
  logs(): string[];
  metrics: Map<string, number>;
  tables: { requestsTable: string; auditTable: string };
  /** A JSON API call as the local user `user` (the x-jitdb-user header). */
  call<T = Record<string, unknown>>(
    method: 'GET' | 'POST',
    path: string,
    user?: string,
    body?: unknown,
  ): Promise<HttpAnswer<T>>;
  /** The approval link emailed to `approver` about request `id`, for the request itself or its extension. */
  approvalLink(
    id: string,
    approver: string,
    options?: { purpose?: 'request' | 'extension' },
  ): Promise<string>;
  /** GET an approval link: the confirmation page and its CSRF value. */
  openLink(link: string): Promise<LinkPage>;
  /** POST the confirmation page's form. */
  postLink(
    link: string,
    decision: 'approve' | 'deny',
    csrf: string,
  ): Promise<{ status: number; html: string }>;
  request(id: string): Promise<AccessRequest>;
  waitForStatus(id: string, status: RequestStatus, timeoutMs?: number): Promise<AccessRequest>;
  auditActions(id: string): Promise<string[]>;
  audit(id: string): Promise<AuditEvent[]>;
  /** The refused-link tally of a request (what GET /requests/{id}/audit shows as linkRefusals). */
  linkRefusals(id: string): Promise<LinkRefusalCount[]>;
  execution(id: string): ExecutionDescription | undefined;
  /** The execution's final description; throws if it is still running after `timeoutMs`. */
  executionEnd(id: string, timeoutMs?: number): Promise<ExecutionDescription>;
  /** The expiry-sweeper Lambda, once; `reconcile: 'now'` also drops orphaned `jit_` users (default `never`). */
  sweep(options?: { reconcile?: ReconcileMode }): Promise<Record<string, unknown>>;
  /** Every item of both tables, as JSON text (for secret scans). */
  scanTables(): Promise<string>;
  stop(): Promise<void>;
}

/** One capture of stdout/stderr shared by every live system of the test file (they are stopped LIFO). */
const capture = {
  lines: [] as string[],
  users: 0,
  restore: undefined as (() => void) | undefined,
};

function startCapture(): void {
  capture.users++;
  if (capture.users > 1) return;
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const record = (chunk: unknown) => {
    capture.lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = record as typeof process.stdout.write;
  process.stderr.write = record as typeof process.stderr.write;
  capture.restore = () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
}

function stopCapture(): void {
  capture.users--;
  if (capture.users > 0) return;
  capture.restore?.();
  capture.restore = undefined;
}

/** Builds and starts the system; the caller stops it in afterAll. */
export async function startSystem(options: SystemOptions): Promise<System> {
  const policy = parsePolicy(options.policyYaml, 'e2e policy');
  const suffix = randomBytes(4).toString('hex');
  const tables = { requestsTable: `e2e-${suffix}-requests`, auditTable: `e2e-${suffix}-audit` };
  const admin = createDynamoDbClient({ endpoint: options.dynamodbEndpoint, region: 'us-east-1' }, {});
  try {
    await createTables(admin, tables);
  } finally {
    admin.destroy();
  }

  startCapture();
  const firstLine = capture.lines.length;
  const appLog: string[] = [];
  const metrics = new Map<string, number>();
  const document = createDocumentClient(
    createDynamoDbClient({ endpoint: options.dynamodbEndpoint, region: 'us-east-1' }, {}),
  );
  const provisioners = createProvisioners({
    admin: localAdminCredentials(options.pgAdminUrl, options.mysqlAdminUrl),
    endpoints: hostPortEndpoints,
    region: 'us-east-1',
    connectTimeoutMs: 2_000,
  });
  const outbox = new OutboxMailer({ print: false });
  const lateWorkflow = lateBoundWorkflow();
  const base: { url: string } = { url: 'http://localhost:0' };
  const deps: Deps = {
    clock: { now: () => new Date() },
    ids: cryptoIds(),
    requests: new DynamoRequestStore({ client: document, ...tables }),
    audit: new DynamoAuditLog({ client: document, ...tables }),
    provisioners,
    statements: statementRunner(),
    results: new DynamoResultStore({ client: document, requestsTable: tables.requestsTable }),
    mailer: outbox,
    workflow: lateWorkflow.workflow,
    policy: { policy: () => policy },
    metrics: { count: (name, value = 1) => void metrics.set(name, (metrics.get(name) ?? 0) + value) },
    get publicBaseUrl() {
      return base.url;
    },
    log: {
      info: (message, extra) => void appLog.push(`info: ${message} ${JSON.stringify(extra ?? {})}`),
      warn: (message, extra) => void appLog.push(`warn: ${message} ${JSON.stringify(extra ?? {})}`),
    },
  };

  const handlers = createHandlers(deps);
  const { workflow: local, stop: stopWorkflow } = createLocalWorkflow(
    handlers.tasks,
    handlers.executionStatusChange,
    (line) => void appLog.push(line),
    { retryIntervalMs: options.retryIntervalMs ?? 50 },
  );
  lateWorkflow.bind(local);
  const server = await startHttpServer({
    port: 0,
    outbox,
    log: (line) => appLog.push(`http: ${line}`),
    handlers: handlers.http,
  });
  base.url = server.url;
  const sweeper = createExpirySweeperHandler(deps);

  const call: System['call'] = async (method, path, user, body) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(user ? { 'x-jitdb-user': user } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    // Every answer through the local server must be what the OpenAPI document says it is.
    const { problems } = undocumented(method, path, response.status, text);
    if (problems.length > 0)
      throw new Error(`undocumented answer to ${method} ${path}: ${problems.join('; ')}`);
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as never };
  };

  const arnOf = (id: string) => executionArnFor(local.stateMachineArn, id);
  const request = async (id: string) => {
    const found = await deps.requests.get(id);
    if (!found) throw new Error(`no request ${id}`);
    return found;
  };

  return {
    url: server.url,
    policy,
    deps,
    workflow: local,
    outbox,
    metrics,
    tables,
    logs: () => [...capture.lines.slice(firstLine), ...appLog],
    call,
    async approvalLink(id, approver, linkOptions = {}) {
      const purpose = linkOptions.purpose ?? 'request';
      const email = await outbox.waitFor(
        (e) =>
          e.to.includes(approver) &&
          e.links.some((l) => l.includes(`/approvals/${id}.`)) &&
          (purpose === 'extension' ? /Approve more time/ : /Approve (access|SQL to run once)/).test(
            e.subject,
          ),
        // A wait for an event, not a timing assertion: generous, since a loaded 2-core CI machine is slow.
        30_000,
      );
      const link = email.links.find((l) => l.startsWith(`${server.url}/approvals/${id}.`));
      if (!link) throw new Error(`no approval link for ${id} in ${JSON.stringify(email.links)}`);
      return link;
    },
    async openLink(link) {
      const response = await fetch(link);
      const html = await response.text();
      return { status: response.status, html, csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] };
    },
    async postLink(link, decision, csrf) {
      const response = await fetch(link, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ decision, csrf }).toString(),
      });
      return { status: response.status, html: await response.text() };
    },
    request,
    async waitForStatus(id, status, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let last: AccessRequest | undefined;
      while (Date.now() < deadline) {
        last = await deps.requests.get(id);
        if (last?.status === status) return last;
        await sleep(100);
      }
      const why = last?.lastError ? ` (${last.lastError.code}: ${last.lastError.message})` : '';
      throw new Error(
        `request ${id} is ${last?.status ?? 'missing'}${why}, not ${status}, after ${timeoutMs} ms`,
      );
    },
    async audit(id) {
      return deps.audit.list(id);
    },
    async linkRefusals(id) {
      const markers = await deps.audit.list(linkRefusalStream(id));
      return deps.requests.linkRefusalCounts(
        id,
        markers.map((m) => linkRefusalWindowOfSeq(m.seq)),
      );
    },
    async auditActions(id) {
      return (await deps.audit.list(id)).map((e) => e.action);
    },
    execution(id) {
      return local.describe(arnOf(id));
    },
    async executionEnd(id, timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`execution ${id} still ${local.describe(arnOf(id))?.status} after ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([local.waitForEnd(arnOf(id)), late]);
      } finally {
        clearTimeout(timer);
      }
    },
    async sweep(sweepOptions = {}) {
      const report = await invokeLocally('expiry-sweeper', (context) =>
        sweeper({ reconcile: sweepOptions.reconcile ?? 'never' }, context),
      );
      return report as unknown as Record<string, unknown>;
    },
    async scanTables() {
      const items: unknown[] = [];
      for (const table of [tables.requestsTable, tables.auditTable]) {
        let start: Record<string, unknown> | undefined;
        do {
          const page = await document.send(
            new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) }),
          );
          items.push(...(page.Items ?? []));
          start = page.LastEvaluatedKey;
        } while (start);
      }
      return JSON.stringify(items);
    },
    async stop() {
      // A teardown aborts executions: that must not race the cleanup below through the status-change path.
      await stopWorkflow();
      await server.close();
      // Leave no `jit_` user behind for another suite's reconciler to find.
      for (const status of ['APPROVED', 'ACTIVE', 'REVOKE_FAILED'] as const) {
        const page = await deps.requests.listByStatus(status, { limit: 100 });
        for (const r of page.items) {
          const target = policy.targets.find((t) => t.id === r.targetId);
          if (target) {
            await provisioners
              .for(target)
              .revoke({ requestId: r.id, dbUser: r.dbUser, target })
              .catch(() => undefined);
          }
        }
      }
      await provisioners.close();
      document.destroy();
      stopCapture();
    },
  };
}

/** What POST /requests takes in the end-to-end suites. */
export interface NewRequest {
  target: string;
  level: string;
  duration: string;
  reason: string;
}

/** Files a request with POST /requests as `user`; expects 201 and returns the request as the API shows it. */
export async function fileRequest(on: System, user: string, body: NewRequest): Promise<RequestView> {
  const created = await on.call<RequestView>('POST', '/requests', user, body);
  expect(created.status).toBe(201);
  return created.body;
}

/** Waits for request `id` to be ACTIVE, then fetches its credentials as `user` (expects 200). */
export async function activeCredentials(
  on: System,
  id: string,
  user: string,
): Promise<{ request: AccessRequest; creds: Credentials }> {
  const request = await on.waitForStatus(id, 'ACTIVE');
  const creds = await on.call<Credentials>('GET', `/requests/${id}/credentials`, user);
  expect(creds.status).toBe(200);
  return { request, creds: creds.body };
}

/** Files `body` as `user` (expects 201), waits for it to be ACTIVE, then fetches its credentials as `user`. */
export async function grantedRequest(
  on: System,
  user: string,
  body: NewRequest,
): Promise<{ request: AccessRequest; creds: Credentials }> {
  const { id } = await fileRequest(on, user, body);
  return activeCredentials(on, id, user);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `base` with another path (a database name). */
export function withDatabase(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/**
 * A throw-away database for a test file: public.orders (3 rows) that levels grant, and hr.salaries that no
 * level grants. Returns a function that drops it.
 */
export async function createTargetDatabase(adminUrl: string, database: string): Promise<() => Promise<void>> {
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
  const db = new pg.Client({ connectionString: withDatabase(adminUrl, database) });
  db.on('error', () => undefined);
  await db.connect();
  try {
    await db.query(`
      CREATE TABLE public.orders (id int PRIMARY KEY, customer text NOT NULL, total numeric NOT NULL);
      INSERT INTO public.orders VALUES (101, 'ada', 12.50), (102, 'grace', 99.00), (103, 'linus', 7.25);
      CREATE SCHEMA hr;
      CREATE TABLE hr.salaries (name text, amount numeric);
      INSERT INTO hr.salaries VALUES ('ada', 1);
    `);
  } finally {
    await db.end();
  }
  return async () => {
    const dropper = new pg.Client({ connectionString: adminUrl });
    dropper.on('error', () => undefined);
    await dropper.connect();
    try {
      await dropper.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    } finally {
      await dropper.end();
    }
  };
}

/** Opens a session with a credential URI; errors after connect are collected, not thrown. */
export async function connect(uri: string): Promise<{ client: pg.Client; errors: Error[] }> {
  const client = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 3_000 });
  const errors: Error[] = [];
  client.on('error', (error) => errors.push(error));
  await client.connect();
  return { client, errors };
}

/** Whether a fresh login with `uri` succeeds right now (the session is closed again). */
export async function canLogin(uri: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether role `user` exists on the server. */
/** Runs one statement as the admin at `adminUrl`. */
export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const { client } = await connect(adminUrl);
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function roleExists(adminUrl: string, user: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const result = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
    return result.rowCount === 1;
  } finally {
    await admin.end();
  }
}

/**
 * A TCP forwarder to a database that a test can take down and bring back: while down it cuts every open
 * connection and refuses new ones by closing them at once (the port stays bound, so nobody else takes it).
 */
export async function startToggleProxy(
  host: string,
  port: number,
): Promise<{ port: number; setUp(up: boolean): void; close(): Promise<void> }> {
  let up = true;
  const open = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    if (!up) {
      inbound.destroy();
      return;
    }
    const outbound = new Socket();
    open.add(inbound);
    open.add(outbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
    outbound.connect(port, host, () => {
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setUp(next) {
      up = next;
      if (!next) for (const socket of [...open]) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of [...open]) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
