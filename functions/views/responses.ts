import * as z from 'zod/mini';
import '../domain/zod-locale.js';
import type { Credentials, LinkRefusalCount } from '../application/ports.js';
import type { AuditVerification } from '../application/request-audit.js';
import type { RequestView } from '../application/request-view.js';
import type { RequestableTarget } from '../domain/authz.js';
import { ERROR_CODES, type ErrorCode } from '../domain/errors.js';
import { Privileges, TablePrivilege } from '../domain/policy-schema.js';
import type { StatementResult } from '../domain/statements.js';
import { AUDIT_ACTIONS, type AuditEvent, REQUEST_STATUSES } from '../domain/types.js';

/**
 * What the API answers, as zod schemas: the route table names one per operation, the OpenAPI document renders
 * them, and the integration tests parse real responses with them. Strict objects, so an undocumented field fails
 * a test instead of shipping unseen. The `Same` checks below keep each one equal to the type the code returns.
 */

const via = z.enum(['iam', 'approval-link', 'local', 'system']);
const status = z.enum(REQUEST_STATUSES);
const engine = z.enum(['postgres', 'mysql']);
const credentialKind = z.enum(['iam', 'password']);

const Decision = z.strictObject({
  by: z.string(),
  email: z.optional(z.string()),
  at: z.string(),
  comment: z.optional(z.string()),
  via,
});

/** A request as its requester, an approver or a reviewer sees it (no task token, no link hashes). */
export const RequestViewResponse = z.strictObject({
  id: z.string(),
  requester: z.string(),
  requesterEmail: z.optional(z.string()),
  targetId: z.string(),
  level: z.string(),
  privileges: Privileges,
  scope: z.optional(
    z.strictObject({
      schemas: z.array(
        z.strictObject({
          name: z.string(),
          tables: z.optional(z.array(z.string())),
          privileges: z.optional(z.array(TablePrivilege)),
        }),
      ),
    }),
  ),
  reason: z.string(),
  ticket: z.optional(z.string()),
  durationSeconds: z.number(),
  breakGlass: z.boolean(),
  autoApproved: z.boolean(),
  status,
  version: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
  approvalDeadline: z.optional(z.string()),
  escalateAt: z.optional(z.string()),
  escalated: z.optional(z.boolean()),
  approvalsRequired: z.number(),
  approvals: z.array(Decision),
  denial: z.optional(Decision),
  cancellation: z.optional(Decision),
  dbUser: z.string(),
  grant: z.optional(
    z.strictObject({
      dbUser: z.string(),
      engine,
      kind: credentialKind,
      host: z.string(),
      port: z.number(),
      database: z.string(),
      grantedAt: z.string(),
      expiresAt: z.string(),
    }),
  ),
  expiresAt: z.optional(z.string()),
  extension: z.optional(
    z.strictObject({
      id: z.string(),
      durationSeconds: z.number(),
      reason: z.string(),
      requestedBy: z.string(),
      requestedAt: z.string(),
      approvalsRequired: z.number(),
      approvals: z.array(Decision),
      newExpiresAt: z.string(),
    }),
  ),
  extensions: z.array(
    z.strictObject({
      durationSeconds: z.number(),
      approvedAt: z.string(),
      newExpiresAt: z.string(),
      by: z.string(),
    }),
  ),
  revokedAt: z.optional(z.string()),
  revokeReason: z.optional(
    z.enum(['expired', 'early', 'execution-ended', 'reconciler', 'sweeper', 'used-once']),
  ),
  once: z.optional(z.strictObject({ usedAt: z.optional(z.string()) })),
  revokeAttempts: z.number(),
  lastError: z.optional(z.strictObject({ code: z.string(), message: z.string(), at: z.string() })),
  idempotencyKey: z.optional(z.string()),
  review: z.optional(Decision),
  statements: z.optional(z.array(z.string())),
  statementsSha256: z.optional(z.string()),
  explain: z.optional(z.strictObject({ plans: z.array(z.string()), at: z.string() })),
  executionStartedAt: z.optional(z.string()),
  executedAt: z.optional(z.string()),
  auditSeq: z.number(),
  approvalLinksOpen: z.number(),
  /** Who was mailed a link for the decision waiting now (the request while PENDING, or a pending extension). */
  asked: z.array(z.string()),
  flagged: z.boolean(),
});

const ResultCellResponse = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** GET /requests/{id}/result: what a statement request's statements did, for its requester alone. */
export const StatementResultResponse = z.strictObject({
  requestId: z.string(),
  requester: z.string(),
  executedAt: z.string(),
  expiresAt: z.string(),
  statements: z.array(
    z.strictObject({
      command: z.optional(z.string()),
      rowCount: z.nullable(z.number()),
      columns: z.optional(z.array(z.string())),
      rows: z.optional(z.array(z.array(ResultCellResponse))),
      truncated: z.optional(z.boolean()),
    }),
  ),
});

