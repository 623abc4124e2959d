import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createApiHandler } from '../../functions/handlers/api.js';
import { type HttpFunction, ROUTES } from '../../functions/handlers/routes.js';
import { type RunningHttpServer, startHttpServer } from '../../local/http-server.js';
import { lambdaContext } from '../../local/invocations.js';
import { OutboxMailer } from '../../local/outbox.js';

describe('the local HTTP server', () => {
  let server: RunningHttpServer;
  const seen: APIGatewayProxyEvent[] = [];
  const outbox = new OutboxMailer({ print: false });

  beforeAll(async () => {
    const echo = async (event: APIGatewayProxyEvent) => {
      seen.push(event);
      return {
        statusCode: 201,
        headers: { 'content-type': 'application/json', 'x-handler': 'echo' },
        multiValueHeaders: { 'set-cookie': ['a=1; HttpOnly', 'b=2; HttpOnly'] },
        body: JSON.stringify({ ok: true }),
      };
    };
    server = await startHttpServer({
      port: 0,
      outbox,
      maxBodyBytes: 1024,
      log: () => undefined,
      handlers: { api: echo, 'approval-links': echo, credentials: echo },
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it('turns a request into an API Gateway REST proxy event with the local identity', async () => {
    const response = await fetch(`${server.url}/requests/01hz%2Fx/approve?x=1&x=2&y=3`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-jitdb-user': 'Alice@Example.com' },
      body: JSON.stringify({ comment: 'ok' }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-handler')).toBe('echo');
    expect(response.headers.getSetCookie()).toEqual(['a=1; HttpOnly', 'b=2; HttpOnly']);
    const event = seen.at(-1);
    expect(event?.resource).toBe('/requests/{id}/approve');
    expect(event?.path).toBe('/requests/01hz%2Fx/approve');
    expect(event?.httpMethod).toBe('POST');
    expect(event?.pathParameters).toEqual({ id: '01hz/x' });
    expect(event?.queryStringParameters).toEqual({ x: '2', y: '3' });
    expect(event?.multiValueQueryStringParameters).toEqual({ x: ['1', '2'], y: ['3'] });
    expect(event?.body).toBe('{"comment":"ok"}');
    expect(event?.isBase64Encoded).toBe(false);
    expect(event?.requestContext.resourcePath).toBe('/requests/{id}/approve');
    expect(event?.requestContext.identity.user).toBe('alice@example.com');
    expect(event?.requestContext.identity.userArn).toBe('local:alice@example.com');
  });

  it('never passes the identity header itself on to a handler', async () => {
    await fetch(`${server.url}/requests/abc`, { headers: { 'x-jitdb-user': 'bob@example.com' } });
    const event = seen.at(-1);
    expect(Object.keys(event?.headers ?? {}).map((h) => h.toLowerCase())).not.toContain('x-jitdb-user');
    expect(Object.keys(event?.multiValueHeaders ?? {}).map((h) => h.toLowerCase())).not.toContain(
      'x-jitdb-user',
    );
  });

  it('leaves the identity empty without the header or with something that is not an email', async () => {
    await fetch(`${server.url}/requests/abc`);
    expect(seen.at(-1)?.requestContext.identity.userArn).toBeNull();
    await fetch(`${server.url}/requests/abc`, { headers: { 'x-jitdb-user': 'not an email' } });
    expect(seen.at(-1)?.requestContext.identity.userArn).toBeNull();
  });

  it('refuses a body over the cap before any handler sees it', async () => {
    const before = seen.length;
    const response = await fetch(`${server.url}/requests/abc/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(2048),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message: 'the body exceeds 1024 bytes',
        details: { maxBytes: 1024 },
      },
    });
    expect(seen.length).toBe(before);
  });

  it('answers 404 for an unknown path and 405 for a known path with the wrong method', async () => {
    const missing = await fetch(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { code: 'ROUTE_NOT_FOUND', message: 'no such route' },
    });
    const wrong = await fetch(`${server.url}/requests/abc`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
  });

  it('lists captured emails newest first at /outbox.json and as escaped HTML at /outbox', async () => {
    await outbox.send({
      to: ['carol@example.com'],
      subject: 'First <b>mail</b>',
      text: 'Review: http://localhost:3000/approvals/tok1',
      html: '<a href="http://localhost:3000/approvals/tok1">Review</a>',
    });
    await outbox.send({
      to: ['dan@example.com'],
      subject: 'Second',
      text: 'no links',
      html: '<p>no links</p>',
    });
    const json = (await (await fetch(`${server.url}/outbox.json`)).json()) as {
      emails: { id: number; subject: string; links: string[] }[];
    };
    expect(json.emails.map((e) => [e.id, e.subject, e.links])).toEqual([
      [2, 'Second', []],
      [1, 'First <b>mail</b>', ['http://localhost:3000/approvals/tok1']],
    ]);
    const page = await fetch(`${server.url}/outbox`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('<h2 id="mail-1">First &lt;b&gt;mail&lt;/b&gt;</h2>');
    expect(html).toContain('<a href="http://localhost:3000/approvals/tok1">');
    expect(html.indexOf('mail-2')).toBeLessThan(html.indexOf('mail-1'));
  });
});

describe('the local server and the Lambdas, one router', () => {
  let server: RunningHttpServer;
  const REQUEST_ID = '01jn9x7k2m0000000000000000';

  /** Answers with its route-table name, the fake function name it ran as and the event's resource. */
  const named =
    (name: HttpFunction) =>
    async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => ({
      statusCode: 200,
      body: JSON.stringify({ handler: name, functionName: context.functionName, resource: event.resource }),
    });

  beforeAll(async () => {
    server = await startHttpServer({
      port: 0,
      log: () => undefined,
      handlers: {
        api: named('api'),
        'approval-links': named('approval-links'),
        credentials: named('credentials'),
      },
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it('sends every route in the table to the handler the table names, with the route as resource', async () => {
    for (const route of ROUTES) {
      const path = route.path.replace('{id}', REQUEST_ID).replace('{token}', 'a.b');
      const response = await fetch(`${server.url}${path}`, { method: route.method });
      expect(await response.json(), `${route.method} ${route.path}`).toEqual({
        handler: route.handler,
        functionName: route.handler,
        resource: route.path,
      });
    }
  });

  it('refuses an unknown route or method exactly as the Lambda path does', async () => {
    const lambda = createApiHandler(
      () => {
        throw new Error('routing refuses before any dependency is needed');
      },
      { logger: { error: () => undefined } },
    );
    const cases = [
      ['GET', '/nope'],
      ['GET', `/requests/${REQUEST_ID}/nope`],
      ['DELETE', '/targets'],
      ['PUT', '/requests'],
    ] as const;
    for (const [method, path] of cases) {
      const local = await fetch(`${server.url}${path}`, { method });
      const direct = (await lambda(
        {
          resource: '/{proxy+}',
          path,
          httpMethod: method,
          headers: {},
          requestContext: { requestId: 'apigw-1', identity: {} },
        } as unknown as APIGatewayProxyEvent,
        lambdaContext('api'),
      )) as APIGatewayProxyResult;
      expect(
        {
          status: local.status,
          allow: local.headers.get('allow'),
          contentType: local.headers.get('content-type'),
          body: await local.json(),
        },
        `${method} ${path}`,
      ).toEqual({
        status: direct.statusCode,
        allow: direct.headers?.allow ?? null,
        contentType: direct.headers?.['content-type'],
        body: JSON.parse(direct.body),
      });
    }
  });
});

describe('the outbox', () => {
  const mail = {
    to: ['carol@example.com', 'dan@example.com'],
    subject: 'Approve alice → demo (read)?',
    text: 'Review and decide: http://localhost:3000/approvals/01abc.secret\nMore: https://example.com/docs.',
    html: '<a href="http://localhost:3000/approvals/01abc.secret">Review</a>',
  };

  it('prints a compact block with who, what and the approval links', async () => {
    const printed: string[] = [];
    const outbox = new OutboxMailer({ print: (block) => printed.push(block) });
    await outbox.send(mail);
    expect(printed).toEqual([
      [
        '✉  mail #1 to carol@example.com, dan@example.com',
        '   subject: Approve alice → demo (read)?',
        '   open: http://localhost:3000/approvals/01abc.secret',
      ].join('\n'),
    ]);
    expect(outbox.list()[0]?.links).toEqual([
      'http://localhost:3000/approvals/01abc.secret',
      'https://example.com/docs',
    ]);
  });

  it('keeps emails in an owner-only outbox.jsonl that the next run reads back, numbering on', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jitdb-outbox-'));
    try {
      const file = path.join(dir, 'outbox.jsonl');
      const first = new OutboxMailer({ file, print: false });
      await first.send(mail);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const second = new OutboxMailer({ file, print: false });
      await second.send({ ...mail, subject: 'second' });
      expect(second.list().map((e) => [e.id, e.subject])).toEqual([
        [2, 'second'],
        [1, 'Approve alice → demo (read)?'],
      ]);
      expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
