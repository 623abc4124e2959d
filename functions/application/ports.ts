/**
 * The interfaces the domain needs from the outside world. Adapters in functions/adapters/ implement them
 * (DynamoDB, PostgreSQL, MySQL, SES, Step Functions); local/ wires local implementations of the same.
 * The domain imports types from here and nothing from adapters.
 */

import type { DigestSignature, SignedDigest, StreamAnchor } from '../domain/audit-anchor.js';
import type { Policy, Privileges, Target } from '../domain/policy-schema.js';
import type { StatementOutcome, StatementResult } from '../domain/statements.js';
import type { AccessRequest, AuditDraft, AuditEvent, Identity, RequestStatus } from '../domain/types.js';

export interface Clock {
  now(): Date;
}

export interface Ids {
  /** A new request id: 26 lowercase Crockford base32 characters, time-ordered (a ULID). */
  requestId(): string;
  /** 32 bytes from a CSPRNG, base64url. Used for approval links and CSRF secrets. */
  secret(): string;
}

export interface Page<T> {
  items: T[];
  cursor?: string;
}

export interface RequestStore {
  /**
   * Stores a new request with its first audit event in one transaction. Refuses (ConflictError) if the id
   * exists. If the requester already used `request.idempotencyKey`, returns the earlier request instead,
   * with the `bodyHash` stored by that first call, so the caller can refuse a key reused for another body.
   */
  create(
    request: AccessRequest,
    audit: AuditDraft,
    options?: { bodyHash?: string },
  ): Promise<{ request: AccessRequest; created: boolean; bodyHash?: string }>;
  get(id: string): Promise<AccessRequest | undefined>;
  /**
   * Replaces `previous` by `next` and appends `audit`, in one transaction, only if the stored request is
   * still at `previous.version`; throws ConflictError otherwise. Sets version, updatedAt and the audit
   * chain head on the returned request.
   */
  transition(previous: AccessRequest, next: AccessRequest, audit: AuditDraft): Promise<AccessRequest>;
  /**
   * Appends `audit` to the request's chain with no state change (a refused attempt worth recording): the same
   * transaction and the same condition on `request.version` as `transition`, so it throws ConflictError if the
   * request moved meanwhile. Returns the request with its bumped version and chain head.
   */
  recordEvent(request: AccessRequest, audit: AuditDraft): Promise<AccessRequest>;
  /** Requests in a status, oldest `expiresAt` first, optionally only those expiring at or before `expiresBefore`. */
  listByStatus(
    status: RequestStatus,
    options?: { expiresBefore?: string; limit?: number; cursor?: string },
  ): Promise<Page<AccessRequest>>;
  /** A requester's requests, newest first. */
  listByRequester(
    requester: string,
    options?: { status?: RequestStatus; limit?: number; cursor?: string },
  ): Promise<Page<AccessRequest>>;
  /** Break-glass requests no reviewer has acknowledged yet, newest first. */
  listFlagged(options?: { limit?: number; cursor?: string }): Promise<Page<AccessRequest>>;
  /**
   * Claims a periodic job (the hourly reconcile) when it is due: true, and recorded as run now, if it last ran
   * `everySeconds` ago or more, or never; false otherwise. A conditional write, so of two racing sweeps one wins.
   */
  claimPeriodic(job: string, now: Date, everySeconds: number): Promise<boolean>;
  /**
   * Counts one refused approval-link attempt in its (scope, minute) tally with a commutative add: it never
   * touches the request item, never conflicts, never gives up on contention. The attempt that opens a window
   * also puts `marker` once, write-once, on the audit stream `linkRefusalStream(scope)` at seq
   * `linkRefusalWindowSeq(window)`, so the audit table shows that refusals happened and the tally how often.
   */
  countLinkRefusal(refusal: LinkRefusal, marker: AuditDraft): Promise<{ firstInWindow: boolean }>;
  /** The tallies of these windows of a scope (from its audit markers), oldest first. */
  linkRefusalCounts(scope: string, windows: readonly string[]): Promise<LinkRefusalCount[]>;
}

/** One refused approval-link attempt, as counted (never the token). */
export interface LinkRefusal {
  /** The stored request the token names, or `unknown`. */
  scope: string;
  /** The UTC minute, `YYYY-MM-DDTHH:MM`. */
  window: string;
  code: string;
  method: 'GET' | 'POST';
  /** The caller's address as API Gateway saw it, or `unknown`. */
  sourceIp: string;
}