/** GET /requests: one page, and the cursor of the next when there is one. */
export const RequestListResponse = z.strictObject({
  items: z.array(RequestViewResponse),
  cursor: z.optional(z.string()),
});

/** Fresh credentials: the only response that carries a secret (the password or IAM token). */
export const CredentialsResponse = z.strictObject({
  engine,
  kind: credentialKind,
  host: z.string(),
  port: z.number(),
  database: z.string(),
  username: z.string(),
  password: z.string(),
  uri: z.string(),
  expiresAt: z.string(),
  credentialExpiresAt: z.string(),
});

const AuditEventResponse = z.strictObject({
  requestId: z.string(),
  seq: z.number(),
  at: z.string(),
  actor: z.string(),
  via,
  action: z.enum(AUDIT_ACTIONS),
  fromStatus: z.optional(status),
  toStatus: z.optional(status),
  comment: z.optional(z.string()),
  details: z.optional(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))),
  prevHash: z.string(),
  hash: z.string(),
});

const seqAt = z.strictObject({ seq: z.number(), at: z.string() });

const AuditVerificationResponse = z.strictObject({
  ok: z.boolean(),
  events: z.number(),
  brokenAt: z.optional(z.number()),
  problem: z.optional(z.string()),
  anchor: z.strictObject({
    ok: z.boolean(),
    problem: z.optional(z.string()),
    anchored: z.optional(
      z.strictObject({ digestSeq: z.number(), digestAt: z.string(), upToSeq: z.number() }),
    ),
    unanchoredSince: z.optional(seqAt),
    latestDigest: z.optional(seqAt),
    note: z.optional(z.string()),
  }),
});

const LinkRefusalCountResponse = z.strictObject({
  window: z.string(),
  code: z.string(),
  method: z.string(),
  sourceIp: z.string(),
  attempts: z.number(),
});

/** GET /requests/{id}/audit: the trail, whether it verifies, and the refused link attempts that named it. */
export const AuditResponse = z.strictObject({
  events: z.array(AuditEventResponse),
  verification: AuditVerificationResponse,
  linkRefusals: z.array(LinkRefusalCountResponse),
});

const RequestableTargetResponse = z.strictObject({
  id: z.string(),
  description: z.optional(z.string()),
  engine,
  environment: z.string(),
  credentialKind,
  levels: z.array(
    z.strictObject({
      name: z.string(),
      description: z.optional(z.string()),
      maxDuration: z.number(),
      approvers: z.array(z.string()),
      approvalsRequired: z.number(),
      autoApproveUpTo: z.optional(z.number()),
      ticketPattern: z.optional(z.string()),
      requireReason: z.boolean(),
      breakGlass: z.boolean(),
      extensionAutoApproveUpTo: z.number(),
      privileges: z.array(z.string()),
      schemas: z.array(z.string()),
      requests: z.array(z.enum(['window', 'statement'])),
    }),
  ),
});

/** GET /targets. */
export const TargetsResponse = z.strictObject({ targets: z.array(RequestableTargetResponse) });

/** GET /openapi.json: an OpenAPI 3.1 document (described by its own specification, not here). */
export const OpenApiResponse = z.looseObject({
  openapi: z.literal('3.1.0'),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
});

/** The confirmation and result pages of an approval link. */
export const HtmlPage = z.string();

/** Every refusal, from API Gateway and from us; `correlationId` comes with an unexpected (INTERNAL) 500. */
export function errorResponse(codes: readonly ErrorCode[] = Object.keys(ERROR_CODES) as ErrorCode[]) {
  return z.strictObject({
    error: z.strictObject({
      code: z.enum(codes as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.optional(z.record(z.string(), z.unknown())),
    }),
    correlationId: z.optional(z.string()),
  });
}

/** True when A and B are assignable both ways. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

type Expect<T extends true> = T;

/** Compile-time only: each schema's output is exactly the type its use case returns. */
export type ResponseTypesMatch = [
  Expect<Same<z.output<typeof RequestViewResponse>, RequestView>>,
  Expect<Same<z.output<typeof RequestListResponse>, { items: RequestView[]; cursor?: string }>>,
  Expect<Same<z.output<typeof CredentialsResponse>, Credentials>>,
  Expect<Same<z.output<typeof AuditEventResponse>, AuditEvent>>,
  Expect<Same<z.output<typeof AuditVerificationResponse>, AuditVerification>>,
  Expect<Same<z.output<typeof LinkRefusalCountResponse>, LinkRefusalCount>>,
  Expect<Same<z.output<typeof RequestableTargetResponse>, RequestableTarget>>,
  Expect<Same<z.output<typeof StatementResultResponse>, StatementResult>>,
];
