import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
// Named import from core: `z.core.$ZodError` through the zod/mini namespace would bundle all of core (every locale).
import { $ZodError } from 'zod/v4/core';
import { ERROR_CODES, type ErrorCode, isDomainError, type RefusalKind } from '../domain/errors.js';
import { isEmail, type SignedCaller } from '../domain/identity.js';
import { validationErrorFrom } from '../domain/schemas.js';
import type { Identity } from '../domain/types.js';

/** Bodies above this are refused before parsing (API Gateway allows 10 MB; nothing we take needs more than a few KiB). */
export const MAX_BODY_BYTES = 64 * 1024;

/** The HTTP status of each kind of refusal: the one place the domain's refusals become HTTP. */
const STATUS_OF_KIND = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  'method-not-allowed': 405,
  conflict: 409,
  gone: 410,
  'too-large': 413,
  'unsupported-media': 415,
  internal: 500,
  unavailable: 503,
} as const satisfies Record<RefusalKind, number>;

/** The HTTP status a refusal code is answered with. */
export function httpStatusFor(code: ErrorCode): number {
  return STATUS_OF_KIND[ERROR_CODES[code]];
}

/** The local caller header; honoured only when the deps say local mode (API Gateway owns identity otherwise). */
export const LOCAL_USER_HEADER = 'x-jitdb-user';

/** Sent on every response, JSON or HTML: nothing is cacheable, sniffable or frameable. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

/** The confirmation pages need inline styles and a same-origin form post, still no scripts and no framing. */
export const HTML_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
  };
}

export function htmlResponse(statusCode: number, html: string): APIGatewayProxyResult {
  return {
    statusCode,
    headers: {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': HTML_CSP,
    },
    body: html,
  };
}

export function errorBody(code: ErrorCode, message: string, details?: Record<string, unknown>) {
  return { error: { code, message, ...(details ? { details } : {}) } };
}

/** A refusal as the API returns it: `{error:{code,message}}` with the code's status. */
export function errorResponse(code: ErrorCode, message: string, details?: Record<string, unknown>) {
  return jsonResponse(httpStatusFor(code), errorBody(code, message, details));
}

export interface MappedError {
  statusCode: number;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  /** Set for unexpected errors: the id to quote to an operator, who finds the stack in the logs. */
  correlationId?: string;
}

/** DomainError → its code; a zod error → VALIDATION_FAILED; anything else → INTERNAL with no internal message. */
export function mapError(error: unknown, correlationId: string): MappedError {
  const known = error instanceof $ZodError ? validationErrorFrom(error) : error;
  if (isDomainError(known)) {
    return {
      statusCode: httpStatusFor(known.code),
      code: known.code,
      message: known.message,
      ...(known.details ? { details: known.details } : {}),
    };
  }
  return {
    statusCode: 500,
    code: 'INTERNAL',
    message: `internal error; quote correlation id ${correlationId}`,
    correlationId,
  };
}

/** The API Gateway request id, else the Lambda request id: what an operator searches the logs for. */
export function correlationIdOf(
  event: Pick<APIGatewayProxyEvent, 'requestContext'> | undefined,
  fallback: string,
) {
  const id = event?.requestContext?.requestId;
  return typeof id === 'string' && id !== '' ? id : fallback;
}

/** Case-insensitive header lookup (API Gateway keeps the client's casing). */
export function headerOf(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && typeof value === 'string') return value;
  }
  return undefined;
}

/** Who a request claims to come from, before the trust model has had its say (see authenticate.ts). */
export type ClaimedCaller = { kind: 'signed'; caller: SignedCaller } | { kind: 'local'; identity: Identity };

/**
 * The caller behind API Gateway's AWS_IAM auth: the signed principal's ARN and account, for the trust model to
 * judge. In local mode only, the `x-jitdb-user` header, or the `local:<email>` identity the local server sets
 * from it: local identities are trusted emails by definition (there is no signature to check on a laptop).
 */
export function claimedCaller(
  event: Pick<APIGatewayProxyEvent, 'headers' | 'requestContext'>,
  options: { localMode: boolean },
): ClaimedCaller | undefined {
  const identity = event.requestContext?.identity;
  if (options.localMode) {
    const header = headerOf(event, LOCAL_USER_HEADER)?.trim().toLowerCase();
    const local = header ?? localUser(identity?.userArn ?? undefined);
    if (local !== undefined && isEmail(local)) {
      return { kind: 'local', identity: { principal: local, email: local, via: 'local' } };
    }
  }
  const arn = identity?.userArn;
  if (typeof arn !== 'string' || !arn.startsWith('arn:') || arn.length > 2048) return undefined;
  const accountId = typeof identity?.accountId === 'string' ? identity.accountId : undefined;
  return { kind: 'signed', caller: { userArn: arn, ...(accountId ? { accountId } : {}) } };
}

function localUser(userArn: string | undefined): string | undefined {
  return userArn?.startsWith('local:') ? userArn.slice('local:'.length) : undefined;
}