/** How many refused attempts of one kind a window saw. */
export interface LinkRefusalCount {
  window: string;
  code: string;
  method: string;
  sourceIp: string;
  attempts: number;
}

export interface AuditLog {
  list(requestId: string): Promise<AuditEvent[]>;
  /** Recomputes the chain; `ok: false` names the first event that does not verify. */
  verify(requestId: string): Promise<{ ok: boolean; events: number; brokenAt?: number; problem?: string }>;
  /** For security events not tied to a stored request (forged link tokens): chained under `stream`. */
  appendLoose(stream: string, audit: AuditDraft): Promise<AuditEvent>;
  /** The partitions (request ids, loose streams) with an event whose `at` is in [since, until]. */
  streamsWithEventsBetween(since: string, until: string): Promise<string[]>;
  /** A partition's events from `fromSeq` on, in seq order. */
  listFrom(stream: string, fromSeq: number): Promise<AuditEvent[]>;
}

/** The audit digest key (KMS on AWS, a file key locally). */
export interface Signer {
  /** Signs SHA-256(message). */
  sign(message: Uint8Array): Promise<DigestSignature>;
  /** Whether `signature` is this key's signature of SHA-256(message); false for any other key's. */
  verify(message: Uint8Array, signature: string): Promise<boolean>;
}

/** Where signed digests live: writable by the audit-digest function only, never updated or deleted. */
export interface DigestStore {
  /** The digest with the highest seq. */
  latest(): Promise<SignedDigest | undefined>;
  get(seq: number): Promise<SignedDigest | undefined>;
  /** The newest head of `stream` a digest anchored, and which digest did. */
  anchorOf(stream: string): Promise<StreamAnchor | undefined>;
  /** Stores a digest, then a pointer per head; ConflictError if its seq is taken (another run won). */
  put(digest: SignedDigest): Promise<void>;
}

/** What verification needs to check events against the digests; absent where anchoring is not deployed. */
export interface AuditAnchoring {
  digests: DigestStore;
  signer: Signer;
}

/** What a provisioner needs to create, rotate, extend or drop one request's database user. */
export interface GrantSpec {
  requestId: string;
  dbUser: string;
  target: Target;
  privileges: Privileges;
  expiresAt: Date;
  connectionLimit: number;
  /** Use-once: the user admits one session (connection limit 1, sealed at its first login). */
  once?: boolean;
}

/** Where a use-once grant's one session stands (CredentialProvisioner.onceSession). */
export interface OnceSession {
  /** The session has happened: the first login sealed the account, or the server counted a connection. */
  used: boolean;
  /** The user's sessions open now. */
  openSessions: number;
}

/** Secret material, returned once to the requester and never stored or logged. */
export interface Credentials {
  engine: 'postgres' | 'mysql';
  kind: 'iam' | 'password';
  host: string;
  port: number;
  database: string;
  username: string;
  /** The password, or the IAM auth token. */
  password: string;
  /** Ready to use, percent-encoded: postgres://…?sslmode=require or mysql://… */
  uri: string;
  /** When the grant ends. */
  expiresAt: string;
  /** When this credential stops working for new logins (an IAM token lives 15 minutes). */
  credentialExpiresAt: string;
}

export interface RevokeReport {
  /** false when the user was already gone (a retry, or a grant that never got created). */
  dropped: boolean;
  sessionsTerminated: number;
}

export interface CredentialProvisioner {
  /** Creates the user with the level's privileges. Safe to retry: an existing user is brought to the spec. */
  grant(spec: GrantSpec): Promise<{ host: string; port: number; database: string }>;
  /** Rotates the password (or mints an IAM token) and returns it once. */
  credentials(spec: GrantSpec): Promise<Credentials>;
  /** Moves in-database expiry (VALID UNTIL) to the new expiresAt. */
  extend(spec: GrantSpec, expiresAt: Date): Promise<void>;
  /**
   * Ordered, idempotent: block logins → kill sessions → drop what the user owns or defined (never handed to
   * the admin) → drop user. Throws (RevokeIncompleteError) rather than report success while a session or an
   * object of the user is left.
   */
  revoke(spec: Pick<GrantSpec, 'requestId' | 'dbUser' | 'target'>): Promise<RevokeReport>;
  /** Every `jit_` user on the target, for the reconciler. */
  listManagedUsers(): Promise<string[]>;
  /**
   * For a use-once grant: whether its session has happened and how many are open. A used account is sealed for
   * good (NOLOGIN / ACCOUNT LOCK) before this answers. A user that is gone is not used (a revoke in flight
   * dropped it and records the outcome itself).
   */
  onceSession(spec: Pick<GrantSpec, 'dbUser'>): Promise<OnceSession>;
  /** Whether the admin can do what grant and revoke need, naming each missing privilege; changes nothing. */
  check(): Promise<ProvisionerHealth>;
}

