import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { Deps } from '../../functions/application/ports.js';
import { createHandler } from '../../functions/handlers/api.js';
import { openApiDocument } from '../../functions/handlers/openapi.js';
import { errorCodesOf, findRoute, ROUTES } from '../../functions/handlers/routes.js';
import { claimedCaller, httpStatusFor } from '../../functions/shared/http.js';
import { policy } from './support/domain-fixtures.js';

const ALICE_ARN =
  'arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Engineer_0a1b2c3d4e5f6a7b/alice@example.com';
const REQUEST_ID = '01jn9x7k2m0000000000000000';

/** Deps whose store, workflow and mailer fail the test if touched: bad input must be refused before them. */
function untouchableDeps(): { deps: Deps; touched: string[]; errors: unknown[] } {
  const touched: string[] = [];
  const trap = (name: string) =>
    new Proxy(
      {},
      {
        get: (_t, prop) => () => {
          touched.push(`${name}.${String(prop)}`);
          throw new Error(`${name}.${String(prop)} must not be called`);
        },
      },
    );
  const deps = {
    clock: { now: () => new Date('2025-03-01T10:00:00.000Z') },
    ids: { requestId: () => REQUEST_ID, secret: () => 'x'.repeat(43) },
    requests: trap('requests'),
    audit: trap('audit'),
    provisioners: trap('provisioners'),
    mailer: trap('mailer'),
    workflow: trap('workflow'),
    policy: { policy: () => policy },
    metrics: { count: () => undefined },
    log: { info: () => undefined, warn: () => undefined },
    publicBaseUrl: 'https://api.example.com/prod',
  } as unknown as Deps;
  return { deps, touched, errors: [] };
}

const context = {
  awsRequestId: 'lambda-req-1',
  functionName: 'api',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:api',
} as unknown as Context;

