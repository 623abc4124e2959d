/**
 * The contract between state-machines/access-request.asl.json and the Lambda handlers it invokes: each
 * task's payload and result as zod schemas. Which function runs each Task state: functions/workflow-tasks.ts.
 */
import * as z from 'zod/mini';
import '../domain/zod-locale.js';
import { DomainError } from '../domain/errors.js';
import { isRequestId } from '../domain/naming.js';

const RequestId = z.string().check(z.refine(isRequestId, 'must be a lowercase ULID request id'));
const Timestamp = z.iso.datetime({ offset: true });

/** Execution input: `StartExecution({ name: requestId, input: JSON.stringify({ requestId }) })`. */
export const ExecutionInput = z.object({ requestId: RequestId });
export type ExecutionInput = z.infer<typeof ExecutionInput>;

export const EvaluatePolicyInput = z.object({ requestId: RequestId });
export type EvaluatePolicyInput = z.infer<typeof EvaluatePolicyInput>;

/** `window-closed`: still PENDING after its approval deadline (the approval step failed until then): EXPIRED. */
export const EVALUATION_DECISIONS = ['auto-approved', 'needs-approval', 'window-closed', 'closed'] as const;
export const EvaluatePolicyOutput = z.object({
  decision: z.enum(EVALUATION_DECISIONS),
  /** What approval leads to: a grant (`window`) or running the statements once (`statement`). */
  kind: z.enum(['window', 'statement']),
  /** TimeoutSecondsPath of RequestApproval: Step Functions wants a positive integer. */
  approvalWindowSeconds: z.int().check(z.gte(1)),
});
export type EvaluatePolicyOutput = z.infer<typeof EvaluatePolicyOutput>;

export const RequestApprovalInput = z.object({
  requestId: RequestId,
  taskToken: z.string().check(z.minLength(1)),
});
export type RequestApprovalInput = z.infer<typeof RequestApprovalInput>;

/** What the API sends with SendTaskSuccess when the N-th approval lands. */
export const ApprovalOutcome = z.object({ outcome: z.literal('approved') });
export type ApprovalOutcome = z.infer<typeof ApprovalOutcome>;

/** SendTaskFailure error names the ASL catches as "the API already closed the request". */
export const APPROVAL_FAILURE_ERRORS = ['Denied', 'Cancelled'] as const;
export type ApprovalFailureError = (typeof APPROVAL_FAILURE_ERRORS)[number];

export const GrantInput = z.object({ requestId: RequestId });
export type GrantInput = z.infer<typeof GrantInput>;

export const GrantOutput = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ACTIVE'), expiresAt: Timestamp }),
  z.object({ status: z.literal('SKIPPED') }),
]);
export type GrantOutput = z.infer<typeof GrantOutput>;

/** `explain: true` (the ExplainStatement state): the plans for approvers, before approval; nothing is run. */
export const ExecuteStatementInput = z.object({ requestId: RequestId, explain: z.optional(z.boolean()) });
export type ExecuteStatementInput = z.infer<typeof ExecuteStatementInput>;

/** Only the request's end state: the rows stay in the result store, never in the workflow's history. */
export const ExecuteStatementOutput = z.object({
  status: z.enum(['EXECUTED', 'FAILED', 'SKIPPED', 'EXPLAINED']),
});
export type ExecuteStatementOutput = z.infer<typeof ExecuteStatementOutput>;

export const REVOKE_REASONS = ['expired', 'early', 'execution-ended'] as const;
/** Who ended the grant early: the API's authenticated caller, passed by the API's invoke (the workflow sends none). */
const RevokedBy = z.object({
  principal: z.string().check(z.minLength(1), z.maxLength(2048)),
  email: z.optional(z.string().check(z.maxLength(254))),
  via: z.enum(['iam', 'local', 'approval-link']),
});
export const RevokeInput = z.object({
  requestId: RequestId,
  reason: z.enum(REVOKE_REASONS),
  by: z.optional(RevokedBy),
});
export type RevokeInput = z.infer<typeof RevokeInput>;

/** The revoke function's input for an early revoke by `by` (the API invokes it; the workflow never sends `by`). */
export function earlyRevokeInput(
  requestId: string,
  by: { principal: string; email?: string | undefined; via: string },
): RevokeInput {
  const via = by.via === 'local' || by.via === 'approval-link' ? by.via : 'iam';
  return {
    requestId,
    reason: 'early',
    by: { principal: by.principal, ...(by.email ? { email: by.email } : {}), via },
  };
}

/** revoked:false with a later expiresAt means an extension moved expiry: the workflow waits again. */
export const RevokeOutput = z.object({ revoked: z.boolean(), expiresAt: z.optional(Timestamp) });
export type RevokeOutput = z.infer<typeof RevokeOutput>;

export const WORKFLOW_OUTCOMES = ['approval-expired', 'grant-failed', 'revoke-failed'] as const;
/** The Catch output of Step Functions: Cause is a string (for a Lambda error, its JSON error object). */
export const TaskError = z.object({ Error: z.string(), Cause: z.optional(z.string()) });
export type TaskError = z.infer<typeof TaskError>;
export const RecordOutcomeInput = z.object({
  requestId: RequestId,
  outcome: z.enum(WORKFLOW_OUTCOMES),
  error: z.optional(TaskError),
});
export type RecordOutcomeInput = z.infer<typeof RecordOutcomeInput>;
export const RecordOutcomeOutput = z.object({});
export type RecordOutcomeOutput = z.infer<typeof RecordOutcomeOutput>;

/**
 * States entered on the auto-approved happy path (Standard workflows bill per state transition):
 * EvaluatePolicy → RouteDecision → Grant → CheckGrant → WaitUntilExpiry → Revoke → CheckRevoke → Revoked.
 * Each retry and each extension loop (ApplyExtension → WaitUntilExpiry → Revoke → CheckRevoke) adds more.
 */
export const HAPPY_PATH_TRANSITIONS = 8;

/**
 * The approval path enters two states more: RequestApproval, and RouteApproved (grant a window, or run a
 * statement request's SQL), between RouteDecision and Grant.
 */
export const APPROVAL_PATH_TRANSITIONS = HAPPY_PATH_TRANSITIONS + 2;

/** Where the ASL lives, relative to the repository root (CDK and the local runner read the same file). */
export const ASL_PATH = 'state-machines/access-request.asl.json';

/**
 * The ARN Step Functions gives an execution: the state machine ARN with `stateMachine` → `execution` and the
 * execution name appended. Lets StartExecution's "already exists" answer be mapped back to its ARN.
 */
export function executionArnFor(stateMachineArn: string, executionName: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length !== 7 || parts[5] !== 'stateMachine') {
    throw new RangeError(`not a state machine ARN: ${stateMachineArn}`);
  }
  parts[5] = 'execution';
  return [...parts, executionName].join(':');
}

/**
 * The workflow no longer waits on this task token: it was completed already, timed out, or its execution
 * ended (Step Functions answers TaskTimedOut / TaskDoesNotExist / InvalidToken). A late or second decision.
 */
export class WorkflowTaskClosedError extends DomainError {
  constructor(reason: string, cause?: unknown) {
    super('CONFLICT', `the workflow is no longer waiting for this decision (${reason})`, {
      details: { reason },
      cause,
    });
  }
}