/** A provisioner's health check: `ok` when `problems` is empty; each problem names a missing privilege. */
export interface ProvisionerHealth {
  ok: boolean;
  problems: string[];
}

export interface Provisioners {
  for(target: Target): CredentialProvisioner;
}

export interface Email {
  to: string[];
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  send(email: Email): Promise<void>;
}

export interface Workflow {
  /** Starts the access-request execution named after the request id; starting it twice is harmless. */
  start(requestId: string, input: Record<string, unknown>): Promise<{ executionArn: string }>;
  sendTaskSuccess(taskToken: string, output: Record<string, unknown>): Promise<void>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
  /**
   * Stops the access-request execution named after the request id (the adapter knows the state machine); one
   * that already ended, or never existed, is fine.
   */
  stop(requestId: string, cause: string): Promise<void>;
}

/** How a statement request runs: the level's `statement` settings. */
export interface StatementLimits {
  timeoutSeconds: number;
  maxRows: number;
  maxBytes: number;
}

/** Runs a statement request's SQL as its temporary user (functions/adapters/statement-runner.ts). */
export interface StatementRunner {
  /**
   * Connects with `credentials`, runs `statements` in order in one transaction under the statement timeout, and
   * commits; keeps up to maxRows / maxBytes of each query's rows. Throws StatementFailedError (the database's
   * message only) after rolling back. Its connection is closed whatever happened.
   */
  run(
    target: Target,
    credentials: Credentials,
    statements: readonly string[],
    limits: StatementLimits,
  ): Promise<StatementOutcome[]>;
  /**
   * Each statement's query plan, computed with EXPLAIN (never ANALYZE) in a transaction that is rolled back; a
   * statement that is not a query or DML, or that the database cannot plan, gets a line saying why.
   */
  explain(
    target: Target,
    credentials: Credentials,
    statements: readonly string[],
    limits: StatementLimits,
  ): Promise<string[]>;
}

/**
 * Where statement results are kept for their requester until their retention ends (DynamoDB TTL): never in
 * logs, audit events or the workflow's history.
 */
export interface ResultStore {
  /** Stores a request's result once; a second put for the same request keeps the first. */
  put(result: StatementResult): Promise<void>;
  /** The result, or undefined when there is none or its retention has passed. */
  get(requestId: string, now: Date): Promise<StatementResult | undefined>;
}

export interface PolicySource {
  policy(): Policy;
}

/** Counters for alarms (RevokeFailed, SweeperErrors…). */
export interface Metrics {
  count(name: string, value?: number): void;
}

/** Everything the domain's use cases take. */
export interface Deps {
  clock: Clock;
  ids: Ids;
  requests: RequestStore;
  audit: AuditLog;
  provisioners: Provisioners;
  mailer: Mailer;
  workflow: Workflow;
  policy: PolicySource;
  metrics: Metrics;
  /** Base URL of the API, for approval links in emails (`https://…/prod`). */
  publicBaseUrl: string;
  /** The audit digests and their key (the digest function signs; the API verifies). */
  anchoring?: AuditAnchoring;
  /**
   * Runs an early revoke in the revoke function (a synchronous invoke), so the functions that face callers
   * hold no admin secret and reach no database. Absent: the revoke runs in this process (tests, one-process runs).
   */
  revoker?: Revoker;
  /** Runs statement requests (the execute-statement function only). */
  statements?: StatementRunner;
  /** Statement results (the execute-statement function writes them, the API reads them for the requester). */
  results?: ResultStore;
  /** Where use cases report what they survived (an email that failed to send); never given a secret. */
  log: UseCaseLog;
}

/** The revoke function, invoked for an early revoke by a caller the API has already authorised. */
export interface Revoker {
  revokeEarly(requestId: string, by: Identity): Promise<void>;
}

/** Structured log lines from the application layer (Powertools in Lambda, captured in tests). */
export interface UseCaseLog {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}
