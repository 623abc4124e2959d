import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DomainError, ValidationError } from '../domain/errors.js';
import { isRequestId } from '../domain/naming.js';
import { parseInput } from '../domain/schemas.js';
import type { Identity } from '../domain/types.js';
import {
  type ClaimedCaller,
  claimedCaller,
  correlationIdOf,
  errorBody,
  headerOf,
  jsonResponse,
  MAX_BODY_BYTES,
  type MappedError,
  mapError,
  SECURITY_HEADERS,
} from '../shared/http.js';
import type { HandlerPowertools } from '../shared/powertools.js';
import { findRoute, type HttpFunction, type RouteMatch, type RouteRefusal } from './routes.js';

/** What the middlewares learned about a request, attached to the event for the handler. */
export interface HttpState {
  match: RouteMatch;
  /** The parsed, not yet validated body (`{}` when there was none). */
  body: unknown;
  /** The parsed query string, validated when the route has a query schema. */
  query: unknown;
  /** Who the request says it comes from; the handler turns it into `caller` under the trust model. */
  claim?: ClaimedCaller;
  /** The authenticated caller, for `iam` routes. */
  caller?: Identity;
  correlationId: string;
}

export type HttpEvent = APIGatewayProxyEvent & { jitdb?: HttpState };

/** The handler's view: the state is always there once the middlewares ran. */
export function httpState(event: HttpEvent): HttpState {
  if (!event.jitdb) throw new Error('http middlewares did not run');
  return event.jitdb;
}

export interface ErrorLogger {
  error(message: string, extra: Record<string, unknown>): void;
}

type HttpMiddleware = MiddlewareObj<HttpEvent, APIGatewayProxyResult, Error, Context>;

/** Security headers on every response, including error responses and early returns. */
export function securityHeaders(): HttpMiddleware {
  const apply = (request: { response: APIGatewayProxyResult | null | undefined }) => {
    if (!request.response) return;
    request.response = {
      ...request.response,
      headers: { ...SECURITY_HEADERS, ...(request.response.headers ?? {}) },
    };
  };
  return { name: 'securityHeaders', after: apply, onError: apply };
}

/**
 * Errors → responses. Domain refusals keep their code and message; anything unexpected is logged here with a
 * correlation id and answered with that id only (no internal message ever reaches the client).
 */
export function httpErrors(options: {
  logger: ErrorLogger;
  render?: (error: MappedError, event: HttpEvent) => APIGatewayProxyResult;
}): HttpMiddleware {
  return {
    name: 'httpErrors',
    onError: (request) => {
      if (request.response) return;
      const correlationId =
        request.event?.jitdb?.correlationId ??
        correlationIdOf(request.event, request.context?.awsRequestId ?? 'unknown');
      const mapped = mapError(request.error, correlationId);
      if (mapped.code === 'INTERNAL') {
        options.logger.error('unhandled error', { correlationId, error: request.error });
      }
      request.response = options.render ? options.render(mapped, request.event) : errorResult(mapped);
    },
  };
}

/** A mapped error as every JSON route answers it: `{error:{code,message}}`, with `Allow` on a 405. */
export function errorResult(mapped: MappedError): APIGatewayProxyResult {
  const headers: Record<string, string> = {};
  const allow = mapped.details?.allow;
  if (mapped.code === 'METHOD_NOT_ALLOWED' && Array.isArray(allow)) headers.allow = allow.join(', ');
  return jsonResponse(
    mapped.statusCode,
    {
      ...errorBody(mapped.code, mapped.message, mapped.details),
      ...(mapped.correlationId ? { correlationId: mapped.correlationId } : {}),
    },
    headers,
  );
}

/** Why no route serves `method` on `path`: the refusal the Lambdas and the local server both give. */
export function unroutable(lookup: RouteRefusal, method: string, path: string): DomainError {
  if (lookup.code === 'METHOD_NOT_ALLOWED') {
    return new DomainError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
      details: { allow: lookup.allow },
    });
  }
  return new DomainError('ROUTE_NOT_FOUND', 'no such route');
}

/** A body over `maxBytes`, refused before it is parsed (or, locally, before it is read whole). */
export function payloadTooLarge(maxBytes: number): DomainError {
  return new DomainError('PAYLOAD_TOO_LARGE', `the body exceeds ${maxBytes} bytes`, {
    details: { maxBytes },
  });
}

/**
 * Routing, request shape and identity, in that order: route and method, path ids, body size, content type,
 * body parsing, query validation, then the caller (only `iam` routes need one).
 */
export function httpRequest(options: { handler: HttpFunction; localMode: boolean }): HttpMiddleware {
  return {
    name: 'httpRequest',
    before: (request) => {
      const event = request.event;
      const correlationId = correlationIdOf(event, request.context?.awsRequestId ?? 'unknown');
      const path = event.resource && !event.resource.includes('{proxy') ? event.resource : event.path;
      const lookup = findRoute(event.httpMethod ?? 'GET', path ?? '/', options.handler);
      if (!lookup.found) throw unroutable(lookup, event.httpMethod, path ?? '/');
      const { route } = lookup.match;
      // Prefer API Gateway's decoded path parameters; the router's are the fallback for proxy resources.
      const params = { ...lookup.match.params, ...pickStrings(event.pathParameters) };
      const match: RouteMatch = { route, params };
      if (params.id !== undefined && !isRequestId(params.id)) {
        throw new ValidationError('id: must be a request id (26 lowercase Crockford base32 characters)', {
          problems: ['id: must be a request id'],
        });
      }
      const body = parseBody(event, route.body ? (route.bodyType ?? 'json') : undefined);
      const rawQuery = pickStrings(event.queryStringParameters);
      const query = route.query ? parseInput(route.query, rawQuery) : rawQuery;
      const claim = route.auth === 'iam' ? claimedCaller(event, { localMode: options.localMode }) : undefined;
      if (route.auth === 'iam' && !claim) {
        throw new DomainError('UNAUTHENTICATED', 'this route needs a signed (AWS SigV4) request');
      }
      event.jitdb = { match, body, query, correlationId, ...(claim ? { claim } : {}) };
    },
  };
}

function pickStrings(record: Record<string, string | undefined> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record ?? {})) if (typeof value === 'string') out[key] = value;
  return out;
}

/** Size, then media type, then syntax: each bad-input class gets its own code. */
function parseBody(event: APIGatewayProxyEvent, kind: 'json' | 'form' | undefined): unknown {
  if (kind === undefined) return {};
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) throw payloadTooLarge(MAX_BODY_BYTES);
  if (bytes.length === 0) return {};
  const contentType = (headerOf(event, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const wanted = kind === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  if (contentType !== wanted) {
    throw new DomainError('UNSUPPORTED_MEDIA_TYPE', `the body must be ${wanted}`, {
      details: { expected: wanted },
    });
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (kind === 'form') return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DomainError('MALFORMED_JSON', 'the body is not valid JSON');
  }
}

export type DepsSource<D> = D | (() => D);

export function resolveDeps<D extends object>(source: DepsSource<D>): D {
  return typeof source === 'function' ? (source as () => D)() : source;
}

export interface HttpHandlerOptions {
  /** Honour the local identity header (`x-jitdb-user`). Only the local runtime sets this. */
  localMode?: boolean;
  /** Where unexpected errors are logged (default: the Powertools logger). */
  logger?: ErrorLogger;
  /** The Powertools logger the invocation context goes to; default the Lambda singletons. */
  powertools?: HandlerPowertools;
}
