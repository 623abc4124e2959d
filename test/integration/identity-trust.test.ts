import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps, Email } from '../../functions/application/ports.js';
import { securityStream } from '../../functions/application/refusals.js';
import { linkRefusalStream } from '../../functions/domain/link-refusals.js';
import { csrfTokenFor, hashLinkSecret, parseLinkToken } from '../../functions/domain/link-tokens.js';
import { Policy } from '../../functions/domain/policy-schema.js';
import type { AuditEvent } from '../../functions/domain/types.js';
import { createHandler as apiHandler } from '../../functions/handlers/api.js';
import { createHandler as linksHandler } from '../../functions/handlers/approval-links.js';
import { createHandler as credentialsHandler } from '../../functions/handlers/credentials.js';
import { createHandler as grantHandler } from '../../functions/handlers/grant.js';
import { createHandler as requestApprovalHandler } from '../../functions/handlers/request-approval.js';
import { type ApiTestDeps, apiTestDeps } from '../support/api-deps.js';
import { apiGatewayEvent, type EventOptions } from '../support/apigw-events.js';
import { createTestDatabase, type TestDatabase } from '../support/deps.js';
import { services } from '../support/services.js';
import { onSchema } from '../unit/support/policy-samples.js';

/**
 * The trust model through the real Lambda handlers, with API Gateway-shaped events as AWS_IAM auth delivers
 * them (requestContext.identity.userArn and accountId), not the local header: each attack from issue #11 sends
 * what a principal in the same account (or another) could send, and must be refused with its own code and an
 * audit event. DynamoDB Local and PostgreSQL are real.
 */

const HOME = '111111111111';
const context = {
  awsRequestId: 'lambda-1',
  functionName: 'api',
  invokedFunctionArn: `arn:aws:lambda:eu-west-1:${HOME}:function:jitdb-api`,
} as unknown as Context;

/** An IAM Identity Center session: the session name is the user's email, set by the identity provider. */
const sso = (email: string, account = HOME) =>
  `arn:aws:sts::${account}:assumed-role/AWSReservedSSO_Engineer_0a1b2c3d4e5f6a7b/${email}`;
/** A session of an ordinary role: whoever calls AssumeRole chose the session name. */
const session = (role: string, name: string, account = HOME) =>
  `arn:aws:sts::${account}:assumed-role/${role}/${name}`;

const ERIN = sso('erin@example.com');
const ALICE = sso('alice@example.com');
const DAVE = sso('dave@example.com');
const MALLORY_USER = `arn:aws:iam::${HOME}:user/mallory`;
const FRANK_USER = `arn:aws:iam::${HOME}:user/frank`;

let sys: ApiTestDeps;
let deps: Deps;
let db: TestDatabase;
let outbox: Email[];
const log = { info: () => undefined, warn: () => undefined, error: () => undefined };

beforeAll(async () => {
  const { pgAdminUrl } = services();
  db = await createTestDatabase(pgAdminUrl, 'identity');

  const read = { privileges: onSchema('app', 'SELECT'), maxDuration: '1h' };
  const policy = Policy.parse({
    version: 1,
    identity: { people: { [FRANK_USER]: 'frank@example.com' } },
    targets: [
      {
        id: 'orders',
        engine: 'postgres',
        connection: { host: db.host, port: db.port },
        database: db.database,
        credentialKind: 'password',
        tls: 'disable',
        levels: {
          read: { ...read, approvers: ['alice@example.com', 'bob@example.com', 'mallory@example.com'] },
          quick: { ...read, approvers: ['alice@example.com'], autoApprove: { maxDuration: '30m' } },
          'two-dbas': {
            ...read,
            approvers: [`arn:aws:iam::${HOME}:role/Dba`, 'alice@example.com'],
            approvalsRequired: 2,
          },
          'erin-approves': {
            ...read,
            approvers: ['erin@example.com', 'alice@example.com', 'frank@example.com'],
          },
          restricted: { ...read, approvers: ['alice@example.com'], requesters: ['erin@example.com'] },
          'no-links': { ...read, approvers: ['alice@example.com'], approvalLinks: false },
          emergency: {
            ...read,
            approvers: ['alice@example.com'],
            breakGlass: {
              allowed: true,
              requesters: [`arn:aws:iam::${HOME}:role/Oncall`],
              notify: ['security@example.com'],
            },
          },
        },
      },
    ],
  });
  sys = await apiTestDeps({ tablesPrefix: 'idt', policy, log });
  ({ deps, outbox } = sys);
});

