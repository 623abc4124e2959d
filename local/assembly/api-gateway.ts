/**
 * Assembly mode's API Gateway: the REST API exactly as the template declares it — its resources and methods,
 * AWS_IAM or NONE per method, request body models, stage throttling and gateway responses — in front of the
 * local Lambda service. An AWS_IAM method verifies the caller's SigV4 signature (service `execute-api`),
 * evaluates `execute-api:Invoke` on the method's ARN against the caller's session policies, and fills
 * `requestContext.identity` the way API Gateway does for an assumed-role caller. No header stands in for it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { callerIdentity, proxyEventParts } from '../proxy-event.js';
import { type RawRequest, type RawResponse, readRawRequest } from './aws-endpoint.js';
import type { ApiMethodModel, Authorization, GatewayResponseModel, RestApiModel } from './model.js';
import type { RoleSession } from './sessions.js';

/** API Gateway's own refusals, by gateway response type, with its default status and message. */
const GATEWAY_ERRORS = {
  MISSING_AUTHENTICATION_TOKEN: {
    status: 403,
    message: 'Missing Authentication Token',
    type: 'MissingAuthenticationTokenException',
  },
  INVALID_SIGNATURE: {
    status: 403,
    message: 'The request signature we calculated does not match the signature you provided.',
    type: 'InvalidSignatureException',
  },
  EXPIRED_TOKEN: {
    status: 403,
    message: 'The security token included in the request is expired',
    type: 'ExpiredTokenException',
  },
  UNAUTHORIZED_CLIENT: {
    status: 403,
    message: 'The security token included in the request is invalid.',
    type: 'UnrecognizedClientException',
  },
  ACCESS_DENIED: { status: 403, message: '', type: 'AccessDeniedException' },
  BAD_REQUEST_BODY: { status: 400, message: 'Invalid request body', type: 'BadRequestException' },
  REQUEST_TOO_LARGE: { status: 413, message: 'Request Too Long', type: 'RequestTooLargeException' },
  THROTTLED: { status: 429, message: 'Too Many Requests', type: 'TooManyRequestsException' },
  INTEGRATION_FAILURE: {
    status: 502,
    message: 'Internal server error',
    type: 'InternalServerErrorException',
  },
  /** The function's resource policy does not let API Gateway invoke it ("Invalid permissions on Lambda function"). */
  API_CONFIGURATION_ERROR: {
    status: 500,
    message: 'Internal server error',
    type: 'InternalServerErrorException',
  },
} as const;

export type GatewayErrorType = keyof typeof GATEWAY_ERRORS;

/** What the signature check concluded: the session, or which gateway refusal it is. */
export type SignatureCheck =
  | { ok: true; session: RoleSession }
  | {
      ok: false;
      refusal: 'MISSING_AUTHENTICATION_TOKEN' | 'INVALID_SIGNATURE' | 'EXPIRED_TOKEN' | 'UNAUTHORIZED_CLIENT';
    };

export interface ApiGatewayOptions {
  api: RestApiModel;
  /** Verifies an execute-api SigV4 signature (sigv4-verify.ts over the local sessions). */
  verifySignature(request: RawRequest): SignatureCheck;
  /** Evaluates `execute-api:Invoke` on `methodArn` against the session's policies (iam-evaluate.ts). */
  authorize(session: RoleSession, methodArn: string): Promise<Authorization>;
  /** Invokes a function by logical id with the proxy event; its result or its error. */
  invoke(
    functionLogicalId: string,
    event: APIGatewayProxyEvent,
  ): Promise<{ ok: true; result: unknown } | { ok: false; errorType: string; errorMessage: string }>;
  /** Validates a body against the method's request model; a message when it fails. */
  validateBody?(method: ApiMethodModel, body: unknown): string | undefined;
  region: string;
  /** The account the API is deployed in (its ARNs, requestContext.accountId). */
  account: string;
  port?: number;
}

export interface RunningApiGateway {
  /** The stage URL, `http://127.0.0.1:<port>/<stage>`: what the template's API URL is replaced with. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** A path's segments matched against a resource path; the path parameters when it matches. */
function match(resource: string, path: string): Record<string, string> | undefined {
  const want = resource.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of want.entries()) {
    const value = got[i] ?? '';
    const param = /^\{(.+)\}$/.exec(part)?.[1];
    if (param) params[param] = decodeURIComponent(value);
    else if (part !== value) return undefined;
  }
  return params;
}

/** A token bucket per method, from the stage's MethodSettings (rate per second, burst). */
class Throttle {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly limit: { rateLimit: number; burstLimit: number }) {
    this.tokens = limit.burstLimit;
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(
      this.limit.burstLimit,
      this.tokens + ((now - this.last) / 1000) * this.limit.rateLimit,
    );
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A gateway response: the template's customization over API Gateway's default for the type. */
export function gatewayResponse(
  responses: readonly GatewayResponseModel[],
  type: GatewayErrorType,
  message: string,
): RawResponse {
  const base = GATEWAY_ERRORS[type];
  const family = base.status >= 500 ? 'DEFAULT_5XX' : 'DEFAULT_4XX';
  const custom =
    responses.find((r) => r.responseType === type) ?? responses.find((r) => r.responseType === family);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-amzn-errortype': base.type,
  };
  for (const [name, value] of Object.entries(custom?.responseParameters ?? {})) {
    const header = /^gatewayresponse\.header\.(.+)$/.exec(name)?.[1];
    if (header) headers[header.toLowerCase()] = value.replace(/^'|'$/g, '');
  }
  const template = custom?.responseTemplates['application/json'];
  const body = template
    ? template
        .replaceAll('$context.error.messageString', JSON.stringify(message))
        .replaceAll('$context.error.responseType', type)
        .replaceAll('$context.error.message', message)
    : JSON.stringify(type === 'ACCESS_DENIED' ? { Message: message } : { message });
  return { status: Number(custom?.statusCode ?? base.status), headers, body };
}

