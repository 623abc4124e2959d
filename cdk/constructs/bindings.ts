import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { Construct, IConstruct } from 'constructs';
import { AUDIT_TABLE, REQUESTS_TABLE } from '../../functions/adapters/dynamodb-tables.js';
import type { FunctionName } from '../bundling.js';
import { FUNCTION_NEEDS, type FunctionNeeds } from '../function-needs.js';
import type { RdsResource, TargetFacts } from '../policy-facts.js';
import { type DatabaseNetwork, JitFunction, type JitFunctionProps } from './jit-function.js';
import type { NotificationsConstruct } from './notifications.js';

/**
 * Helpers that grant a permission and set the environment variable that goes with it, in one call, so a
 * function never holds a permission it has no name for (or a name it has no permission for).
 */

export interface Tables {
  requests: dynamodb.ITable;
  audit: dynamodb.ITable;
}

/** Item-level actions a request transition needs on the requests table (TransactWriteItems is authorised per item). */
export const REQUESTS_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
/** The audit table is write-once: put new events, read chains back by Query; never get, update or delete. */
export const AUDIT_TABLE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:Query'];

/** REQUESTS_TABLE + AUDIT_TABLE and exactly the item actions the stores use. */
export function bindTables(fn: JitFunction, tables: Tables): void {
  fn.addEnvironment('REQUESTS_TABLE', tables.requests.tableName);
  fn.addEnvironment('AUDIT_TABLE', tables.audit.tableName);
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: REQUESTS_TABLE_ACTIONS, resources: [tables.requests.tableArn] }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: REQUESTS_TABLE.globalSecondaryIndexes.map(
        (index) => `${tables.requests.tableArn}/index/${index.indexName}`,
      ),
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: AUDIT_TABLE_ACTIONS, resources: [tables.audit.tableArn] }),
  );
}

/** What a function reading audit chains may do: Query the audit table and its by-day index, nothing else. */
export function bindAuditReader(fn: JitFunction, audit: dynamodb.ITable): void {
  fn.addEnvironment('AUDIT_TABLE', audit.tableName);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [
        audit.tableArn,
        ...AUDIT_TABLE.globalSecondaryIndexes.map((index) => `${audit.tableArn}/index/${index.indexName}`),
      ],
    }),
  );
}

/** The digests table and the digest key (cdk/constructs/audit-anchor.ts). */
export interface DigestAnchoring {
  digests: dynamodb.ITable;
  key: kms.IKey;
}

/** The digests table is write-once, for the signer alone: put new items, read them back; never update or delete. */
export const DIGESTS_SIGNER_ACTIONS = ['dynamodb:PutItem', 'dynamodb:Query'];
export const DIGESTS_READER_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'];

/**
 * DIGESTS_TABLE + DIGEST_KEY_ID and either the signer's rights (kms:Sign, PutItem on the digests table) or a
 * verifier's (kms:GetPublicKey, reads).
 */
export function bindDigests(fn: JitFunction, anchoring: DigestAnchoring, access: 'sign' | 'verify'): void {
  fn.addEnvironment('DIGESTS_TABLE', anchoring.digests.tableName);
  fn.addEnvironment('DIGEST_KEY_ID', anchoring.key.keyArn);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: access === 'sign' ? DIGESTS_SIGNER_ACTIONS : DIGESTS_READER_ACTIONS,
      resources: [anchoring.digests.tableArn],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: access === 'sign' ? ['kms:Sign'] : ['kms:GetPublicKey'],
      resources: [anchoring.key.keyArn],
    }),
  );
}

/** Which Step Functions calls a function makes (cdk/function-needs.ts). */
export type WorkflowAccess = NonNullable<FunctionNeeds['workflow']>;

export interface NeedsContext {
  tables: Tables;
  targets: TargetFacts;
  notifications: { senderEmail: string; identityArn: string };
  /**
   * The state machine, for functions outside it. Its own task functions leave it out: naming it from them
   * would make the state machine and its tasks depend on each other.
   */
  stateMachine?: sfn.StateMachine;
  /** For the state machine's own task functions: its name, fixed at synth, to format its ARN without a reference. */
  stateMachineName?: string;
  /** The digests table and key, for functions that sign or check audit digests. */
  anchoring?: DigestAnchoring;
  /** The revoke function, for functions that run an early revoke through it. */
  revokeFunction?: lambda.IFunction;
}

/**
 * Everything FUNCTION_NEEDS says this function's code reaches: tables always; admin secrets and RDS describe
 * calls for database functions (their VPC placement is `networkFor`); rds-db:connect; SES; Step Functions.
 */