afterAll(async () => sys?.close());

/** What API Gateway hands the Lambda for a SigV4-signed call by `userArn` (no signature, no caller, no user). */
function signedEvent(
  method: string,
  path: string,
  userArn: string | undefined,
  options: Omit<EventOptions, 'userArn' | 'localUser'> = {},
): APIGatewayProxyEvent {
  return apiGatewayEvent(method, path, { ...options, ...(userArn ? { userArn } : {}) });
}

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

async function api(
  method: string,
  path: string,
  userArn: string | undefined,
  options: Parameters<typeof signedEvent>[3] = {},
) {
  const handler = path.endsWith('/credentials')
    ? credentialsHandler(deps, { logger: log })
    : apiHandler(deps, { logger: log });
  const res = (await handler(signedEvent(method, path, userArn, options), context)) as APIGatewayProxyResult;
  return { status: res.statusCode, json: JSON.parse(res.body) as Json };
}

async function link(method: 'GET' | 'POST', token: string, form?: Record<string, string>) {
  const handler = linksHandler(deps, { logger: log });
  const body = form ? new URLSearchParams(form).toString() : undefined;
  const e = signedEvent(method, `/approvals/${token}`, undefined, {
    ...(body ? { body } : {}),
    contentType: 'application/x-www-form-urlencoded',
  });
  const res = (await handler(e, context)) as APIGatewayProxyResult;
  return { status: res.statusCode, html: res.body };
}

