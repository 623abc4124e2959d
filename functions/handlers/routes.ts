import * as z from 'zod/mini';
import '../domain/zod-locale.js';
import type { ErrorCode } from '../domain/errors.js';
import { hasControlCharacters } from '../domain/policy-schema.js';
import { DecisionBody, ExtendBody, ListQuery, NewRequestBody } from '../domain/schemas.js';
import type { HttpFunction } from '../function-registry.js';
import {
  AuditResponse,
  CredentialsResponse,
  HtmlPage,
  OpenApiResponse,
  RequestListResponse,
  RequestViewResponse,
  StatementResultResponse,
  TargetsResponse,
} from '../views/responses.js';

export type { HttpFunction };

/**
 * The one route table. The api handler's router, the local server, CDK's API resources and request
 * validators, and the OpenAPI document are all derived from it.
 */

/** The route handler of local/http-server.ts's table; the same as HttpFunction. */
export type HandlerName = HttpFunction;
/** iam: API Gateway AWS_IAM (SigV4); link: the approval-link token in the path is the credential; none: public. */
export type RouteAuth = 'iam' | 'link' | 'none';

export interface Route {
  method: 'GET' | 'POST';
  /** API Gateway resource path. */
  path: string;
  operationId: string;
  handler: HttpFunction;
  auth: RouteAuth;
  /** Request body: JSON for API calls, a url-encoded form for the confirmation page's buttons. */
  body?: z.ZodMiniType;
  bodyType?: 'json' | 'form';
  query?: z.ZodMiniType;
  /** What a successful call answers with. */
  produces: 'json' | 'html';
  successStatus: number;
  /** The success body (views/responses.ts); tests parse real responses with it. */
  response: z.ZodMiniType;
  /** Refusals particular to this operation; those every route of its kind can give come from `errorCodesOf`. */
  errors: readonly ErrorCode[];
  summary: string;
}

/** The confirmation page's form: which button, an optional comment and the CSRF value the page embedded. */
export const ApprovalForm = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  comment: z.optional(
    z.string().check(
      z.trim(),
      z.maxLength(1000),
      z.refine((s) => !hasControlCharacters(s.replace(/\r?\n/g, ' ')), 'must not contain control characters'),
    ),
  ),
  csrf: z.string().check(z.minLength(1), z.maxLength(128)),
});
export type ApprovalForm = z.output<typeof ApprovalForm>;

/** `<requestId>.<base64url secret>`: checked for shape before anything is looked up. */
export const LINK_TOKEN_PATTERN = /^[0-7][0-9a-hjkmnp-tv-z]{25}\.[A-Za-z0-9_-]{43}$/;

/** What approving and denying can refuse with: the same standing, window and race checks. */
const DECISION_ERRORS = [
  'NOT_AN_APPROVER',
  'SELF_APPROVAL_FORBIDDEN',
  'ALREADY_APPROVED_BY_YOU',
  'NOT_ALLOWED',
  'UNKNOWN_LEVEL',
  'INVALID_TRANSITION',
  'APPROVAL_WINDOW_CLOSED',
  'CONFLICT',
] as const satisfies readonly ErrorCode[];

/** What most routes share: the api function, called with SigV4, answering 200 with JSON. */
const SIGNED_JSON = { handler: 'api', auth: 'iam', produces: 'json', successStatus: 200 } as const;

/** A signed POST with a JSON body (a decision's unless given), answering with a request's view. */
const REQUEST_ACTION = {
  ...SIGNED_JSON,
  method: 'POST',
  body: DecisionBody,
  bodyType: 'json',
  response: RequestViewResponse,
} as const;

/** An approval link's confirmation page: the approval-links function, the token in the path is the credential. */
const LINK_PAGE = {
  path: '/approvals/{token}',
  handler: 'approval-links',
  auth: 'link',
  produces: 'html',
  successStatus: 200,
  response: HtmlPage,
} as const;

/** What the confirmation page and its form can both refuse with: the link itself is unusable. */
const LINK_ERRORS = [
  'APPROVAL_LINK_INVALID',
  'APPROVAL_LINK_USED',
  'APPROVAL_LINK_EXPIRED',
  'LINK_APPROVAL_UNAVAILABLE',
] as const satisfies readonly ErrorCode[];

