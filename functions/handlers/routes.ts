import * as z from 'zod/mini';
import '../domain/zod-locale.js';
import { hasControlCharacters } from '../domain/policy-schema.js';
import { DecisionBody, ExtendBody, ListQuery, NewRequestBody } from '../domain/schemas.js';

/**
 * The one route table. The api handler's router, the local server, CDK's API resources and request
 * validators, and the OpenAPI document are all derived from it.
 */

export type HandlerName = 'api' | 'approval-links' | 'credentials';
/** iam: API Gateway AWS_IAM (SigV4); link: the approval-link token in the path is the credential; none: public. */
export type RouteAuth = 'iam' | 'link' | 'none';

export interface Route {
  method: 'GET' | 'POST';
  /** API Gateway resource path. */
  path: string;
  operationId: string;
  handler: HandlerName;
  auth: RouteAuth;
  /** Request body: JSON for API calls, a url-encoded form for the confirmation page's buttons. */
  body?: z.ZodMiniType;
  bodyType?: 'json' | 'form';
  query?: z.ZodMiniType;
  /** What a successful call answers with. */
  produces: 'json' | 'html';
  successStatus: number;
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

export const ROUTES = [
  {
    method: 'POST',
    path: '/requests',
    operationId: 'createRequest',
    handler: 'api',
    auth: 'iam',
    body: NewRequestBody,
    bodyType: 'json',
    produces: 'json',
    successStatus: 201,
    summary: 'Ask for access to a target at a level, for a duration, with a reason',
  },
  {
    method: 'GET',
    path: '/requests',
    operationId: 'listRequests',
    handler: 'api',
    auth: 'iam',
    query: ListQuery,
    produces: 'json',
    successStatus: 200,
    summary:
      'Your requests (view=mine), those waiting for your decision (view=to-approve) or flagged for your review (view=flagged)',
  },
  {
    method: 'GET',
    path: '/requests/{id}',
    operationId: 'getRequest',
    handler: 'api',
    auth: 'iam',
    produces: 'json',
    successStatus: 200,
    summary: 'One request, as its requester, an approver or a reviewer sees it',
  },
  {
    method: 'POST',
    path: '/requests/{id}/approve',
    operationId: 'approveRequest',
    handler: 'api',
    auth: 'iam',
    body: DecisionBody,
    bodyType: 'json',
    produces: 'json',
    successStatus: 200,
    summary: 'Approve a pending request (or its pending extension)',
  },
  {
    method: 'POST',
    path: '/requests/{id}/deny',
    operationId: 'denyRequest',
    handler: 'api',
    auth: 'iam',
    body: DecisionBody,
    bodyType: 'json',
    produces: 'json',
    successStatus: 200,
    summary: 'Deny a pending request (or its pending extension)',
  },
  {
    method: 'POST',
    path: '/requests/{id}/cancel',
    operationId: 'cancelRequest',
    handler: 'api',
    auth: 'iam',
    body: DecisionBody,
    bodyType: 'json',
    produces: 'json',
    successStatus: 200,
    summary: 'Withdraw your own request before it is granted',
  },
  {
    method: 'POST',
    path: '/requests/{id}/revoke',
    operationId: 'revokeRequest',
    handler: 'api',
    auth: 'iam',
    body: DecisionBody,
    bodyType: 'json',
    produces: 'json',
    successStatus: 200,
    summary: 'End an active grant now: drops the user and ends its sessions',
  },
  {
    method: 'POST',
    path: '/requests/{id}/extend',
    operationId: 'extendRequest',
    handler: 'api',
    auth: 'iam',
    body: ExtendBody,
    bodyType: 'json',
    produces: 'json',
    successStatus: 200,
    summary: 'Ask for more time on an active grant',
  },
  {
    method: 'POST',
    path: '/requests/{id}/review',
    operationId: 'reviewRequest',
    handler: 'api',
    auth: 'iam',
    body: DecisionBody,
    bodyType: 'json',
    produces: 'json',
    successStatus: 200,
    summary: 'Acknowledge a break-glass request you review, so it is no longer flagged',
  },
  {
    method: 'GET',
    path: '/requests/{id}/credentials',
    operationId: 'fetchCredentials',
    handler: 'credentials',
    auth: 'iam',
    produces: 'json',
    successStatus: 200,
    summary: 'Fresh credentials for your active grant (a new password or a 15-minute IAM token)',
  },
  {
    method: 'GET',
    path: '/requests/{id}/audit',
    operationId: 'requestAudit',
    handler: 'api',
    auth: 'iam',
    produces: 'json',
    successStatus: 200,
    summary: "The request's audit trail and whether its hash chain verifies",
  },
  {
    method: 'GET',
    path: '/targets',
    operationId: 'listTargets',
    handler: 'api',
    auth: 'iam',
    produces: 'json',
    successStatus: 200,
    summary: 'Targets and levels you can ask for, with their rules',
  },
  {
    method: 'GET',
    path: '/openapi.json',
    operationId: 'openApi',
    handler: 'api',
    auth: 'none',
    produces: 'json',
    successStatus: 200,
    summary: 'This API, as an OpenAPI 3.1 document',
  },
  {
    method: 'GET',
    path: '/approvals/{token}',
    operationId: 'showApprovalLink',
    handler: 'approval-links',
    auth: 'link',
    produces: 'html',
    successStatus: 200,
    summary: 'Confirmation page of an emailed approval link (never decides)',
  },
  {
    method: 'POST',
    path: '/approvals/{token}',
    operationId: 'decideApprovalLink',
    handler: 'approval-links',
    auth: 'link',
    body: ApprovalForm,
    bodyType: 'form',
    produces: 'html',
    successStatus: 200,
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
export function findRoute(method: string, path: string, handler?: HandlerName): RouteLookup {
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

export function routesOf(handler: HandlerName): readonly Route[] {
  return ROUTES.filter((r) => r.handler === handler);
}
