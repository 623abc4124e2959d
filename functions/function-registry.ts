/**
 * The one list of Lambda functions: each written once here, with how it is triggered and what its code
 * reaches besides its tables. Its entry is functions/handlers/<name>.ts exporting `handler`. CDK (bundles,
 * environment, permissions, VPC placement), the ASL's placeholders, the route table's handlers and the local
 * runtime all derive from it. Types and plain data only: the Lambda bundles may import it.
 *
 * `needs` mirrors what the handler wires into `lambdaDeps` (lambdaMailer → mailer, lambdaWorkflow → workflow,
 * lambdaProvisioners → database); test/infra/function-needs.test.ts reads the handler files and fails when
 * the two drift.
 */

/** What a function's code reaches besides its tables; CDK derives environment, permissions and VPC placement. */
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
  /** Mails approval links, so it is told the API's public URL (PUBLIC_BASE_URL). */
  readonly approvalLinks?: boolean;
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

/**
 * How a function is invoked: `http` serves routes of functions/handlers/routes.ts (behind API Gateway);
 * `task` serves Task states of the ASL (`states`, each naming it by the placeholder `${<Name>FunctionArn}`);
 * `event` runs on an EventBridge event; `schedule` on an EventBridge schedule.
 */
export type FunctionKind = 'http' | 'task' | 'event' | 'schedule';

export interface FunctionSpec {
  readonly kind: FunctionKind;
  /** A task function's Task states; functions/workflow-tasks.ts checks them against the ASL when loaded. */
  readonly states?: readonly string[];
  readonly needs: FunctionNeeds;
}

export const FUNCTIONS = {
  // Faces callers, so it reaches no database: an early revoke runs in the revoke function (invoked); an
  // extension's in-database expiry moves at the next credentials fetch or at the old expiry (revoke task).
  // Create/decide/cancel/revoke drive the workflow; GET /requests/{id}/audit checks the signed digests.
  api: {
    kind: 'http',
    needs: {
      mailer: true,
      workflow: { start: true, decide: true, stop: true },
      database: false,
      revoker: true,
      digests: 'verify',
    },
  },
  // The unauthenticated route: completes the approval task and mails retired approvers; no database, no secrets.
  'approval-links': { kind: 'http', needs: { mailer: true, workflow: { decide: true }, database: false } },
  // Password rotation and IAM tokens.
  credentials: { kind: 'http', needs: { mailer: false, database: true, iamConnect: true } },
  'evaluate-policy': { kind: 'task', states: ['EvaluatePolicy'], needs: { mailer: false, database: false } },
  // Mails approval links; completes its own step when the request was decided before the token was stored.
  'request-approval': {
    kind: 'task',
    states: ['RequestApproval'],
    needs: { mailer: true, workflow: { decide: true }, database: false, approvalLinks: true },
  },
  grant: { kind: 'task', states: ['Grant'], needs: { mailer: false, database: true } },
  revoke: { kind: 'task', states: ['Revoke'], needs: { mailer: false, database: true } },
  // Runs an approved statement request once as a temporary user (an IAM token for iam targets), then drops it;
  // before approval, computes its plans (EXPLAIN, nothing run) as that user for approvers.
  'execute-statement': {
    kind: 'task',
    states: ['ExecuteStatement', 'ExplainStatement'],
    needs: { mailer: false, database: true, iamConnect: true },
  },
  // Revokes what a failed grant left behind; tells approvers whose links the approval window retired.
  'record-outcome': {
    kind: 'task',
    states: ['RecordApprovalExpired', 'RecordGrantFailed', 'RecordRevokeFailed'],
    needs: { mailer: true, database: true },
  },
  // Revokes, reconciles, mails escalations and retired approvers, redelivers approvals and fails orphaned ones.
  'expiry-sweeper': {
    kind: 'schedule',
    needs: { mailer: true, workflow: { decide: true }, database: true, approvalLinks: true },
  },
  'execution-status-change': { kind: 'event', needs: { mailer: false, database: true } },
  // Signs the chain heads; the one role that can, and it writes neither the requests nor the audit table.
  'audit-digest': {
    kind: 'schedule',
    needs: { mailer: false, database: false, tables: 'audit-read', digests: 'sign' },
  },
} as const satisfies Record<string, FunctionSpec>;

/** The task function that runs statement requests: its Lambda timeout covers the longest statement timeout. */
export const STATEMENT_FUNCTION = 'execute-statement' satisfies TaskFunction;

/** The task function the API invokes for an early revoke (lambdaRevoker), as the workflow does at expiry. */
export const EARLY_REVOKE_FUNCTION = 'revoke' satisfies TaskFunction;

/** One of the Lambda functions (functions/handlers/<name>.ts). */
export type FunctionName = keyof typeof FUNCTIONS;

/** Every function, in declaration order. */
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

type NamesOfKind<K extends FunctionKind> = {
  [N in FunctionName]: (typeof FUNCTIONS)[N]['kind'] extends K ? N : never;
}[FunctionName];

/** A function behind API Gateway: the `handler` of a route. */
export type HttpFunction = NamesOfKind<'http'>;
/** A function the workflow invokes from its Task states. */
export type TaskFunction = NamesOfKind<'task'>;

/** A Task state of the ASL (functions/workflow-tasks.ts). */
export type TaskStateName = {
  [N in TaskFunction]: (typeof FUNCTIONS)[N]['states'][number];
}[TaskFunction];

/** The functions of one kind, in declaration order. */
export function functionsOfKind<K extends FunctionKind>(kind: K): NamesOfKind<K>[] {
  return FUNCTION_NAMES.filter((name) => FUNCTIONS[name].kind === kind) as NamesOfKind<K>[];
}