export const ROUTES = [
  {
    ...REQUEST_ACTION,
    path: '/requests',
    operationId: 'createRequest',
    body: NewRequestBody,
    successStatus: 201,
    errors: [
      'UNKNOWN_TARGET',
      'UNKNOWN_LEVEL',
      'DURATION_EXCEEDS_MAX',
      'REASON_REQUIRED',
      'TICKET_REQUIRED',
      'TICKET_INVALID',
      'SCOPE_NOT_IN_LEVEL',
      'SCOPE_INVALID',
      'BREAK_GLASS_NOT_ALLOWED',
      'NOT_ELIGIBLE',
      'BREAK_GLASS_NOT_ELIGIBLE',
      'IDEMPOTENCY_KEY_REUSED',
      'ONCE_WITH_STATEMENT',
      'STATEMENT_TOO_LARGE',
      'STATEMENT_INVALID',
      'STATEMENTS_NOT_ALLOWED',
      'WINDOW_NOT_ALLOWED',
      'CONFLICT',
    ],
    summary:
      'Ask for access to a target at a level, for a duration, with a reason; or, with `statements` and no duration, ' +
      'for those statements to be run once on approval (a statement request)',
  },
  {
    ...SIGNED_JSON,
    method: 'GET',
    path: '/requests',
    operationId: 'listRequests',
    query: ListQuery,
    response: RequestListResponse,
    errors: [],
    summary:
      'Your requests (view=mine), those waiting for your decision (view=to-approve) or flagged for your review (view=flagged)',
  },
  {
    ...SIGNED_JSON,
    method: 'GET',
    path: '/requests/{id}',
    operationId: 'getRequest',
    response: RequestViewResponse,
    errors: ['NOT_ALLOWED'],
    summary: 'One request, as its requester, an approver or a reviewer sees it',
  },
  {
    ...REQUEST_ACTION,
    path: '/requests/{id}/approve',
    operationId: 'approveRequest',
    errors: DECISION_ERRORS,
    summary: 'Approve a pending request (or its pending extension)',
  },
  {
    ...REQUEST_ACTION,
    path: '/requests/{id}/deny',
    operationId: 'denyRequest',
    errors: DECISION_ERRORS,
    summary: 'Deny a pending request (or its pending extension)',
  },
  {
    ...REQUEST_ACTION,
    path: '/requests/{id}/cancel',
    operationId: 'cancelRequest',
    errors: ['NOT_REQUESTER', 'INVALID_TRANSITION', 'CONFLICT'],
    summary: 'Withdraw your own request before it is granted',
  },
  {
    ...REQUEST_ACTION,
    path: '/requests/{id}/revoke',
    operationId: 'revokeRequest',
    errors: [
      'NOT_ALLOWED',
      'REQUEST_NOT_ACTIVE',
      'INVALID_TRANSITION',
      'CONFLICT',
      'TARGET_UNAVAILABLE',
      'REVOKE_INCOMPLETE',
    ],
    summary: 'End an active grant now: drops the user and ends its sessions',
  },
  {
    ...REQUEST_ACTION,
    path: '/requests/{id}/extend',
    operationId: 'extendRequest',
    body: ExtendBody,
    errors: [
      'NOT_REQUESTER',
      'NOT_ELIGIBLE',
      'UNKNOWN_TARGET',
      'UNKNOWN_LEVEL',
      'REQUEST_NOT_ACTIVE',
      'EXTENSION_PENDING',
      'EXTENSION_EXCEEDS_MAX',
      'INVALID_TRANSITION',
      'CONFLICT',
    ],
    summary: 'Ask for more time on an active grant',
  },
  {
    ...REQUEST_ACTION,
    path: '/requests/{id}/review',
    operationId: 'reviewRequest',
    errors: ['NOT_A_REVIEWER', 'SELF_REVIEW_FORBIDDEN', 'NOT_FLAGGED', 'ALREADY_REVIEWED', 'CONFLICT'],
    summary: 'Acknowledge a break-glass request you review, so it is no longer flagged',
  },
  {
    ...SIGNED_JSON,
    method: 'GET',
    path: '/requests/{id}/credentials',
    operationId: 'fetchCredentials',
    handler: 'credentials',
    response: CredentialsResponse,
    errors: [
      'NOT_REQUESTER',
      'NO_CREDENTIALS_FOR_STATEMENT',
      'REQUEST_NOT_ACTIVE',
      'ONCE_ALREADY_USED',
      'UNKNOWN_TARGET',
      'UNKNOWN_LEVEL',
      'TARGET_UNAVAILABLE',
      'TARGET_NOT_CONFIGURED_FOR_IAM',
    ],
    summary: 'Fresh credentials for your active grant (a new password or a 15-minute IAM token)',
  },
  {
    ...SIGNED_JSON,
    method: 'GET',
    path: '/requests/{id}/result',
    operationId: 'getResult',
    response: StatementResultResponse,
    errors: ['NOT_REQUESTER', 'NOT_A_STATEMENT_REQUEST', 'RESULT_NOT_AVAILABLE', 'RESULT_EXPIRED'],
    summary:
      "A statement request's result: rows affected per statement, and a query's columns and rows up to the " +
      "level's limits; for the requester alone, until the level's retention ends",
  },
  {
    ...SIGNED_JSON,
    method: 'GET',
    path: '/requests/{id}/audit',
    operationId: 'requestAudit',
    response: AuditResponse,
    errors: ['NOT_ALLOWED'],
    summary: "The request's audit trail and whether its hash chain verifies",
  },
  {
    ...SIGNED_JSON,
    method: 'GET',
    path: '/targets',
    operationId: 'listTargets',
    response: TargetsResponse,
    errors: [],
    summary: 'Targets and levels you can ask for, with their rules',
  },
  {
    ...SIGNED_JSON,
    method: 'GET',
    path: '/openapi.json',
    operationId: 'openApi',
    auth: 'none',
    response: OpenApiResponse,
    errors: [],
    summary: 'This API, as an OpenAPI 3.1 document',
  },
  {
    ...LINK_PAGE,
    method: 'GET',
    operationId: 'showApprovalLink',
    errors: LINK_ERRORS,
    summary: 'Confirmation page of an emailed approval link (never decides)',
  },
  {
    ...LINK_PAGE,
    method: 'POST',
    operationId: 'decideApprovalLink',
    body: ApprovalForm,
    bodyType: 'form',
    errors: [
      ...LINK_ERRORS,
      'CSRF_TOKEN_INVALID',
      'SELF_APPROVAL_FORBIDDEN',
      'ALREADY_APPROVED_BY_YOU',
      'NOT_AN_APPROVER',
      'APPROVAL_WINDOW_CLOSED',
      'INVALID_TRANSITION',
      'CONFLICT',
    ],
    summary: 'Approve or deny from the confirmation page (once per link)',
  },
] as const satisfies readonly Route[];

