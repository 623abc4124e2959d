/**
 * Assembly mode (issue #14): what the synthesized cloud assembly says is deployed, as plain data the local
 * emulators run from. Every value here is read from the templates and asset manifests under a `cdk.out`
 * directory, with CloudFormation's intrinsic functions resolved to local names (see cloud-assembly.ts); nothing
 * is taken from the TypeScript sources. Types only.
 */

/** An IAM policy document as it appears in a template (Statement may be one object or a list). */
export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
}

/** A role's identity policies: its inline policies and the AWS::IAM::Policy resources attached to it. */
export interface RoleModel {
  logicalId: string;
  /** arn:aws:iam::<account>:role/<physical name> */
  arn: string;
  policies: { name: string; document: PolicyDocument }[];
  /** Managed policy ARNs attached (e.g. AWSLambdaBasicExecutionRole); their documents are not in the template. */
  managedPolicyArns: string[];
}

/** One AWS::Lambda::Function, with everything the Lambda service would take from the template. */
export interface FunctionModel {
  logicalId: string;
  /** The physical name this emulation gives it (FunctionName if the template sets one). */
  functionName: string;
  /** arn:aws:lambda:<region>:<account>:function:<functionName> */
  arn: string;
  /** The registry name (functions/function-registry.ts), read from the asset's bundle, e.g. `grant`. */
  registryName: string;
  /** Absolute path of the staged asset directory (`cdk.out/asset.<hash>`): what `cdk deploy` would zip. */
  assetDir: string;
  /** Template `Handler`, e.g. `index.handler`. */
  handler: string;
  /** Template `Runtime`, e.g. `nodejs24.x`. */
  runtime: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** Template `Environment.Variables`, every value resolved to a string. */
  environment: Record<string, string>;
  /** Logical id of its execution role. */
  roleLogicalId: string;
  reservedConcurrency?: number;
}

/** The state machine: its definition with DefinitionSubstitutions applied (Lambda ARNs are the local ones). */
export interface StateMachineModel {
  logicalId: string;
  name: string;
  arn: string;
  /** The ASL JSON text, exactly as Step Functions would receive it. */
  definition: string;
  roleLogicalId: string;
}

/** One API Gateway method on one resource path. */
export interface ApiMethodModel {
  /** The full resource path, e.g. `/requests/{id}/approve`. */
  path: string;
  httpMethod: string;
  /** `AWS_IAM` or `NONE`. */
  authorizationType: string;
  /** The Lambda proxy integration's function (logical id), if any. */
  functionLogicalId?: string;
  /** Method-level throttling from the stage's MethodSettings, if any. */
  throttle?: { rateLimit: number; burstLimit: number };
  /** The JSON schema (draft-04) the body is validated against, when the method's validator checks bodies. */
  requestModel?: Record<string, unknown>;
}

export interface GatewayResponseModel {
  /** e.g. DEFAULT_4XX, ACCESS_DENIED, MISSING_AUTHENTICATION_TOKEN */
  responseType: string;
  statusCode?: string;
  responseParameters: Record<string, string>;
  responseTemplates: Record<string, string>;
}

export interface RestApiModel {
  logicalId: string;
  /** The id this emulation gives it (used in ARNs: arn:aws:execute-api:<region>:<account>:<id>/<stage>/<METHOD>/<path>). */
  restApiId: string;
  stageName: string;
  methods: ApiMethodModel[];
  gatewayResponses: GatewayResponseModel[];
  /** The request body size limit the emulation enforces like API Gateway (10 MB). */
  maxBodyBytes: number;
}

/** One EventBridge rule: a schedule or an event pattern, and the functions it targets. */
export interface EventRuleModel {
  logicalId: string;
  /** arn:aws:events:<region>:<account>:rule/<name>: the SourceArn its targets' permissions name. */
  arn: string;
  scheduleExpression?: string;
  eventPattern?: Record<string, unknown>;
  state: 'ENABLED' | 'DISABLED';
  targets: { functionLogicalId: string; input?: string }[];
}

/** A DynamoDB table definition, as CreateTable takes it (physical name resolved). */
export interface TableModel {
  logicalId: string;
  tableName: string;
  arn: string;
  keySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  attributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[];
  globalSecondaryIndexes: {
    IndexName: string;
    KeySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
    Projection: { ProjectionType: string; NonKeyAttributes?: string[] };
  }[];
  timeToLiveAttribute?: string;
}

/** An AWS::Lambda::Permission: who may invoke a function, from which source (API Gateway, EventBridge). */
export interface LambdaPermissionModel {
  functionLogicalId: string;
  action: string;
  /** e.g. apigateway.amazonaws.com, events.amazonaws.com */
  principal: string;
  /** An ARN pattern (`*` matches anything); absent: any source. */
  sourceArn?: string;
}

/** Everything assembly mode runs, for one account and region. */
export interface AssemblyModel {
  /** The cloud assembly directory (`cdk.out`). */
  dir: string;
  account: string;
  region: string;
  functions: FunctionModel[];
  roles: RoleModel[];
  stateMachine: StateMachineModel;
  api: RestApiModel;
  rules: EventRuleModel[];
  tables: TableModel[];
  /** KMS keys (logical id → ARN) and the SNS alarm topic ARN, for resolving and for the KMS emulation. */
  kmsKeys: { logicalId: string; arn: string; keySpec?: string; keyUsage?: string }[];
  /** The functions' resource policies: who may invoke them. */
  lambdaPermissions: LambdaPermissionModel[];
  /** The SES sender identity ARN(s) (AWS::SES::EmailIdentity). */
  emailIdentities: { identity: string; arn: string }[];
  /** SNS topics (the alarm topic), with the KMS key they are encrypted with. Optional: added by the reader. */
  topics?: { logicalId: string; arn: string; kmsKeyArn?: string }[];
  /** SQS queues (the rules' dead-letter queues). Optional: added by the reader. */
  queues?: { logicalId: string; arn: string; url: string }[];
}

/** An AWS API call a function made, as IAM sees it. */
export interface AwsCall {
  /** The IAM service prefix: dynamodb, states, ses, secretsmanager, rds, rds-db, lambda, kms, execute-api. */
  service: string;
  /** e.g. `dynamodb:UpdateItem`. */
  action: string;
  /** The resource ARN IAM evaluates (one call may name several, e.g. TransactWriteItems). */
  resource: string;
  /** Condition keys IAM would set for this request (e.g. dynamodb:LeadingKeys), if any matter. */
  context?: Record<string, string | string[]>;
}

/** The outcome of evaluating one call against a principal's identity policies. */
export type Authorization =
  | { allowed: true }
  | { allowed: false; reason: 'ImplicitlyDenied' | 'ExplicitlyDenied'; action: string; resource: string };
