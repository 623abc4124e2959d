import { randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeStatement } from '../../functions/application/execute-statement.js';
import type { Credentials, Deps, Email } from '../../functions/application/ports.js';
import { csrfTokenFor, parseLinkToken } from '../../functions/domain/link-tokens.js';
import { Policy } from '../../functions/domain/policy-schema.js';
import { createHandler as apiHandler } from '../../functions/handlers/api.js';
import { createHandler as linksHandler } from '../../functions/handlers/approval-links.js';
import { createHandler as credentialsHandler } from '../../functions/handlers/credentials.js';
import { createHandler as grantHandler } from '../../functions/handlers/grant.js';
import { createHandler as requestApprovalHandler } from '../../functions/handlers/request-approval.js';
import { type OperationId, ROUTES } from '../../functions/handlers/routes.js';
import { undocumented } from '../support/api-contract.js';
import { type ApiTestDeps, apiTestDeps } from '../support/api-deps.js';
import { apiGatewayEvent } from '../support/apigw-events.js';
import {
  createTestDatabase,
  ordersPolicyWithLevels,
  type RecordingWorkflow,
  type TestDatabase,
} from '../support/deps.js';
import { services } from '../support/services.js';
import { onSchema } from '../unit/support/policy-samples.js';

const context = { awsRequestId: 'lambda-1', functionName: 'test' } as unknown as Context;

let sys: ApiTestDeps;
let deps: Deps;
let workflow: RecordingWorkflow;
let outbox: Email[];
let secretsSeen: string[];
const logLines: string[] = [];
let db: TestDatabase;

const log = {
  info: (m: string, x?: Record<string, unknown>) => logLines.push(JSON.stringify({ m, x })),
  warn: (m: string, x?: Record<string, unknown>) => logLines.push(JSON.stringify({ m, x })),
  error: (m: string, x?: Record<string, unknown>) =>
    logLines.push(JSON.stringify({ m, x: String(x?.error) })),
};

beforeAll(async () => {
  db = await createTestDatabase(services().pgAdminUrl, 'apiflow');
  const policy = Policy.parse(
    ordersPolicyWithLevels(db, {
      read: {
        privileges: onSchema('app', 'SELECT'),
        maxDuration: '2h',
        approvers: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
        approvalsRequired: 2,
        breakGlass: { allowed: true, requesters: ['erin@example.com'], notify: ['sec@example.com'] },
      },
      quick: {
        privileges: onSchema('app', 'SELECT'),
        maxDuration: '1h',
        approvers: ['alice@example.com'],
        autoApprove: { maxDuration: '30m' },
      },
      run: {
        privileges: onSchema('app', 'SELECT'),
        maxDuration: '1h',
        autoApprove: {},
        requests: ['statement'],
      },
    }),
  );
  sys = await apiTestDeps({ tablesPrefix: 'api', policy, log });
  ({ deps, workflow, outbox, secrets: secretsSeen } = sys);
});

afterAll(async () => sys?.close());

const event = (
  method: string,
  path: string,
  user: string | undefined,
  body?: unknown,
  contentType?: string,
) =>
  apiGatewayEvent(method, path, {
    ...(user ? { localUser: user } : {}),
    ...(body === undefined ? {} : { body }),
    ...(contentType ? { contentType } : {}),
  });

/** Operations whose real success body was parsed with the route's response schema. */
const documented = new Set<OperationId>();

/** Every answer must be what the OpenAPI document says; a success counts its operation as documented. */
function assertDocumented(method: string, path: string, res: APIGatewayProxyResult) {
  const { operationId, success, problems } = undocumented(method, path, res.statusCode, res.body);
  expect(problems).toEqual([]);
  if (!operationId) throw new Error(`no route for ${method} ${path}`);
  if (success) documented.add(operationId);
}

