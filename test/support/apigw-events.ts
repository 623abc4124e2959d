/**
 * API Gateway REST events as the Lambda handlers receive them, routed through the real route table: a
 * SigV4-signed call (AWS_IAM auth fills requestContext.identity), a local call (the x-jitdb-user header),
 * or an anonymous one (approval links).
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { findRoute } from '../../functions/handlers/routes.js';

export interface EventOptions {
  /** The signed caller's ARN (requestContext.identity.userArn). */
  userArn?: string;
  /** The caller's account; taken from userArn when not given. */
  accountId?: string;
  /** The local user (the x-jitdb-user header of local mode). */
  localUser?: string;
  sourceIp?: string;
  /** An object is sent as JSON, a string as is. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export function apiGatewayEvent(
  method: string,
  path: string,
  options: EventOptions = {},
): APIGatewayProxyEvent {
  const [bare = path, search = ''] = path.split('?');
  const lookup = findRoute(method, bare);
  const query = new URLSearchParams(search);
  const { userArn, body } = options;
  const account = options.accountId ?? (userArn ? /::(\d{12}):/.exec(userArn)?.[1] : undefined);
  return {
    resource: lookup.found ? lookup.match.route.path : path,
    path: bare,
    httpMethod: method,
    headers: {
      'content-type': options.contentType ?? 'application/json',
      ...(options.localUser ? { 'x-jitdb-user': options.localUser } : {}),
      ...(options.headers ?? {}),
    },
    multiValueHeaders: {},
    queryStringParameters: query.size > 0 ? Object.fromEntries(query) : null,
    multiValueQueryStringParameters: null,
    pathParameters: lookup.found ? lookup.match.params : null,
    stageVariables: null,
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      requestId: `apigw-${randomBytes(3).toString('hex')}`,
      identity: {
        ...(options.sourceIp ? { sourceIp: options.sourceIp } : {}),
        ...(userArn ? { userArn, accountId: account, caller: 'AROAEXAMPLE:session' } : {}),
      },
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

/** An approval-link page request: GET, or POST of `form` as the browser sends it. */
export function linkEvent(
  method: 'GET' | 'POST',
  token: string,
  options: { form?: Record<string, string>; sourceIp?: string } = {},
): APIGatewayProxyEvent {
  return apiGatewayEvent(method, `/approvals/${token}`, {
    ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
    ...(options.sourceIp ? { sourceIp: options.sourceIp } : {}),
    contentType: 'application/x-www-form-urlencoded',
  });
}
