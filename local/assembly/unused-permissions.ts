/**
 * The one reviewed list of permissions the template grants and the least-privilege scenario (scenario.ts)
 * never uses: per registry function name, each action (optionally one resource pattern, by suffix) with a
 * one-line reason. ("to remove:" entries, grants no code used, were removed from cdk/constructs/bindings.ts:
 * ConditionCheckItem everywhere, Query on the requests table itself, GetItem on the audit table and by the
 * digest signer, kms:GetPublicKey for the signer.) "shared:" marks a statement bindTables gives every requests-and-audit
 * function alike (one RequestStore/AuditLog adapter), which this function's code paths do not call.
 */
import type { FunctionName } from '../../functions/function-registry.js';
import type { UnusedEntry } from './iam-report.js';

const sharedUpdate: UnusedEntry = {
  action: 'dynamodb:UpdateItem',
  reason: 'shared: only the approval-link refusal counter (approval-links) updates an item in place',
};
const sharedIndex = (index: string, user: string): UnusedEntry => ({
  action: 'dynamodb:Query',
  resource: `/index/${index}`,
  reason: `shared: the ${index} index is queried by ${user} only`,
});
const BY_STATUS = sharedIndex('by-status', 'the api (to-approve view) and the expiry sweeper');
const BY_REQUESTER = sharedIndex('by-requester', 'the api (mine view)');
const BY_FLAG = sharedIndex('by-flag', 'the api (flagged view)');
const auditQuery = (why: string): UnusedEntry => ({
  action: 'dynamodb:Query',
  resource: 'table/JitDbAccessStateful-AuditTable',
  reason: `shared: reading a whole audit chain is the api's audit view and audit-digest's; ${why}`,
});
const APPENDS_ONLY = auditQuery(
  'an appender reads the chain head from the request item and Queries the audit tail only when another writer took its seq',
);

/** What an asynchronously invoked function's role is granted for its dead-letter queue (JitFunction). */
const DEAD_LETTER: UnusedEntry = {
  action: 'sqs:SendMessage',
  reason:
    'Lambda itself sends an asynchronous invocation that failed every attempt to the dead-letter queue, as this role; the code never calls SQS, and no invocation failed in the scenario',
};

/** Every entry common to the functions bindTables binds, plus those of the function. */
const tables = (...extra: UnusedEntry[]): readonly UnusedEntry[] => extra;

export const UNUSED_PERMISSIONS: Readonly<Partial<Record<FunctionName, readonly UnusedEntry[]>>> = {
  'evaluate-policy': tables(sharedUpdate, BY_STATUS, BY_REQUESTER, BY_FLAG, APPENDS_ONLY, {
    action: 'dynamodb:PutItem',
    reason:
      'writes a transition (and its audit event) only when evaluation refuses the request or its approval deadline has passed; the scenario’s requests were all admissible',
  }),
  'request-approval': tables(
    sharedUpdate,
    BY_STATUS,
    BY_REQUESTER,
    BY_FLAG,
    APPENDS_ONLY,
    {
      action: 'states:SendTaskSuccess',
      reason:
        'completes its own step only when the request was approved before its task token was stored (a race the scenario does not force)',
    },
    {
      action: 'states:SendTaskFailure',
      reason:
        'fails its own step only when the request was denied or cancelled before its task token was stored (a race the scenario does not force)',
    },
  ),
  grant: tables(sharedUpdate, BY_STATUS, BY_REQUESTER, BY_FLAG, APPENDS_ONLY),
  revoke: tables(sharedUpdate, BY_STATUS, BY_REQUESTER, BY_FLAG, APPENDS_ONLY),
  'execute-statement': tables(sharedUpdate, BY_STATUS, BY_REQUESTER, BY_FLAG, APPENDS_ONLY),
  'record-outcome': tables(sharedUpdate, BY_STATUS, BY_REQUESTER, BY_FLAG, APPENDS_ONLY),
  api: tables(sharedUpdate),
  'approval-links': tables(BY_STATUS, BY_REQUESTER, BY_FLAG, APPENDS_ONLY),
  credentials: tables(sharedUpdate, BY_STATUS, BY_REQUESTER, BY_FLAG, APPENDS_ONLY),
  'expiry-sweeper': tables(
    DEAD_LETTER,
    sharedUpdate,
    BY_REQUESTER,
    BY_FLAG,
    APPENDS_ONLY,
    {
      action: 'states:SendTaskSuccess',
      reason: 'redelivers a decision whose task completion was lost; none was lost in the scenario',
    },
    {
      action: 'states:SendTaskFailure',
      reason: 'fails orphaned approval tasks; none was orphaned in the scenario',
    },
  ),
  'execution-status-change': tables(
    DEAD_LETTER,
    sharedUpdate,
    BY_STATUS,
    BY_REQUESTER,
    BY_FLAG,
    APPENDS_ONLY,
    {
      action: 'dynamodb:PutItem',
      reason:
        'records FAILED/EXPIRED only for an execution that ended without its request being final; every scenario execution recorded its own outcome',
    },
    {
      action: 'secretsmanager:GetSecretValue',
      reason:
        'drops a half-made user of an approved request whose execution failed unrecorded; none in the scenario',
    },
  ),
  'audit-digest': [DEAD_LETTER],
};