async function api(method: string, path: string, user: string | undefined, body?: unknown) {
  const handler = apiHandler(deps, { localMode: true, logger: log });
  const res = (await handler(event(method, path, user, body), context)) as APIGatewayProxyResult;
  assertDocumented(method, path, res);
  return {
    status: res.statusCode,
    json: JSON.parse(res.body) as Record<string, unknown> & { error?: { code: string } },
  };
}

async function link(method: 'GET' | 'POST', token: string, form?: Record<string, string>) {
  const handler = linksHandler(deps, { logger: log });
  const body = form ? new URLSearchParams(form).toString() : undefined;
  const res = (await handler(
    event(method, `/approvals/${token}`, undefined, body, 'application/x-www-form-urlencoded'),
    context,
  )) as APIGatewayProxyResult;
  assertDocumented(method, `/approvals/${token}`, res);
  return { status: res.statusCode, html: res.body };
}

const NEW_REQUEST = {
  target: 'orders',
  level: 'read',
  duration: '1h',
  reason: 'investigate INC-42',
  ticket: 'INC-42',
};

async function createPending() {
  const created = await api('POST', '/requests', 'erin@example.com', NEW_REQUEST);
  expect(created.status).toBe(201);
  const id = String(created.json.id);
  const taskToken = `task-token-${randomBytes(8).toString('hex')}`;
  secretsSeen.push(taskToken);
  const sent = outbox.length;
  await requestApprovalHandler(deps)({ requestId: id, taskToken }, context);
  const links = new Map<string, string>();
  for (const email of outbox.slice(sent)) {
    const match = /\/approvals\/([^\s"<]+)/.exec(email.text);
    if (match?.[1] && email.to[0]) links.set(email.to[0], match[1]);
  }
  return { id, taskToken, links };
}

async function auditActions(id: string) {
  return (await deps.audit.list(id)).map((e) => `${e.action}:${e.actor}`);
}

async function countItems() {
  const a = await sys.tables.client.send(
    new ScanCommand({ TableName: sys.tables.names.requestsTable, Select: 'COUNT' }),
  );
  const b = await sys.tables.client.send(
    new ScanCommand({ TableName: sys.tables.names.auditTable, Select: 'COUNT' }),
  );
  return (a.Count ?? 0) + (b.Count ?? 0);
}

describe('the api on DynamoDB Local and PostgreSQL', () => {
  it('creates, emails each approver their own link, and sends task success at the 2nd of 3 approvals', async () => {
    const { id, taskToken, links } = await createPending();
    expect(workflow.calls).toContainEqual(['start', id, { requestId: id }]);
    expect([...links.keys()].sort()).toEqual(['alice@example.com', 'bob@example.com', 'carol@example.com']);

    const first = await api('POST', `/requests/${id}/approve`, 'alice@example.com', { comment: 'ok' });
    expect(first.status).toBe(200);
    expect(first.json.status).toBe('PENDING');

    const bobToken = links.get('bob@example.com') ?? '';
    const parsed = parseLinkToken(bobToken);
    if (!parsed) throw new Error('bad token in the email');
    const decided = await link('POST', bobToken, { decision: 'approve', csrf: csrfTokenFor(parsed) });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('The request is now <bdi>APPROVED</bdi>');
    expect(workflow.calls).toContainEqual(['sendTaskSuccess', taskToken, { outcome: 'approved' }]);
    expect(outbox.at(-1)?.to).toEqual(['carol@example.com']);
    expect(outbox.at(-1)?.subject).toContain('approved');
    expect(await auditActions(id)).toEqual([
      'requested:erin@example.com',
      'approval-requested:system',
      'approval-recorded:alice@example.com',
      'approved:bob@example.com',
    ]);
  });

  it('refuses self-approval with 403 SELF_APPROVAL_FORBIDDEN and audits it', async () => {
    const { id } = await createPending();
    const res = await api('POST', `/requests/${id}/approve`, 'erin@example.com', {});
    expect(res.status).toBe(403);
    expect(res.json.error?.code).toBe('SELF_APPROVAL_FORBIDDEN');
    const events = await deps.audit.list(id);
    expect(events.at(-1)).toMatchObject({
      action: 'refused',
      actor: 'erin@example.com',
      details: { code: 'SELF_APPROVAL_FORBIDDEN' },
    });
  });

  it('refuses an unlisted approver with 403 NOT_AN_APPROVER and audits it', async () => {
    const { id } = await createPending();
    const res = await api('POST', `/requests/${id}/approve`, 'mallory@example.com', {});
    expect(res.status).toBe(403);
    expect(res.json.error?.code).toBe('NOT_AN_APPROVER');
    expect((await deps.audit.list(id)).at(-1)).toMatchObject({
      action: 'refused',
      actor: 'mallory@example.com',
    });
  });

  it('decides exactly once when the same link is POSTed 20 times concurrently', async () => {
    const { id, links } = await createPending();
    const token = links.get('alice@example.com') ?? '';
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('bad token');
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        link('POST', token, { decision: 'approve', csrf: csrfTokenFor(parsed) }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 410)).toHaveLength(19);
    expect(results.find((r) => r.status === 410)?.html).toContain('APPROVAL_LINK_USED');
    const request = await deps.requests.get(id);
    expect(request?.approvals.map((a) => a.by)).toEqual(['alice@example.com']);
  });

  it('never decides on GET, and refuses a POST without the page CSRF value', async () => {
    const { id, links } = await createPending();
    const token = links.get('carol@example.com') ?? '';
    const page = await link('GET', token);
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="decision" value="approve"');
    expect(page.html).toContain('investigate INC-42');
    const noCsrf = await link('POST', token, { decision: 'approve', csrf: 'x' });
    expect(noCsrf.status).toBe(403);
    const request = await deps.requests.get(id);
    expect(request?.status).toBe('PENDING');
    expect(request?.approvals).toEqual([]);
  });

  it("refuses request A's token used on request B, with a page and a count beside B (not on its chain)", async () => {
    const a = await createPending();
    const b = await createPending();
    const secretOfA = (a.links.get('alice@example.com') ?? '').split('.')[1] ?? '';
    const res = await link('GET', `${b.id}.${secretOfA}`);
    expect(res.status).toBe(404);
    expect(res.html).toContain('APPROVAL_LINK_INVALID');
    expect((await deps.audit.list(b.id)).map((e) => e.action)).not.toContain('link-refused');
    const trail = await api('GET', `/requests/${b.id}/audit`, 'erin@example.com');
    expect(trail.json.linkRefusals).toMatchObject([
      { code: 'APPROVAL_LINK_INVALID', method: 'GET', sourceIp: 'unknown', attempts: 1 },
    ]);
    const forged = await link('GET', 'not-a-token');
    expect(forged.status).toBe(404);
  });

  it('refuses bad input on every route with a 4xx code and stores nothing', async () => {
    const { id } = await createPending();
    const before = await countItems();
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/requests', '{bad', 400, 'MALFORMED_JSON'],
      ['POST', '/requests', { ...NEW_REQUEST, extra: 1 }, 400, 'VALIDATION_FAILED'],
      ['POST', '/requests', { ...NEW_REQUEST, target: 'nope' }, 404, 'UNKNOWN_TARGET'],
      ['POST', '/requests', { ...NEW_REQUEST, duration: '9h' }, 400, 'DURATION_EXCEEDS_MAX'],
      ['GET', '/requests?view=everything', undefined, 400, 'VALIDATION_FAILED'],
      ['GET', '/requests/not-an-id', undefined, 400, 'VALIDATION_FAILED'],
      ['POST', `/requests/${id}/approve`, { comment: 7 }, 400, 'VALIDATION_FAILED'],
      ['POST', `/requests/${id}/deny`, { verdict: 'no' }, 400, 'VALIDATION_FAILED'],
      ['POST', `/requests/${id}/cancel`, '[', 400, 'MALFORMED_JSON'],
      ['POST', `/requests/${id}/revoke`, { x: 1 }, 400, 'VALIDATION_FAILED'],
      ['POST', `/requests/${id}/extend`, { duration: 'soon', reason: 'r' }, 400, 'VALIDATION_FAILED'],
      ['GET', '/requests/01jn9x7k2m0000000000000000', undefined, 404, 'REQUEST_NOT_FOUND'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await api(method, path, 'zed@example.com', body);
      expect([path, res.status, res.json.error?.code]).toEqual([path, status, code]);
    }
    expect(await countItems()).toBe(before);
  });

  it("refuses a stranger's look at a request or its audit trail with 403 NOT_ALLOWED, and records each attempt", async () => {
    const { id } = await createPending();
    const before = await deps.requests.get(id);
    for (const path of [`/requests/${id}`, `/requests/${id}/audit`]) {
      const res = await api('GET', path, 'zed@example.com');
      expect([path, res.status, res.json.error?.code]).toEqual([path, 403, 'NOT_ALLOWED']);
      expect(JSON.stringify(res.json)).not.toContain(NEW_REQUEST.reason);
      expect((await deps.audit.list(id)).at(-1)).toMatchObject({
        action: 'refused',
        actor: 'zed@example.com',
        details: { code: 'NOT_ALLOWED' },
      });
    }
    // Only the audit bookkeeping moved: the request itself is as it was.
    const audit = { version: 0, auditHead: '', auditSeq: 0, updatedAt: '' };
    expect({ ...(await deps.requests.get(id)), ...audit }).toEqual({ ...before, ...audit });
  });

  it('issues credentials that connect to PostgreSQL with the level enforced, then revokes early', async () => {
    const created = await api('POST', '/requests', 'erin@example.com', {
      ...NEW_REQUEST,
      level: 'quick',
      duration: '20m',
    });
    expect(created.status).toBe(201);
    expect(created.json.status).toBe('APPROVED');
    const id = String(created.json.id);
    const granted = (await grantHandler(deps)({ requestId: id }, context)) as { status: string };
    expect(granted.status).toBe('ACTIVE');

    const handler = credentialsHandler(deps, { localMode: true, logger: log });
    const credentialsAs = async (user: string) => {
      const path = `/requests/${id}/credentials`;
      const answer = (await handler(event('GET', path, user), context)) as APIGatewayProxyResult;
      assertDocumented('GET', path, answer);
      return answer;
    };
    const res = await credentialsAs('erin@example.com');
    expect(res.statusCode).toBe(200);
    const credentials = JSON.parse(res.body) as Credentials;
    secretsSeen.push(credentials.password);
    expect(credentials.username).toBe(`jit_${id}`);
    const other = await credentialsAs('alice@example.com');
    expect(other.statusCode).toBe(403);

    const client = new pg.Client({
      host: db.host,
      port: db.port,
      database: db.database,
      user: credentials.username,
      password: credentials.password,
    });
    await client.connect();
    expect((await client.query('SELECT total FROM app.orders WHERE id = 1')).rows).toEqual([{ total: 42 }]);
    await expect(client.query('INSERT INTO app.orders VALUES (2, 1)')).rejects.toThrow(/permission denied/);
    client.on('error', () => undefined); // the revoke below terminates this session

    const revoked = await api('POST', `/requests/${id}/revoke`, 'erin@example.com', {});
    expect(revoked.status).toBe(200);
    expect(revoked.json.status).toBe('REVOKED');
    expect(workflow.calls.at(-1)).toEqual(['stop', id, 'revoked early']);
    const again = new pg.Client({
      host: db.host,
      port: db.port,
      database: db.database,
      user: credentials.username,
      password: credentials.password,
    });
    await expect(again.connect()).rejects.toThrow();
    await client.end().catch(() => undefined);
    expect((await deps.audit.list(id)).map((e) => e.action)).toEqual([
      'auto-approved',
      'granted',
      'credentials-issued',
      'refused',
      'revoked',
    ]);
  });

  it('answers the routes the other cases leave out with the bodies their response schemas document', async () => {
    const targets = await api('GET', '/targets', 'erin@example.com');
    expect(targets.status).toBe(200);
    expect((await api('GET', '/openapi.json', undefined)).status).toBe(200);

    const { id } = await createPending();
    expect((await api('GET', `/requests/${id}`, 'alice@example.com')).status).toBe(200);
    expect((await api('GET', '/requests?view=to-approve', 'alice@example.com')).status).toBe(200);
    const page = await api('GET', '/requests?limit=1', 'erin@example.com');
    expect(page.json.cursor).toEqual(expect.any(String));
    expect((await api('POST', `/requests/${id}/deny`, 'bob@example.com', { comment: 'no' })).status).toBe(
      200,
    );

    const withdrawn = await createPending();
    const cancelled = await api('POST', `/requests/${withdrawn.id}/cancel`, 'erin@example.com', {});
    expect(cancelled.json.status).toBe('CANCELLED');

    const quick = await api('POST', '/requests', 'erin@example.com', {
      ...NEW_REQUEST,
      level: 'quick',
      duration: '20m',
    });
    const quickId = String(quick.json.id);
    await grantHandler(deps)({ requestId: quickId }, context);
    const extended = await api('POST', `/requests/${quickId}/extend`, 'erin@example.com', {
      duration: '10m',
      reason: 'still digging',
    });
    expect(extended.status).toBe(200);
    expect(await api('POST', `/requests/${quickId}/revoke`, 'erin@example.com', {})).toMatchObject({
      status: 200,
    });

    const glass = await api('POST', '/requests', 'erin@example.com', { ...NEW_REQUEST, breakGlass: true });
    expect(glass.json.flagged).toBe(true);
    expect((await api('GET', '/requests?view=flagged', 'sec@example.com')).status).toBe(200);
    const reviewed = await api('POST', `/requests/${String(glass.json.id)}/review`, 'sec@example.com', {});
    expect(reviewed.json.flagged).toBe(false);
  });

  it("serves a statement request's result to its requester, once the workflow's task has run it", async () => {
    const created = await api('POST', '/requests', 'dave@example.com', {
      target: 'orders',
      level: 'run',
      reason: 'count orders',
      statements: ['SELECT count(*) AS n FROM app.orders'],
    });
    expect(created.status).toBe(201);
    const id = String(created.json.id);
    expect((await api('GET', `/requests/${id}/result`, 'dave@example.com')).json.error?.code).toBe(
      'RESULT_NOT_AVAILABLE',
    );
    // The workflow's ExecuteStatement task (the recording workflow runs none).
    expect(await executeStatement({ requestId: id }, deps)).toEqual({ status: 'EXECUTED' });
    const result = await api('GET', `/requests/${id}/result`, 'dave@example.com');
    expect(result.status).toBe(200);
    expect(result.json.statements).toEqual([
      { command: 'SELECT', rowCount: 1, columns: ['n'], rows: [['1']] },
    ]);
    const other = await api('GET', `/requests/${id}/result`, 'alice@example.com');
    expect([other.status, other.json.error?.code]).toEqual([403, 'NOT_REQUESTER']);
  });

  it('has parsed a real success of every route with its response schema', () => {
    expect([...documented].sort()).toEqual(ROUTES.map((r) => r.operationId).sort());
  });

  it('keeps every password, link secret and task token out of logs, DynamoDB items and audit events', async () => {
    expect(secretsSeen.length).toBeGreaterThan(5);
    const requests = await sys.tables.client.send(
      new ScanCommand({ TableName: sys.tables.names.requestsTable }),
    );
    const audit = await sys.tables.client.send(new ScanCommand({ TableName: sys.tables.names.auditTable }));
    const stored = JSON.stringify([requests.Items, audit.Items]);
    const logs = logLines.join('\n');
    for (const secret of secretsSeen) {
      const isTaskToken = secret.startsWith('task-token-');
      // The task token is kept on the request (the API needs it), never in audit events or logs.
      if (!isTaskToken) expect(stored).not.toContain(secret);
      expect(JSON.stringify(audit.Items)).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });
});