/** Files a request as `userArn` and runs the approval step; returns the id and the mail it sent. */
async function requestAs(userArn: string, level: string, extra: Record<string, unknown> = {}) {
  const created = await api('POST', '/requests', userArn, {
    body: { target: 'orders', level, duration: '20m', reason: 'INC-7 look at an order', ...extra },
  });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  const id = String(created.json.id);
  const sent = outbox.length;
  if (created.json.status === 'PENDING') {
    await requestApprovalHandler(deps)(
      { requestId: id, taskToken: `tt-${randomBytes(6).toString('hex')}` },
      context,
    );
  }
  const mail = outbox.slice(sent);
  const links = new Map<string, string>();
  for (const email of mail) {
    const match = /\/approvals\/([^\s"<]+)/.exec(email.text);
    if (match?.[1] && email.to[0]) links.set(email.to[0], match[1]);
  }
  return { id, status: String(created.json.status), mail, links };
}

/**
 * The API answered `status` with error `code`, and `event` records the refusal: that code (with `details`),
 * and `actor` where given.
 */
function expectRefused(
  res: { status: number; json: Json },
  status: number,
  event: AuditEvent | undefined,
  expected: { code: string; actor?: string; details?: Record<string, unknown> },
): void {
  const { code, actor, details } = expected;
  expect(res.status).toBe(status);
  expect(res.json.error?.code).toBe(code);
  expect(event).toMatchObject({
    action: 'refused',
    ...(actor !== undefined ? { actor } : {}),
    details: { code, ...details },
  });
}

async function lastEvent(id: string) {
  return (await deps.audit.list(id)).at(-1);
}

async function securityEvents() {
  return deps.audit.list(securityStream(new Date()));
}

describe('who the caller is, on the Lambda path', () => {
  it('takes no email from a session name the caller chose: a CI role session named like an approver is not that approver', async () => {
    const { id } = await requestAs(ERIN, 'read');
    const spoof = session('GitHubActionsDeploy', 'alice@example.com');
    const res = await api('POST', `/requests/${id}/approve`, spoof, { body: {} });
    expectRefused(res, 403, await lastEvent(id), { code: 'NOT_AN_APPROVER', actor: spoof });
    expect((await deps.requests.get(id))?.approvals).toEqual([]);
  });

  it('refuses a caller from another account, even with an Identity Center session, and audits it', async () => {
    const { id } = await requestAs(ERIN, 'read');
    const foreign = sso('alice@example.com', '999999999999');
    const res = await api('POST', `/requests/${id}/approve`, foreign, { body: {} });
    expectRefused(res, 403, (await securityEvents()).at(-1), {
      code: 'ACCOUNT_NOT_TRUSTED',
      actor: foreign,
    });
    expect((await deps.requests.get(id))?.approvals).toEqual([]);
    const create = await api('POST', '/requests', foreign, {
      body: { target: 'orders', level: 'read', duration: '20m', reason: 'x' },
    });
    expect(create.json.error?.code).toBe('ACCOUNT_NOT_TRUSTED');
  });

  it('refuses an ARN whose account disagrees with the account API Gateway reports', async () => {
    const res = await api('GET', '/targets', ALICE, { accountId: '999999999999' });
    expect(res.json.error?.code).toBe('ACCOUNT_NOT_TRUSTED');
  });

  it('refuses a federated user, whose name its creator chose and whose creator the ARN does not name', async () => {
    const res = await api('GET', '/targets', `arn:aws:sts::${HOME}:federated-user/alice@example.com`);
    expect(res.status).toBe(403);
    expect(res.json.error?.code).toBe('UNSUPPORTED_PRINCIPAL');
  });

  it('counts two sessions of one role as one approver of a 2-of-N request', async () => {
    const { id } = await requestAs(ERIN, 'two-dbas');
    const first = await api('POST', `/requests/${id}/approve`, session('Dba', 'dba-one'), { body: {} });
    expect(first.status).toBe(200);
    expect(first.json.status).toBe('PENDING');
    const second = await api('POST', `/requests/${id}/approve`, session('Dba', 'dba-two'), { body: {} });
    expectRefused(second, 409, await lastEvent(id), { code: 'ALREADY_APPROVED_BY_YOU' });
    expect((await deps.requests.get(id))?.status).toBe('PENDING');
    const alice = await api('POST', `/requests/${id}/approve`, ALICE, { body: {} });
    expect(alice.json.status).toBe('APPROVED');
  });

  it('refuses credentials to a session named like the requester, and rotates nothing', async () => {
    const { id } = await requestAs(ERIN, 'quick');
    await grantHandler(deps)({ requestId: id }, context);
    const spoof = session('CiRole', 'erin@example.com');
    const res = await api('GET', `/requests/${id}/credentials`, spoof);
    const events = await deps.audit.list(id);
    expectRefused(res, 403, events.at(-1), { code: 'NOT_REQUESTER', actor: spoof });
    expect(events.map((e) => e.action)).not.toContain('credentials-issued');
  });

  it('refuses Identity Center sessions not named with an email, so users of one permission set are not one person', async () => {
    const { id } = await requestAs(ERIN, 'quick');
    await grantHandler(deps)({ requestId: id }, context);
    const bob = `arn:aws:sts::${HOME}:assumed-role/AWSReservedSSO_Engineer_0a1b2c3d4e5f6a7b/bob`;
    const res = await api('GET', `/requests/${id}/credentials`, bob);
    expectRefused(res, 403, (await securityEvents()).at(-1), { code: 'UNSUPPORTED_PRINCIPAL', actor: bob });
    const asked = await api('POST', '/requests', bob, {
      body: { target: 'orders', level: 'read', duration: '20m', reason: 'x' },
    });
    expect(asked.json.error?.code).toBe('UNSUPPORTED_PRINCIPAL');
  });

  it('never honours x-jitdb-user on the Lambda path', async () => {
    const { id } = await requestAs(ERIN, 'read');
    const ci = session('CiRole', 'build-42');
    const res = await api('POST', `/requests/${id}/approve`, ci, {
      body: {},
      headers: { 'x-jitdb-user': 'alice@example.com' },
    });
    expect(res.json.error?.code).toBe('NOT_AN_APPROVER');
  });

  it('maps a directory principal (an IAM user) to its person', async () => {
    const { id } = await requestAs(ERIN, 'erin-approves');
    const res = await api('POST', `/requests/${id}/approve`, FRANK_USER, { body: {} });
    expect(res.status).toBe(200);
    expect((await deps.requests.get(id))?.approvals[0]).toMatchObject({
      by: FRANK_USER,
      email: 'frank@example.com',
    });
  });
});

describe('self-approval, by every path', () => {
  it('sends an IAM-user requester no approval links: approvers are told to decide through the API', async () => {
    const { id, mail, links } = await requestAs(MALLORY_USER, 'read');
    expect(links.size).toBe(0);
    expect(mail.map((m) => m.to[0]).sort()).toEqual([
      'alice@example.com',
      'bob@example.com',
      'mallory@example.com',
    ]);
    expect(mail[0]?.text).toContain(`jitdb approve ${id}`);
    expect((await deps.requests.get(id))?.approvalLinks).toEqual([]);
  });

  it("refuses a link on a request whose requester has no trusted email (the IAM user's own link, issued before)", async () => {
    const { id } = await requestAs(MALLORY_USER, 'read');
    // A link to mallory@example.com as an earlier version would have mailed it: the requester's own mailbox.
    const secret = randomBytes(32).toString('base64url');
    const request = await deps.requests.get(id);
    if (!request) throw new Error('request not stored');
    const planted = {
      approver: 'mallory@example.com',
      tokenHash: hashLinkSecret(secret),
      purpose: 'request' as const,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    await deps.requests.transition(
      request,
      { ...request, approvalLinks: [planted] },
      {
        at: new Date().toISOString(),
        actor: 'system',
        via: 'system',
        action: 'approval-requested',
        fromStatus: 'PENDING',
        toStatus: 'PENDING',
      },
    );
    const token = `${id}.${secret}`;
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('bad token');
    const page = await link('GET', token);
    expect(page.status).toBe(403);
    expect(page.html).toContain('LINK_APPROVAL_UNAVAILABLE');
    const post = await link('POST', token, { decision: 'approve', csrf: csrfTokenFor(parsed) });
    expect(post.status).toBe(403);
    // Counted beside the request (never on it); the window's first refusal is marked on the audit table.
    expect((await deps.audit.list(linkRefusalStream(id))).at(-1)).toMatchObject({
      action: 'link-refused',
      actor: 'mallory@example.com',
      details: { code: 'LINK_APPROVAL_UNAVAILABLE' },
    });
    const after = await deps.requests.get(id);
    expect(after?.status).toBe('PENDING');
    expect(after?.approvals).toEqual([]);
  });

  it('never mails an Approve link to the requester who is also an approver', async () => {
    const { mail, links } = await requestAs(ERIN, 'erin-approves');
    expect(mail.map((m) => m.to[0]).sort()).toEqual(['alice@example.com', 'frank@example.com']);
    expect([...links.keys()].sort()).toEqual(['alice@example.com', 'frank@example.com']);
  });

  it('refuses the requester approving through the API under another Identity Center permission set', async () => {
    const { id } = await requestAs(ERIN, 'erin-approves');
    const otherSet = `arn:aws:sts::${HOME}:assumed-role/AWSReservedSSO_Admin_ffffffffffffffff/erin@example.com`;
    const res = await api('POST', `/requests/${id}/approve`, otherSet, { body: {} });
    expect(res.json.error?.code).toBe('SELF_APPROVAL_FORBIDDEN');
    expect(await lastEvent(id)).toMatchObject({
      action: 'refused',
      details: { code: 'SELF_APPROVAL_FORBIDDEN' },
    });
  });

  it('mails no links where the level turns them off', async () => {
    const { id, mail, links } = await requestAs(ERIN, 'no-links');
    expect(links.size).toBe(0);
    expect(mail.map((m) => m.to[0])).toEqual(['alice@example.com']);
    expect(mail[0]?.text).toContain(`jitdb approve ${id}`);
  });
});

describe('who may ask', () => {
  it('refuses a caller outside the level requesters with NOT_ELIGIBLE, audits it and stores nothing', async () => {
    const before = await deps.requests.listByRequester(DAVE);
    const res = await api('POST', '/requests', DAVE, {
      body: { target: 'orders', level: 'restricted', duration: '20m', reason: 'x' },
    });
    expectRefused(res, 403, (await securityEvents()).at(-1), {
      code: 'NOT_ELIGIBLE',
      actor: DAVE,
      details: { targetId: 'orders', level: 'restricted' },
    });
    expect((await deps.requests.listByRequester(DAVE)).items).toHaveLength(before.items.length);
    const ok = await requestAs(ERIN, 'restricted');
    expect(ok.status).toBe('PENDING');
  });

  it('refuses break-glass to someone not on its list, even a requester of the level', async () => {
    const res = await api('POST', '/requests', ERIN, {
      body: { target: 'orders', level: 'emergency', duration: '20m', reason: 'outage', breakGlass: true },
    });
    expect(res.status).toBe(403);
    expect(res.json.error?.code).toBe('BREAK_GLASS_NOT_ELIGIBLE');
    expect((await securityEvents()).at(-1)).toMatchObject({
      actor: ERIN,
      details: { code: 'BREAK_GLASS_NOT_ELIGIBLE', breakGlass: true },
    });
    const oncall = await api('POST', '/requests', session('Oncall', 'pager-1'), {
      body: { target: 'orders', level: 'emergency', duration: '20m', reason: 'outage', breakGlass: true },
    });
    expect(oncall.status).toBe(201);
    expect(oncall.json.status).toBe('APPROVED');
  });

  it('refuses an extension to a requester the policy no longer lists, and audits it', async () => {
    const { id } = await requestAs(ERIN, 'quick');
    await grantHandler(deps)({ requestId: id }, context);
    const before = sys.policy();
    const quick = before.targets[0]?.levels.quick;
    if (!quick) throw new Error('no quick level');
    const target = before.targets[0];
    if (!target) throw new Error('no target');
    sys.setPolicy({
      ...before,
      targets: [
        { ...target, levels: { ...target.levels, quick: { ...quick, requesters: ['alice@example.com'] } } },
      ],
    });
    try {
      const res = await api('POST', `/requests/${id}/extend`, ERIN, {
        body: { duration: '5m', reason: 'more' },
      });
      expectRefused(res, 403, await lastEvent(id), { code: 'NOT_ELIGIBLE' });
    } finally {
      sys.setPolicy(before);
    }
  });

  it('shows each caller only the levels they may ask for', async () => {
    const levelsOf = async (arn: string) => {
      const res = await api('GET', '/targets', arn);
      const targets = res.json.targets as { levels: { name: string; breakGlass: boolean }[] }[];
      return Object.fromEntries((targets[0]?.levels ?? []).map((l) => [l.name, l.breakGlass]));
    };
    const dave = await levelsOf(DAVE);
    expect(Object.keys(dave)).not.toContain('restricted');
    expect(dave.emergency).toBe(false);
    expect(Object.keys(await levelsOf(ERIN))).toContain('restricted');
    expect((await levelsOf(session('Oncall', 'pager-2'))).emergency).toBe(true);
  });
});

describe('the IAM Identity Center path, end to end', () => {
  it('requests, approves by emailed link, grants, fetches credentials and connects', async () => {
    const { id, links } = await requestAs(ERIN, 'read');
    expect([...links.keys()].sort()).toEqual(['alice@example.com', 'bob@example.com', 'mallory@example.com']);
    const token = links.get('alice@example.com') ?? '';
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('no link for alice');
    const decided = await link('POST', token, { decision: 'approve', csrf: csrfTokenFor(parsed) });
    expect(decided.status).toBe(200);
    await grantHandler(deps)({ requestId: id }, context);
    const creds = await api('GET', `/requests/${id}/credentials`, ERIN);
    expect(creds.status).toBe(200);
    const client = new pg.Client({
      host: db.host,
      port: db.port,
      database: db.database,
      user: String(creds.json.username),
      password: String(creds.json.password),
    });
    await client.connect();
    try {
      expect((await client.query('SELECT id FROM app.orders')).rows).toEqual([{ id: 1 }]);
    } finally {
      await client.end();
    }
    const actors = (await deps.audit.list(id)).map((e) => `${e.action}:${e.actor}`);
    expect(actors).toContain(`requested:${ERIN}`);
    expect(actors).toContain('approved:alice@example.com');
    expect(actors).toContain(`credentials-issued:${ERIN}`);
    const shown = await api('GET', `/requests/${id}`, ALICE);
    expect(shown.json.requesterEmail).toBe('erin@example.com');
  });
});