function event(
  overrides: Partial<APIGatewayProxyEvent> & { userArn?: string | null } = {},
): APIGatewayProxyEvent {
  const { userArn = ALICE_ARN, ...rest } = overrides;
  return {
    resource: '/requests',
    path: '/requests',
    httpMethod: 'POST',
    headers: { 'Content-Type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: JSON.stringify({ target: 'orders-db', level: 'read', duration: '30m', reason: 'INC-1' }),
    isBase64Encoded: false,
    requestContext: {
      requestId: 'apigw-req-1',
      identity: { userArn, caller: userArn ? 'AROA:alice' : null, sourceIp: '10.0.0.1' },
    } as unknown as APIGatewayProxyEvent['requestContext'],
    ...rest,
  };
}

type ResponseBody = { error?: { code: string; message: string }; correlationId?: string };

async function call(e: APIGatewayProxyEvent, deps = untouchableDeps().deps, localMode = false) {
  const logged: unknown[] = [];
  const handler = createHandler(deps, { localMode, logger: { error: (m, x) => logged.push({ m, x }) } });
  const res = (await handler(e, context)) as APIGatewayProxyResult;
  return {
    res,
    body: JSON.parse(res.body) as ResponseBody,
    logged,
  };
}

/** The handler answered `status` with the error `code`. */
function expectRefusal(res: APIGatewayProxyResult, body: ResponseBody, status: number, code: string): void {
  expect(res.statusCode).toBe(status);
  expect(body.error?.code).toBe(code);
}

describe('HTTP plumbing of the api handler', () => {
  it('refuses malformed JSON with 400 MALFORMED_JSON', async () => {
    const { res, body } = await call(event({ body: '{"target": "orders-db",' }));
    expectRefusal(res, body, 400, 'MALFORMED_JSON');
  });

  it('refuses a body that is not application/json with 415', async () => {
    const { res, body } = await call(event({ headers: { 'content-type': 'text/plain' } }));
    expectRefusal(res, body, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('accepts a charset parameter on application/json', async () => {
    const { deps, touched } = untouchableDeps();
    const { res } = await call(
      event({ headers: { 'content-type': 'application/json; charset=utf-8' } }),
      deps,
    );
    // Gets past the HTTP layer to the store (which this test forbids): the trap records the attempt.
    expect(res.statusCode).toBe(500);
    expect(touched).toEqual(['requests.create']);
  });

  it('refuses a 1 MB reason with 413 PAYLOAD_TOO_LARGE before parsing', async () => {
    const body = JSON.stringify({
      target: 'orders-db',
      level: 'read',
      duration: '30m',
      reason: 'a'.repeat(1024 * 1024),
    });
    const { res, body: out } = await call(event({ body }));
    expect(res.statusCode).toBe(413);
    expect(out.error?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses wrong types with 400 VALIDATION_FAILED and touches nothing', async () => {
    const { deps, touched } = untouchableDeps();
    const { res, body } = await call(
      event({ body: JSON.stringify({ target: 7, level: 'read', duration: true }) }),
      deps,
    );
    expectRefusal(res, body, 400, 'VALIDATION_FAILED');
    expect(touched).toEqual([]);
  });

  it('refuses unknown fields with 400 VALIDATION_FAILED naming the field', async () => {
    const payload = { target: 'orders-db', level: 'read', duration: '30m', reason: 'x', duraton: '1h' };
    const { res, body } = await call(event({ body: JSON.stringify(payload) }));
    expectRefusal(res, body, 400, 'VALIDATION_FAILED');
    expect(body.error?.message).toContain('duraton: unknown field');
  });

  it('refuses a NUL byte in the reason with 400 VALIDATION_FAILED', async () => {
    const payload = { target: 'orders-db', level: 'read', duration: '30m', reason: 'a\u0000b' };
    const { res, body } = await call(event({ body: JSON.stringify(payload) }));
    expectRefusal(res, body, 400, 'VALIDATION_FAILED');
  });

  it('passes unicode, RTL text and SQL in strings through to the domain as data', async () => {
    const { deps, touched } = untouchableDeps();
    const payload = {
      target: 'orders-db',
      level: 'read',
      duration: '30m',
      reason: "\u202eevil'; DROP TABLE x; -- 日本",
    };
    await call(event({ body: JSON.stringify(payload) }), deps);
    expect(touched).toEqual(['requests.create']);
  });

  it('refuses SQL as a target id with 400 VALIDATION_FAILED', async () => {
    const payload = { target: "x'; DROP ROLE admin; --", level: 'read', duration: '30m', reason: 'r' };
    const { res, body } = await call(event({ body: JSON.stringify(payload) }));
    expectRefusal(res, body, 400, 'VALIDATION_FAILED');
  });

  it('refuses a call without identity with 401 UNAUTHENTICATED', async () => {
    const { res, body } = await call(event({ userArn: null }));
    expectRefusal(res, body, 401, 'UNAUTHENTICATED');
  });

  it('ignores the local identity header unless in local mode', async () => {
    const e = event({
      userArn: null,
      headers: { 'content-type': 'application/json', 'x-jitdb-user': 'bob@example.com' },
    });
    expect((await call(e)).res.statusCode).toBe(401);
    const { deps, touched } = untouchableDeps();
    await call(e, deps, true);
    expect(touched).toEqual(['requests.create']);
  });

  it('answers an unknown route with 404 ROUTE_NOT_FOUND and a wrong method with 405', async () => {
    const missing = await call(event({ resource: '/nope', path: '/nope', httpMethod: 'GET', body: null }));
    expect(missing.res.statusCode).toBe(404);
    expect(missing.body.error?.code).toBe('ROUTE_NOT_FOUND');
    const wrong = await call(
      event({ resource: '/targets', path: '/targets', httpMethod: 'DELETE', body: null }),
    );
    expect(wrong.res.statusCode).toBe(405);
    expect(wrong.body.error?.code).toBe('METHOD_NOT_ALLOWED');
    expect(wrong.res.headers?.allow).toBe('GET');
  });

  it('validates path ids before any store access', async () => {
    const { deps, touched } = untouchableDeps();
    const { res, body } = await call(
      event({
        resource: '/requests/{id}',
        path: "/requests/1' OR '1'='1",
        httpMethod: 'GET',
        body: null,
        pathParameters: { id: "1' OR '1'='1" },
      }),
      deps,
    );
    expectRefusal(res, body, 400, 'VALIDATION_FAILED');
    expect(touched).toEqual([]);
  });

  it('answers unexpected errors with 500 INTERNAL, a correlation id and no internal message', async () => {
    const { res, body, logged } = await call(event());
    expectRefusal(res, body, 500, 'INTERNAL');
    expect(body.correlationId).toBe('apigw-req-1');
    expect(res.body).not.toContain('must not be called');
    expect(logged).toHaveLength(1);
  });

  it('sets the security headers on every response', async () => {
    const { res } = await call(event({ body: '{' }));
    expect(res.headers).toMatchObject({
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    });
  });

  it('lists the targets for a signed caller', async () => {
    const { res, body } = await call(
      event({ resource: '/targets', path: '/targets', httpMethod: 'GET', body: null }),
    );
    expect(res.statusCode).toBe(200);
    expect((body as unknown as { targets: { id: string }[] }).targets.map((t) => t.id)).toEqual([
      'orders-db',
    ]);
  });
});

describe('caller identity', () => {
  it('claims the signed ARN and account API Gateway verified', () => {
    const e = event();
    (e.requestContext.identity as { accountId?: string }).accountId = '123456789012';
    expect(claimedCaller(e, { localMode: false })).toEqual({
      kind: 'signed',
      caller: { userArn: ALICE_ARN, accountId: '123456789012' },
    });
  });

  it('never trusts a local: identity or the x-jitdb-user header outside local mode', () => {
    expect(claimedCaller(event({ userArn: 'local:eve@example.com' }), { localMode: false })).toBeUndefined();
    const withHeader = event({ headers: { 'x-jitdb-user': 'eve@example.com' } });
    expect(claimedCaller(withHeader, { localMode: false })).toEqual({
      kind: 'signed',
      caller: { userArn: ALICE_ARN },
    });
    expect(claimedCaller(event({ userArn: 'local:eve@example.com' }), { localMode: true })).toEqual({
      kind: 'local',
      identity: { principal: 'eve@example.com', email: 'eve@example.com', via: 'local' },
    });
  });
});

interface JsonSchemaNode {
  additionalProperties?: unknown;
  enum?: string[];
  required?: string[];
  properties?: Record<string, JsonSchemaNode>;
}

interface Operation {
  responses: Record<string, { description: string; content?: Record<string, { schema?: JsonSchemaNode }> }>;
}

describe('route table and OpenAPI', () => {
  it('puts every route of the table in the OpenAPI document', () => {
    const doc = openApiDocument() as {
      openapi: string;
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const route of ROUTES) {
      expect(doc.paths[route.path]?.[route.method.toLowerCase()]?.operationId).toBe(route.operationId);
    }
  });

  it('documents the success body of every operation with its response schema, never a bare object', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, Operation>> };
    for (const route of ROUTES) {
      const success = doc.paths[route.path]?.[route.method.toLowerCase()]?.responses[route.successStatus];
      const mediaType = route.produces === 'html' ? 'text/html' : 'application/json';
      const schema = success?.content?.[mediaType]?.schema;
      expect(schema, route.operationId).toBeDefined();
      if (route.produces === 'json' && route.operationId !== 'openApi') {
        expect([route.operationId, schema?.additionalProperties]).toEqual([route.operationId, false]);
      }
    }
  });

  it('documents each refusal an operation can give under its status, with the shared error shape', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, Operation>> };
    for (const route of ROUTES) {
      const { responses } = doc.paths[route.path]?.[route.method.toLowerCase()] ?? { responses: {} };
      const codes = errorCodesOf(route);
      const statuses = [...new Set(codes.map((code) => String(httpStatusFor(code))))].sort();
      expect(
        Object.keys(responses)
          .filter((s) => s !== String(route.successStatus))
          .sort(),
      ).toEqual(statuses);
      for (const code of codes) {
        const refusal = responses[httpStatusFor(code)];
        expect(refusal?.description, route.operationId).toContain(code);
        if (route.produces === 'json') {
          const error = refusal?.content?.['application/json']?.schema?.properties?.error;
          expect(error?.properties?.code?.enum, `${route.operationId} ${code}`).toContain(code);
          expect(error?.required).toEqual(['code', 'message']);
        }
      }
    }
  });

  it('documents the 400/401/403/404/409 a signed request route can give and the INTERNAL 500 of every route', () => {
    const approve = ROUTES.find((r) => r.operationId === 'approveRequest');
    if (!approve) throw new Error('no approveRequest route');
    expect(errorCodesOf(approve)).toEqual(
      expect.arrayContaining([
        'VALIDATION_FAILED',
        'MALFORMED_JSON',
        'UNAUTHENTICATED',
        'NOT_AN_APPROVER',
        'REQUEST_NOT_FOUND',
        'ALREADY_APPROVED_BY_YOU',
        'INTERNAL',
      ]),
    );
    for (const route of ROUTES) expect(errorCodesOf(route)).toContain('INTERNAL');
  });

  it('prefers literal segments and reports allowed methods', () => {
    expect(findRoute('GET', `/requests/${REQUEST_ID}/audit`)).toMatchObject({
      found: true,
      match: { route: { operationId: 'requestAudit' }, params: { id: REQUEST_ID } },
    });
    expect(findRoute('PUT', '/requests')).toEqual({
      found: false,
      code: 'METHOD_NOT_ALLOWED',
      allow: ['POST', 'GET'],
    });
  });

  it('serves the document at GET /openapi.json without identity', async () => {
    const { res } = await call(
      event({
        resource: '/openapi.json',
        path: '/openapi.json',
        httpMethod: 'GET',
        body: null,
        userArn: null,
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).servers).toEqual([{ url: 'https://api.example.com/prod' }]);
  });
});
