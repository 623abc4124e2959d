/**
 * The reviewed cdk-nag acknowledgements (what the five packs of cdk/compliance.ts report that jit-db-access
 * deliberately leaves as it is, each with its reason), applied per resource by the constructs themselves so a
 * consumer's own cdk-nag run of `JitDbAccess` is clean too. No cdk-nag import: the package's users may not
 * have it.
 */
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { IConstruct } from 'constructs';
import { isAsyncInvoked, JitFunction } from './constructs/jit-function.js';
import { FUNCTION_NEEDS } from './function-needs.js';

/**
 * One reviewed decision not to do what a rule asks, for the resources it names. Applied per resource (never to
 * a stack), so a resource the decision does not describe is still reported.
 */
export interface Acknowledgement {
  /** Full rule ids, pack prefix included: one per pack that has the rule. */
  readonly rules: readonly string[];
  /** The CloudFormation type of the resources it covers. */
  readonly type: string;
  /** The construct path (from the app) of the resources it covers; every resource of `type` when absent. */
  readonly path?: RegExp;
  /** Narrows to resources this decision is about (read from the construct tree, never from a list of names). */
  readonly where?: (resource: CfnResource) => boolean;
  readonly reason: string;
}

const PACKS = {
  serverless: 'Serverless',
  nist: 'NIST.800.53.R5',
  hipaa: 'HIPAA.Security',
  pci: 'PCI.DSS.321',
} as const;
type PackKey = keyof typeof PACKS;
const rule = (name: string, ...packs: PackKey[]): string[] => packs.map((p) => `${PACKS[p]}-${name}`);

/** The JitFunction a CfnFunction belongs to, if any. */
function jitFunctionOf(resource: CfnResource): JitFunction | undefined {
  const owner = resource.node.scope;
  return owner instanceof JitFunction ? owner : undefined;
}
const cfnFunction = (resource: CfnResource): lambda.CfnFunction | undefined =>
  resource instanceof lambda.CfnFunction ? resource : undefined;
const stackHas = (resource: CfnResource, type: new (...args: never[]) => IConstruct): boolean =>
  Stack.of(resource)
    .node.findAll()
    .some((c) => c instanceof type);
const isDatabaseFunction = (resource: CfnResource): boolean => {
  const fn = jitFunctionOf(resource);
  return fn !== undefined && FUNCTION_NEEDS[fn.handlerName].database;
};

