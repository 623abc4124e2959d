import type { HandlerName } from './bundling.js';

/**
 * What each Lambda function's code reaches besides its tables, the one table the constructs derive
 * environment, permissions and VPC placement from. It mirrors what functions/handlers/<name>.ts wires into
 * `lambdaDeps` (lambdaMailer → mailer, lambdaWorkflow → workflow, lambdaProvisioners → database);
 * test/infra/function-needs.test.ts reads the handler files and fails when the two drift.
 */
export interface FunctionNeeds {
  /** Sends mail (lambdaMailer): SENDER_EMAIL and ses:SendEmail from the sender identity. */
  readonly mailer: boolean;
  /** Drives Step Functions (lambdaWorkflow), with exactly these calls. */
  readonly workflow?: {
    /** states:StartExecution (creating a request starts its workflow). */
    readonly start?: boolean;
    /** states:SendTaskSuccess/SendTaskFailure (an approval decided, or redelivered, completes the waiting task). */
    readonly decide?: boolean;
    /** states:StopExecution (cancel, early revoke). */
    readonly stop?: boolean;
  };
  /** Creates, alters or drops database users (lambdaProvisioners): VPC placement, admin secrets, rds:Describe*. */
  readonly database: boolean;
  /** Mints RDS IAM auth tokens for request users (rds-db:connect as jit_*). */
  readonly iamConnect?: boolean;
  /** Invokes the revoke function for an early revoke (lambdaRevoker): REVOKE_FUNCTION_ARN and lambda:InvokeFunction. */
  readonly revoker?: boolean;
  /**
   * The tables it reaches: `requests-and-audit` (the default: transitions, write-once audit events) or
   * `audit-read` (reads audit chains, through the by-day index too; writes neither table).
   */
  readonly tables?: 'requests-and-audit' | 'audit-read';
  /**
   * The audit digests (lambdaSigner): `sign` writes them (kms:Sign, PutItem on the digests table, nothing
   * else may); `verify` reads them and checks signatures with the key's public half (kms:GetPublicKey).
   */
  readonly digests?: 'sign' | 'verify';
}

export const FUNCTION_NEEDS: Readonly<Record<HandlerName, FunctionNeeds>> = {
  // Faces callers, so it reaches no database: an early revoke runs in the revoke function (invoked); an
  // extension's in-database expiry moves at the next credentials fetch or at the old expiry (revoke task).
  // Create/decide/cancel/revoke drive the workflow; GET /requests/{id}/audit checks the signed digests.
  api: {
    mailer: true,
    workflow: { start: true, decide: true, stop: true },
    database: false,
    revoker: true,
    digests: 'verify',
  },
  // The unauthenticated route: completes the approval task and mails retired approvers; no database, no secrets.
  'approval-links': { mailer: true, workflow: { decide: true }, database: false },
  // Password rotation and IAM tokens.
  credentials: { mailer: false, database: true, iamConnect: true },
  'evaluate-policy': { mailer: false, database: false },
  // Mails approval links; completes its own step when the request was decided before the token was stored.
  'request-approval': { mailer: true, workflow: { decide: true }, database: false },
  grant: { mailer: false, database: true },
  revoke: { mailer: false, database: true },
  // Revokes what a failed grant left behind; tells approvers whose links the approval window retired.
  'record-outcome': { mailer: true, database: true },
  // Revokes, reconciles, mails escalations and retired approvers, redelivers approvals and fails orphaned ones.
  'expiry-sweeper': { mailer: true, workflow: { decide: true }, database: true },
  'execution-status-change': { mailer: false, database: true },
  // Signs the chain heads; the one role that can, and it writes neither the requests nor the audit table.
  'audit-digest': { mailer: false, database: false, tables: 'audit-read', digests: 'sign' },
};

const NAMES = Object.keys(FUNCTION_NEEDS) as HandlerName[];

/** Handlers that sign or check audit digests. */
export const DIGEST_HANDLERS: readonly HandlerName[] = NAMES.filter((n) => FUNCTION_NEEDS[n].digests);

/** Handlers that open connections to target databases: they run in the targets' VPC when one is given. */
export const DATABASE_HANDLERS: readonly HandlerName[] = NAMES.filter((n) => FUNCTION_NEEDS[n].database);
/** Handlers that send mail. */
export const MAILER_HANDLERS: readonly HandlerName[] = NAMES.filter((n) => FUNCTION_NEEDS[n].mailer);
/** Handlers that call Step Functions. */
export const WORKFLOW_HANDLERS: readonly HandlerName[] = NAMES.filter(
  (n) => FUNCTION_NEEDS[n].workflow !== undefined,
);