/** The proxy event API Gateway builds for a Lambda proxy integration. */
function proxyEvent(
  options: ApiGatewayOptions,
  method: ApiMethodModel,
  request: RawRequest,
  req: IncomingMessage,
  pathParameters: Record<string, string>,
  resourcePath: string,
  session: RoleSession | undefined,
): APIGatewayProxyEvent {
  const parts = proxyEventParts(req.rawHeaders, new URLSearchParams(request.query), request.body);
  const now = Date.now();
  return {
    resource: method.path,
    path: resourcePath,
    httpMethod: method.httpMethod,
    ...parts,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    stageVariables: null,
    requestContext: {
      accountId: options.account,
      apiId: options.api.restApiId,
      authorizer: null,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: method.httpMethod,
      identity: callerIdentity({
        sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
        userAgent: request.headers['user-agent'] ?? null,
        ...(session
          ? {
              accessKey: session.credentials.accessKeyId,
              accountId: session.account,
              caller: session.userId,
              user: session.userId,
              userArn: session.assumedRoleArn,
            }
          : {}),
      }),
      path: `/${options.api.stageName}${resourcePath}`,
      stage: options.api.stageName,
      requestId: randomUUID(),
      requestTimeEpoch: now,
      resourceId: method.path,
      resourcePath: method.path,
    },
  };
}

/** Starts the API on 127.0.0.1, under `/<stage>`. */
export async function startApiGateway(options: ApiGatewayOptions): Promise<RunningApiGateway> {
  const { api } = options;
  const throttles = new Map<ApiMethodModel, Throttle>();
  for (const method of api.methods) if (method.throttle) throttles.set(method, new Throttle(method.throttle));
  const refuse = (type: GatewayErrorType, message: string = GATEWAY_ERRORS[type].message) =>
    gatewayResponse(api.gatewayResponses, type, message);

  const route = async (req: IncomingMessage): Promise<RawResponse> => {
    const request = await readRawRequest(req);
    const prefix = `/${api.stageName}`;
    if (!request.path.startsWith(`${prefix}/`)) return refuse('MISSING_AUTHENTICATION_TOKEN');
    const resourcePath = request.path.slice(prefix.length);
    let found: { method: ApiMethodModel; params: Record<string, string> } | undefined;
    for (const method of api.methods) {
      if (method.httpMethod !== request.method) continue;
      const params = match(method.path, resourcePath);
      if (params) {
        found = { method, params };
        break;
      }
    }
    // API Gateway answers an unknown resource or method with "Missing Authentication Token", signed or not.
    if (!found) return refuse('MISSING_AUTHENTICATION_TOKEN');
    const { method, params } = found;
    if (request.body.length > api.maxBodyBytes) return refuse('REQUEST_TOO_LARGE');
    if (throttles.get(method)?.take() === false) return refuse('THROTTLED');

    let session: RoleSession | undefined;
    if (method.authorizationType === 'AWS_IAM') {
      const checked = options.verifySignature(request);
      if (!checked.ok) return refuse(checked.refusal);
      session = checked.session;
      const methodArn = `arn:aws:execute-api:${options.region}:${options.account}:${api.restApiId}/${api.stageName}/${method.httpMethod}${resourcePath}`;
      const decision = await options.authorize(session, methodArn);
      if (!decision.allowed) {
        return refuse(
          'ACCESS_DENIED',
          `User: ${session.assumedRoleArn} is not authorized to perform: execute-api:Invoke on resource: ${methodArn}`,
        );
      }
    }
    if (options.validateBody) {
      let body: unknown;
      try {
        body = request.body.length === 0 ? undefined : JSON.parse(request.body.toString('utf8'));
      } catch {
        body = Symbol('not JSON'); // matches no schema
      }
      const problem = options.validateBody(method, body);
      if (problem !== undefined)
        // API Gateway's message names no detail ($context.error.validationErrorString would).
        return refuse('BAD_REQUEST_BODY');
    }
    if (!method.functionLogicalId) return refuse('INTEGRATION_FAILURE');
    const event = proxyEvent(options, method, request, req, params, resourcePath, session);
    const outcome = await options.invoke(method.functionLogicalId, event);
    if (!outcome.ok) {
      return refuse(
        outcome.errorType === 'InvalidPermissions' ? 'API_CONFIGURATION_ERROR' : 'INTEGRATION_FAILURE',
      );
    }
    const result = outcome.result as Partial<APIGatewayProxyResult> | null;
    if (!result || typeof result.statusCode !== 'number') return refuse('INTEGRATION_FAILURE');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(result.headers ?? {}))
      headers[name.toLowerCase()] = String(value);
    for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
      headers[name.toLowerCase()] = values.map(String).join(', ');
    }
    const body = result.body ?? '';
    return {
      status: result.statusCode,
      headers,
      body: result.isBase64Encoded ? Buffer.from(body, 'base64') : body,
    };
  };

  const server = createServer((req, res) => {
    route(req)
      .then((response) => {
        res.writeHead(response.status, { 'x-amzn-requestid': randomUUID(), ...response.headers });
        res.end(response.body);
      })
      .catch(() => {
        const response = refuse('INTEGRATION_FAILURE');
        res.writeHead(response.status, response.headers);
        res.end(response.body);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${api.stageName}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