/** Every finding of the five packs that is left as it is, and why. */
export const ACKNOWLEDGEMENTS: readonly Acknowledgement[] = [
  {
    rules: rule('IAMNoInlinePolicy', 'nist', 'hipaa', 'pci'),
    type: 'AWS::IAM::Policy',
    reason:
      'Each of these policies belongs to exactly one role made for one function or service (no user or group ' +
      'holds one), is generated from what that function needs and asserted statement by statement in ' +
      'test/infra; a customer-managed policy would be the same document under a second name, attachable to ' +
      'other principals, and could outlive the role.',
  },
  {
    rules: rule('LambdaDLQ', 'serverless', 'nist', 'hipaa'),
    type: 'AWS::Lambda::Function',
    where: (r) => {
      const fn = jitFunctionOf(r);
      return fn !== undefined && !isAsyncInvoked(fn.handlerName);
    },
    reason:
      'Invoked synchronously only (API Gateway proxy, Step Functions task, the API invoking revoke with ' +
      'RequestResponse): a dead-letter queue receives failed asynchronous invocations only, so it would stay ' +
      'empty. The caller gets the error (a 5xx, or the state machine Retry/Catch). Every asynchronously ' +
      'invoked function has one (JitFunction refuses to be built without it).',
  },
  {
    rules: rule('LambdaConcurrency', 'nist', 'hipaa'),
    type: 'AWS::Lambda::Function',
    where: (r) => !isDatabaseFunction(r) && cfnFunction(r)?.reservedConcurrentExecutions === undefined,
    reason:
      'Opens no database connection, so its concurrency protects no target: it is bounded by what invokes it ' +
      '(the stage throttle for the API, one execution step for a workflow task, a 5-minute schedule for the ' +
      "digest). Reserving would take from the account's unreserved pool for nothing. The database functions " +
      'and the unauthenticated approval-link function are reserved.',
  },
  {
    rules: rule('LambdaConcurrency', 'nist', 'hipaa'),
    type: 'AWS::Lambda::Function',
    where: (r) => isDatabaseFunction(r) && cfnFunction(r)?.reservedConcurrentExecutions === undefined,
    reason:
      'The deployment set context databaseConcurrency=0: its operator chose to leave the database functions ' +
      'unreserved (the default reserves 10 each).',
  },
  {
    rules: rule('LambdaInsideVPC', 'nist', 'hipaa', 'pci'),
    type: 'AWS::Lambda::Function',
    where: (r) => jitFunctionOf(r) !== undefined && !isDatabaseFunction(r),
    reason:
      'Opens no database connection: it calls only AWS APIs (DynamoDB, Step Functions, SES, KMS, X-Ray) over ' +
      'TLS with SigV4, scoped by its own role. A VPC would add NAT or endpoints and control nothing it reaches.',
  },
  {
    rules: rule('LambdaInsideVPC', 'nist', 'hipaa', 'pci'),
    type: 'AWS::Lambda::Function',
    where: (r) => isDatabaseFunction(r) && cfnFunction(r)?.vpcConfig === undefined,
    reason:
      'No VPC configured (context vpcId/subnetIds puts every database function in the targets’ VPC): the ' +
      'targets of this deployment are reached at their endpoints with TLS verify-full and per-request ' +
      'credentials.',
  },
  {
    rules: rule('SQSRedrivePolicy', 'serverless'),
    type: 'AWS::SQS::Queue',
    path: /DeadLetterQueue\/Resource$/,
    reason: 'This queue is itself a dead-letter queue (last stop of a trigger); its depth is alarmed.',
  },
  {
    rules: [...rule('APIGWXrayEnabled', 'serverless', 'hipaa')],
    type: 'AWS::ApiGateway::Stage',
    reason:
      "X-Ray would record each request's path, and an approval link's path is its secret. The functions " +
      'behind the stage are traced (active tracing); their segments carry no path.',
  },
  {
    rules: rule('APIGWCacheEnabledAndEncrypted', 'nist', 'hipaa', 'pci'),
    type: 'AWS::ApiGateway::Stage',
    reason:
      'Nothing may be served from a cache: every response is per caller and per moment (request state, ' +
      'decisions, one-time approval links, freshly minted credentials). With no cache there is no cached data ' +
      'to encrypt.',
  },
  {
    rules: rule('APIGWSSLEnabled', 'nist', 'hipaa', 'pci'),
    type: 'AWS::ApiGateway::Stage',
    reason:
      'A client certificate authenticates API Gateway to an HTTP backend; every integration here is a Lambda ' +
      'proxy invoked with IAM, which has no use for one. Callers reach the stage over TLS only.',
  },
  {
    rules: rule('APIGWAssociatedWithWAF', 'nist', 'pci'),
    type: 'AWS::ApiGateway::Stage',
    where: (r) => !stackHas(r, wafv2.CfnWebACLAssociation),
    reason:
      'No WAF by default (context wafRateLimit adds a web ACL; it costs per ACL and per request): every route ' +
      "but the approval links is IAM-authorized, and the links have their own throttle and the link function's " +
      'reserved concurrency.',
  },
  {
    rules: rule('WAFv2LoggingEnabled', 'nist', 'hipaa', 'pci'),
    type: 'AWS::WAFv2::WebACL',
    reason:
      "WAF logs record each request's URI, and an approval link's path is its secret (sampled requests are " +
      "off for the same reason). What the ACL blocks is counted in its rule's CloudWatch metric.",
  },
  {
    rules: rule('DynamoDBInBackupPlan', 'nist', 'hipaa'),
    type: 'AWS::DynamoDB::Table',
    where: (r) => !stackHas(r, backup.CfnBackupSelection),
    reason:
      'No AWS Backup plan by default (context backupRetentionDays adds one; backups cost storage): every ' +
      'table has point-in-time recovery (35 days), deletion protection, and is retained when its stack is ' +
      'deleted.',
  },
  {
    rules: [
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
    ],
    type: 'AWS::IAM::Role',
    path: /\/BackupPlan\/[^/]+\/Role\/Resource$/,
    reason:
      "AWS Backup's own service-role policy, the documented permissions its backup jobs need; assumable by " +
      'backup.amazonaws.com only.',
  },
];

/** One acknowledgement applied: the rule and the construct path of the resource. */
export interface AppliedAcknowledgement {
  readonly rule: string;
  readonly path: string;
}

/**
 * Applies ACKNOWLEDGEMENTS to every matching resource in `scope` (after everything is built: some decisions
 * depend on what else the stack holds) and returns what it applied.
 */
export function acknowledgeFindings(scope: IConstruct): AppliedAcknowledgement[] {
  const applied: AppliedAcknowledgement[] = [];
  for (const node of scope.node.findAll()) {
    if (!(node instanceof CfnResource)) continue;
    for (const ack of ACKNOWLEDGEMENTS) {
      if (node.cfnResourceType !== ack.type) continue;
      if (ack.path && !ack.path.test(node.node.path)) continue;
      if (ack.where && !ack.where(node)) continue;
      Validations.of(node).acknowledge(...ack.rules.map((id) => ({ id, reason: ack.reason })));
      for (const id of ack.rules) applied.push({ rule: id, path: node.node.path });
    }
  }
  return applied;
}