export type OperationId = (typeof ROUTES)[number]['operationId'];

export interface RouteMatch {
  route: Route & { operationId: OperationId };
  params: Record<string, string>;
}

export type RouteLookup =
  | { found: true; match: RouteMatch }
  | { found: false; code: 'ROUTE_NOT_FOUND' }
  | { found: false; code: 'METHOD_NOT_ALLOWED'; allow: string[] };

export type RouteRefusal = Extract<RouteLookup, { found: false }>;

const compiled = ROUTES.map((route) => ({ route, ...compilePath(route.path) }));

function compilePath(path: string): { pattern: RegExp; names: string[]; params: number } {
  const names: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (!param?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[1]);
      return '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}/?$`), names, params: names.length };
}

/**
 * Finds the route for a method and path (or API Gateway resource). Literal segments win over parameters, as
 * in API Gateway.
 */
export function findRoute(method: string, path: string, handler?: HttpFunction): RouteLookup {
  const candidates = compiled
    .filter((c) => handler === undefined || c.route.handler === handler)
    .map((c) => ({ c, match: c.pattern.exec(path) }))
    .filter((x): x is { c: (typeof compiled)[number]; match: RegExpExecArray } => x.match !== null)
    .sort((a, b) => a.c.params - b.c.params);
  if (candidates.length === 0) return { found: false, code: 'ROUTE_NOT_FOUND' };
  const hit = candidates.find((x) => x.c.route.method === method.toUpperCase());
  if (!hit) {
    return {
      found: false,
      code: 'METHOD_NOT_ALLOWED',
      allow: [...new Set(candidates.map((x) => x.c.route.method))],
    };
  }
  const params: Record<string, string> = {};
  hit.c.names.forEach((name, i) => {
    const raw = hit.match[i + 1] ?? '';
    params[name] = safeDecode(raw);
  });
  return { found: true, match: { route: hit.c.route, params } };
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Every refusal an operation can give, its own and those of its kind: any route can fail unexpectedly; a signed
 * route can refuse the caller; a body or query can be malformed; a request id can be malformed or unknown.
 */
export function errorCodesOf(route: Route): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (route.auth === 'iam') codes.push('UNAUTHENTICATED', 'ACCOUNT_NOT_TRUSTED', 'UNSUPPORTED_PRINCIPAL');
  if (route.body) codes.push('PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE');
  if (route.bodyType === 'json') codes.push('MALFORMED_JSON');
  if (route.body || route.query || route.path.includes('{id}')) codes.push('VALIDATION_FAILED');
  if (route.path.includes('{id}')) codes.push('REQUEST_NOT_FOUND');
  codes.push(...route.errors, 'INTERNAL');
  return [...new Set(codes)];
}

export function routesOf(handler: HttpFunction): readonly Route[] {
  return ROUTES.filter((r) => r.handler === handler);
}
