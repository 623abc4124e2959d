/**
 * What API Gateway's Lambda proxy integration makes of an HTTP request's headers, query and body: the parts of
 * the proxy event the local HTTP server and assembly mode's API Gateway build alike.
 */
import type { APIGatewayEventIdentity, APIGatewayProxyEvent } from 'aws-lambda';

type EventParts = Pick<
  APIGatewayProxyEvent,
  | 'headers'
  | 'multiValueHeaders'
  | 'queryStringParameters'
  | 'multiValueQueryStringParameters'
  | 'body'
  | 'isBase64Encoded'
>;

/** A map with no prototype: client-chosen keys such as `constructor` or `__proto__` are plain entries. */
function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * Headers (as sent, minus `skipHeader`), query parameters (null when there are none, as API Gateway sends),
 * and the body: text as is, anything else base64.
 */
export function proxyEventParts(
  rawHeaders: readonly string[],
  searchParams: URLSearchParams,
  body: Buffer,
  skipHeader?: string,
): EventParts {
  const headers = dictionary<string>();
  const multiValueHeaders = dictionary<string[]>();
  let contentType = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    const value = rawHeaders[i + 1] ?? '';
    if (skipHeader !== undefined && name.toLowerCase() === skipHeader) continue;
    if (name.toLowerCase() === 'content-type') contentType = value;
    headers[name] = value;
    const existing = multiValueHeaders[name];
    if (existing) existing.push(value);
    else multiValueHeaders[name] = [value];
  }
  const query = dictionary<string>();
  const multiQuery = dictionary<string[]>();
  for (const [key, value] of searchParams) {
    query[key] = value;
    const existing = multiQuery[key];
    if (existing) existing.push(value);
    else multiQuery[key] = [value];
  }
  const hasQuery = Object.keys(query).length > 0;
  const textual =
    body.length === 0 || contentType === '' || /json|text|x-www-form-urlencoded|xml/i.test(contentType);
  return {
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    body: body.length === 0 ? null : textual ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: body.length > 0 && !textual,
  };
}

/** `requestContext.identity` as API Gateway fills it for a caller: who signed (or nobody), from where. */
export function callerIdentity(caller: {
  sourceIp: string;
  accessKey?: string | null;
  accountId?: string | null;
  caller?: string | null;
  user?: string | null;
  userArn?: string | null;
  userAgent?: string | null;
}): APIGatewayEventIdentity {
  return {
    accessKey: caller.accessKey ?? null,
    accountId: caller.accountId ?? null,
    apiKey: null,
    apiKeyId: null,
    caller: caller.caller ?? null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: caller.sourceIp,
    user: caller.user ?? null,
    userAgent: caller.userAgent ?? null,
    userArn: caller.userArn ?? null,
  };
}
