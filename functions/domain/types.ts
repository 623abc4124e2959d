import type { Privileges, TablePrivilege } from './policy-schema.js';

export const REQUEST_STATUSES = [
  'PENDING',
  'APPROVED',
  'ACTIVE',
  'DENIED',
  'EXPIRED',
  'CANCELLED',
  'FAILED',
  'REVOKE_FAILED',
  'REVOKED',
  'EXECUTED',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** States from which nothing moves any more. */
export const TERMINAL_STATUSES: readonly RequestStatus[] = [
  'DENIED',
  'EXPIRED',
  'CANCELLED',
  'FAILED',
  'REVOKED',
  'EXECUTED',
];

/**
 * Who is acting. `principal` is the stable id: the caller's IAM ARN behind API Gateway, the approver's
 * email for an email link, the `--user` value locally. `email` is set when known (used to match approvers
 * listed by email and to send mail).
 */
export interface Identity {
  principal: string;
  email?: string;
  /** How the identity was established, recorded in audit events. */
  via: 'iam' | 'approval-link' | 'local' | 'system';
}

/** The system itself (workflow steps, sweeper, reconciler) acting. */
export const SYSTEM: Identity = { principal: 'system', via: 'system' };

export interface Decision {
  by: string;
  /** The decider's email when known, so one person approving by IAM and by email link counts once. */
  email?: string;
  at: string;
  comment?: string;
  via: Identity['via'];
}

/** A narrowing of the level, asked for by the requester: a subset of its schemas, tables and privileges. */
export interface RequestedScope {
  schemas: { name: string; tables?: string[]; privileges?: TablePrivilege[] }[];
}

/** An approval link handed to one approver: only the SHA-256 of its secret is kept. */
export interface ApprovalLink {
  approver: string;
  tokenHash: string;
  purpose: 'request' | 'extension';
  expiresAt: string;
  usedAt?: string;
  /** Set when the link stopped working because the request was decided by someone else. */
  retiredAt?: string;
}

/** The non-secret facts of a grant, kept on the request. Passwords and tokens are never stored. */
export interface GrantRecord {
  dbUser: string;
  engine: 'postgres' | 'mysql';
  kind: 'iam' | 'password';
  host: string;
  port: number;
  database: string;
  grantedAt: string;
  expiresAt: string;
}

export interface PendingExtension {
  id: string;
  durationSeconds: number;
  reason: string;
  requestedBy: string;
  requestedAt: string;
  approvalsRequired: number;
  approvals: Decision[];
  /** The `expiresAt` this extension would set. */
  newExpiresAt: string;
}

export interface AccessRequest {
  id: string;
  requester: string;
  requesterEmail?: string;
  targetId: string;
  level: string;
  /** The effective privileges: the level's, narrowed by the requested scope. What grant applies. */
  privileges: Privileges;
  scope?: RequestedScope;
  reason: string;
  ticket?: string;
  durationSeconds: number;
  breakGlass: boolean;
  autoApproved: boolean;
  status: RequestStatus;
  /** Bumped by every write; writes are conditional on it. */
  version: number;
  createdAt: string;
  updatedAt: string;
  /** Set while PENDING: when the approval window closes. */
  approvalDeadline?: string;
  /** When escalation approvers join, if the rule has escalation. */
  escalateAt?: string;
  escalated?: boolean;
  approvalsRequired: number;
  approvals: Decision[];
  denial?: Decision;
  cancellation?: Decision;
  /** The database user this request owns: `jit_` + the request id. Derived, stored for the reconciler. */
  dbUser: string;
  grant?: GrantRecord;
  /** Mirrors grant.expiresAt while ACTIVE/REVOKE_FAILED; the sweeper GSI's sort key. */
  expiresAt?: string;
  extension?: PendingExtension;
  extensions: { durationSeconds: number; approvedAt: string; newExpiresAt: string; by: string }[];
  revokedAt?: string;
  revokeReason?: RevokeReason;
  revokeAttempts: number;
  lastError?: { code: string; message: string; at: string };
  idempotencyKey?: string;
  /** Step Functions task token of the RequestApproval state while waiting. Server-side only, never returned. */
  taskToken?: string;
  approvalLinks: ApprovalLink[];
  /** A reviewer's acknowledgement of a break-glass request; until set, the request is flagged for review. */
  review?: Decision;
  /**
   * Use-once credentials: the grant admits one database session, and is revoked when it ends. `usedAt` is when
   * the system first saw that session (absent until then); see ARCHITECTURE.md, "Use-once credentials".
   */
  once?: { usedAt?: string };
  /**
   * A statement request: the exact SQL approvers see and the workflow runs once, in one transaction, instead of
   * granting a window (functions/domain/statements.ts). Absent on a window request.
   */
  statements?: string[];
  /** SHA-256 (hex) of the statements (statementsDigest), as recorded in the `requested` audit event. */
  statementsSha256?: string;
  /**
   * The statements' query plans (EXPLAIN, computed by the workflow as a temporary user before approval, never
   * running them), one entry per statement, for approvers; a statement with no plan says why.
   */
  explain?: { plans: string[]; at: string };
  /** Set, with a conditional write, just before the statements run: a retried task that finds it never runs them again. */
  executionStartedAt?: string;
  /** When the statements ran and committed (EXECUTED). */
  executedAt?: string;
  /** Head of this request's audit hash chain. */
  auditSeq: number;
  auditHead: string;
}

export type RevokeReason =
  | 'expired'
  | 'early'
  | 'execution-ended'
  | 'reconciler'
  | 'sweeper'
  /** A use-once grant whose one session has ended. */
  | 'used-once';

/**
 * What happened, recorded append-only and hash-chained per request. Never holds a secret: no password,
 * no IAM token, no link token, no task token.
 */
export interface AuditEvent {
  requestId: string;
  seq: number;
  at: string;
  actor: string;
  via: Identity['via'];
  action: AuditAction;
  fromStatus?: RequestStatus;
  toStatus?: RequestStatus;
  comment?: string;
  /** Extra non-secret facts: error codes, approval counts, expiresAt, sessions terminated. */
  details?: Record<string, string | number | boolean | null>;
  prevHash: string;
  hash: string;
}

/** An audit event before the store numbers and chains it. */
export type AuditDraft = Omit<AuditEvent, 'requestId' | 'seq' | 'prevHash' | 'hash'>;

export const AUDIT_ACTIONS = [
  'requested',
  'auto-approved',
  'break-glass',
  'approval-recorded',
  'approval-requested',
  'approved',
  'denied',
  'cancelled',
  'approval-expired',
  'escalated',
  'granted',
  'grant-failed',
  'credentials-issued',
  /** A use-once grant's one session was seen: no further login is admitted. */
  'session-used',
  'extension-requested',
  'extension-approved',
  'extension-denied',
  'revoked',
  'revoke-failed',
  'orphan-dropped',
  'refused',
  'link-refused',
  'reviewed',
  'execution-started',
  'executed',
  'execution-failed',
  'explained',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The chain's genesis value: the prevHash of a request's first event. */
export const GENESIS_HASH = '0'.repeat(64);