export function bindNeeds(fn: JitFunction, ctx: NeedsContext): void {
  const needs = FUNCTION_NEEDS[fn.handlerName];
  if (needs.tables === 'audit-read') bindAuditReader(fn, ctx.tables.audit);
  else bindTables(fn, ctx.tables);
  if (needs.digests) {
    if (!ctx.anchoring)
      throw new Error(`${fn.handlerName} handles audit digests but was given no digests table`);
    bindDigests(fn, ctx.anchoring, needs.digests);
  }
  if (needs.database) bindTargetAdmin(fn, ctx.targets);
  if (needs.iamConnect) allowIamDatabaseConnect(fn, ctx.targets);
  if (needs.revoker) {
    if (!ctx.revokeFunction)
      throw new Error(`${fn.handlerName} runs early revokes but was given no revoke function`);
    fn.addEnvironment('REVOKE_FUNCTION_ARN', ctx.revokeFunction.functionArn);
    // The unqualified ARN only (grantInvoke would add every version, `:*`): the API invokes $LATEST.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [ctx.revokeFunction.functionArn],
      }),
    );
  }
  if (needs.mailer) allowSendEmail(fn, ctx.notifications);
  if (needs.workflow) {
    if (ctx.stateMachine) bindStateMachine(fn, ctx.stateMachine, needs.workflow);
    else allowTaskResponseFromTask(fn, needs.workflow, ctx.stateMachineName);
  }
}

/** What every construct gives its functions: the policy file, the targets' VPC (if any) and the log retention. */
export interface FunctionSettings {
  readonly policyFile: string;
  /**
   * The targets' VPC, for the functions that connect to databases.
   * @default - not in a VPC
   */
  readonly network?: DatabaseNetwork;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Reserved concurrency of each database function (FUNCTION_NEEDS[name].database): the most connections a
   * burst can open to a target at once. 0 leaves them unreserved.
   * @default 10
   */
  readonly databaseConcurrency?: number;
}

/** The reserved concurrency a database function gets unless the deployment says otherwise. */
export const DEFAULT_DATABASE_CONCURRENCY = 10;

/** The props every construct with functions takes: their settings and what bindNeeds binds them to. */
export interface FunctionConstructProps extends FunctionSettings {
  readonly tables: Tables;
  readonly targets: TargetFacts;
  readonly notifications: NotificationsConstruct;
}

/**
 * A function with the construct's settings; only a database function is placed in the VPC (networkFor) and
 * given the database functions' reserved concurrency.
 */
export function stackFunction(
  scope: Construct,
  id: string,
  handlerName: FunctionName,
  settings: FunctionSettings,
  extra: Pick<JitFunctionProps, 'timeout' | 'reservedConcurrentExecutions' | 'deadLetterQueue'> = {},
): JitFunction {
  const databaseConcurrency = settings.databaseConcurrency ?? DEFAULT_DATABASE_CONCURRENCY;
  return new JitFunction(scope, id, {
    handlerName,
    policyFile: settings.policyFile,
    ...(FUNCTION_NEEDS[handlerName].database && databaseConcurrency > 0
      ? { reservedConcurrentExecutions: databaseConcurrency }
      : {}),
    ...extra,
    ...networkFor(handlerName, settings.network),
    ...(settings.logRetention ? { logRetention: settings.logRetention } : {}),
  });
}

/** The VPC placement a function gets: only database functions, and only when a VPC is configured. */
export function networkFor<T>(name: JitFunction['handlerName'], network: T | undefined): { network?: T } {
  return FUNCTION_NEEDS[name].database && network ? { network } : {};
}

/**
 * SendTaskSuccess/SendTaskFailure for a task function of the state machine itself. It cannot reference the
 * state machine (the state machine references it), so the ARN is formatted from the state machine's fixed name:
 * the same statement CDK's grantTaskResponse gives a function outside it.
 */
function allowTaskResponseFromTask(fn: JitFunction, access: WorkflowAccess, stateMachineName?: string): void {
  if (access.start || access.stop) {
    throw new Error(
      `${fn.handlerName} runs inside the state machine and cannot start or stop its executions`,
    );
  }
  if (!access.decide) return;
  if (!stateMachineName)
    throw new Error(`${fn.handlerName} completes tasks but was given no state machine name`);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
      resources: [
        Stack.of(fn).formatArn({
          service: 'states',
          resource: 'stateMachine',
          resourceName: stateMachineName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
    }),
  );
}

