import { createHash } from 'node:crypto';

/**
 * The physical names and ARNs assembly mode gives a template's resources: what CloudFormation would have made
 * up on deploy, made deterministic so two reads of one assembly (and two runs) agree.
 *
 * - A resource that names itself (TableName, FunctionName, RoleName, StateMachineName, QueueName, TopicName,
 *   LogGroupName, RuleName, AlarmName, …) keeps that name.
 * - Otherwise its name is `<stack name>-<logical id without CDK's 8-hex-digit hash suffix>`, e.g.
 *   `JitDbAccessStateful-RequestsTable`, `JitDbAccess-WorkflowGrantFunction` (CloudFormation would append a
 *   random suffix instead), cut to the service's length limit.
 * - Ids CloudFormation or the service generates (KMS key ids, REST API ids, API resource ids) are derived from
 *   a SHA-256 of `<stack>/<logical id>`: a KMS key id is a UUID, a REST API id 10 lowercase letters and digits.
 */

export interface LocalResource {
  /** What Ref returns. */
  ref: string;
  /** What Fn::GetAtt returns, by attribute name. */
  attributes: Record<string, string>;
}

export interface NamingScope {
  stackName: string;
  account: string;
  region: string;
}

const CDK_HASH_SUFFIX = /[0-9A-F]{8}$/;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** `n` lowercase letters and digits derived from `seed`. */
export function localId(seed: string, n: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...digest(seed).subarray(0, n)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** A UUID-shaped id derived from `seed` (KMS key ids). */
export function localUuid(seed: string): string {
  const hex = digest(seed).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** `<stack>-<logical id minus CDK's hash suffix>`, at most `max` characters. */
export function localName(stackName: string, logicalId: string, max = 64): string {
  const base = logicalId.length > 8 ? logicalId.replace(CDK_HASH_SUFFIX, '') : logicalId;
  return `${stackName}-${base}`.slice(0, max);
}

/** Each resource type's name property, when the template may set one. */
const NAME_PROPERTY: Record<string, string> = {
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::DynamoDB::GlobalTable': 'TableName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  'AWS::IAM::Policy': 'PolicyName',
  'AWS::StepFunctions::StateMachine': 'StateMachineName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::Events::Rule': 'Name',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::ApiGateway::Model': 'Name',
};

/** Length limits of the names CloudFormation would generate. */
const MAX_NAME: Record<string, number> = {
  'AWS::Lambda::Function': 64,
  'AWS::IAM::Role': 64,
  'AWS::Events::Rule': 64,
  'AWS::SQS::Queue': 80,
  'AWS::StepFunctions::StateMachine': 80,
};

/**
 * The local Ref and attributes of one resource, or undefined for a type this reader does not name.
 * `name` is the resolved value of the type's name property, if the template sets it.
 */
export function localResource(
  scope: NamingScope,
  logicalId: string,
  type: string,
  properties: Record<string, unknown>,
  name: string | undefined,
): LocalResource | undefined {
  const { account, region, stackName } = scope;
  const named = name ?? localName(stackName, logicalId, MAX_NAME[type] ?? 128);
  const seed = `${stackName}/${logicalId}`;
  switch (type) {
    case 'AWS::DynamoDB::Table':
    case 'AWS::DynamoDB::GlobalTable': {
      const arn = `arn:aws:dynamodb:${region}:${account}:table/${named}`;
      return { ref: named, attributes: { Arn: arn, StreamArn: `${arn}/stream/local` } };
    }
    case 'AWS::Lambda::Function':
      return { ref: named, attributes: { Arn: `arn:aws:lambda:${region}:${account}:function:${named}` } };
    case 'AWS::IAM::Role':
      return {
        ref: named,
        attributes: {
          Arn: `arn:aws:iam::${account}:role/${named}`,
          RoleId: `AROA${localId(seed, 17).toUpperCase()}`,
        },
      };
    case 'AWS::IAM::Policy':
      return { ref: named, attributes: {} };
    case 'AWS::IAM::ManagedPolicy':
      return { ref: `arn:aws:iam::${account}:policy/${named}`, attributes: {} };
    case 'AWS::KMS::Key': {
      const id = localUuid(seed);
      return { ref: id, attributes: { Arn: `arn:aws:kms:${region}:${account}:key/${id}`, KeyId: id } };
    }
    case 'AWS::SNS::Topic': {
      const arn = `arn:aws:sns:${region}:${account}:${named}`;
      return { ref: arn, attributes: { TopicArn: arn, TopicName: named } };
    }
    case 'AWS::SQS::Queue': {
      const url = `https://sqs.${region}.amazonaws.com/${account}/${named}`;
      const arn = `arn:aws:sqs:${region}:${account}:${named}`;
      return { ref: url, attributes: { Arn: arn, QueueName: named, QueueUrl: url } };
    }
    case 'AWS::Logs::LogGroup':
      return { ref: named, attributes: { Arn: `arn:aws:logs:${region}:${account}:log-group:${named}:*` } };
    case 'AWS::StepFunctions::StateMachine': {
      const arn = `arn:aws:states:${region}:${account}:stateMachine:${named}`;
      return { ref: arn, attributes: { Arn: arn, Name: named } };
    }
    case 'AWS::Events::Rule':
      return { ref: named, attributes: { Arn: `arn:aws:events:${region}:${account}:rule/${named}` } };
    case 'AWS::CloudWatch::Alarm':
      return { ref: named, attributes: { Arn: `arn:aws:cloudwatch:${region}:${account}:alarm:${named}` } };
    case 'AWS::SES::EmailIdentity': {
      const identity = typeof properties.EmailIdentity === 'string' ? properties.EmailIdentity : named;
      return { ref: identity, attributes: {} };
    }
    case 'AWS::ApiGateway::RestApi':
      return { ref: localId(seed, 10), attributes: { RootResourceId: localId(`${seed}/root`, 10) } };
    case 'AWS::ApiGateway::Stage':
      return typeof properties.StageName === 'string'
        ? { ref: properties.StageName, attributes: {} }
        : undefined;
    case 'AWS::ApiGateway::Model':
      return { ref: name ?? logicalId, attributes: {} };
    case 'AWS::ApiGateway::Resource':
    case 'AWS::ApiGateway::Deployment':
    case 'AWS::ApiGateway::RequestValidator':
    case 'AWS::ApiGateway::Method':
    case 'AWS::ApiGateway::GatewayResponse':
    case 'AWS::ApiGateway::Account':
    case 'AWS::Lambda::Permission':
    case 'AWS::SQS::QueuePolicy':
    case 'AWS::SNS::TopicPolicy':
      return { ref: localId(seed, 10), attributes: {} };
    default:
      return undefined;
  }
}

/** The template property naming a resource of `type`, if it has one. */
export function nameProperty(type: string): string | undefined {
  return NAME_PROPERTY[type];
}