/** STATE_MACHINE_ARN and only the Step Functions actions asked for. */
export function bindStateMachine(
  fn: JitFunction,
  stateMachine: sfn.StateMachine,
  access: WorkflowAccess,
): void {
  fn.addEnvironment('STATE_MACHINE_ARN', stateMachine.stateMachineArn);
  if (access.start) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [stateMachine.stateMachineArn],
      }),
    );
  }
  if (access.decide) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
        resources: [stateMachine.stateMachineArn],
      }),
    );
  }
  if (access.stop) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:StopExecution'],
        resources: [executionsArn(fn, stateMachine)],
      }),
    );
    acknowledgeWildcardResource(
      fn.executionRole,
      executionsArn(fn, stateMachine),
      'Executions are named after request ids, unknown at deploy time; the ARN is limited to this state machine.',
    );
  }
}

function executionsArn(fn: JitFunction, stateMachine: sfn.StateMachine): string {
  return Stack.of(fn).formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${stateMachine.stateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * Acknowledges cdk-nag's wildcard finding for exactly one resource string (rendered the way cdk-nag renders
 * it, `<Logical.Attr>` for references), so any other wildcard on the same role is still reported.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const rendered = flattenCfnReference(Stack.of(scope).resolve(resource));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${rendered}]`, reason });
}

/** Where Lambda's Node.js runtimes keep the Amazon RDS CA certificates. */
export const RDS_CA_BUNDLE = '/var/runtime/ca-cert.pem';

/**
 * The targets' admin secrets and the RDS describe calls that resolve endpoints: for functions that create,
 * alter or drop database users.
 */
export function bindTargetAdmin(fn: JitFunction, facts: TargetFacts): void {
  const stack = Stack.of(fn);
  // Lambda's Node.js 20+ runtimes keep the RDS CA bundle here but do not load it: tls verify-full needs it.
  fn.addEnvironment('NODE_EXTRA_CA_CERTS', RDS_CA_BUNDLE);
  if (facts.adminSecretArns.length > 0) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: facts.adminSecretArns,
      }),
    );
  }
  if (facts.adminSecretKeyArns.length > 0) {
    // Secrets under a customer-managed key: decrypt through Secrets Manager only, never directly.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: facts.adminSecretKeyArns,
        conditions: { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } },
      }),
    );
  }
  const describe = (action: string, resource: 'db' | 'cluster', targets: RdsResource[]) => {
    if (targets.length === 0) return;
    const resources = targets.map((t) =>
      stack.formatArn({
        service: 'rds',
        resource,
        resourceName: t.id,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        ...(t.region ? { region: t.region } : {}),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: [action], resources: [...new Set(resources)].sort() }),
    );
  };
  describe('rds:DescribeDBInstances', 'db', facts.rdsInstances);
  describe('rds:DescribeDBClusters', 'cluster', facts.rdsClusters);
}

/**
 * `rds-db:connect` as the request users only (`dbuser:<resourceId>/jit_*`), for IAM-auth targets. A target
 * whose DbiResourceId is not known at synth (no `targetResourceIds` context) gets `*` in that position.
 */
export function allowIamDatabaseConnect(fn: JitFunction, facts: TargetFacts): void {
  if (facts.iamTargets.length === 0) return;
  const stack = Stack.of(fn);
  const resources = [
    ...new Set(
      facts.iamTargets.map((t) =>
        stack.formatArn({
          service: 'rds-db',
          resource: 'dbuser',
          resourceName: `${t.resourceId ?? '*'}/jit_*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          ...(t.region ? { region: t.region } : {}),
        }),
      ),
    ),
  ].sort();
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['rds-db:connect'], resources }));
  for (const resource of resources) {
    acknowledgeWildcardResource(
      fn.executionRole,
      resource,
      resource.includes('dbuser:*/')
        ? 'Only database users named jit_* (one per request, created at grant). The target is an RDS instance or ' +
            'cluster named by identifier, whose DbiResourceId is unknown at synth: pass context targetResourceIds to pin it.'
        : 'Only database users named jit_* (one per request, created at grant) on this one database resource.',
    );
  }
}

/** SENDER_EMAIL and ses:SendEmail from that one verified identity. */
export function allowSendEmail(fn: JitFunction, sender: { senderEmail: string; identityArn: string }): void {
  fn.addEnvironment('SENDER_EMAIL', sender.senderEmail);
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['ses:SendEmail'], resources: [sender.identityArn] }),
  );
}
