/**
 * Assembly mode (issue #14): which IAM calls (action + resource ARN) a verified request to the local AWS endpoint
 * makes, per service and operation, as IAM would evaluate them. Pure: names the endpoint cannot resolve itself
 * (a task token's state machine, a secret's full ARN, a key alias, an RDS instance's resource id, the SES identity
 * an address sends as) come from the context's callbacks. Anything unknown is an error value, never a throw.
 */
import type { AwsCall } from './model.js';
import { parseQuery, type SignedRequest } from './sigv4-verify.js';

export interface ActionContext {
  account: string;
  region: string;
  /** The state machine a task token belongs to (SendTask* are evaluated against it); unknown → `*`. */
  stateMachineArnOfTaskToken?: (token: string) => string | undefined;
  /** A secret's full ARN (with AWS's random suffix) from its name or (partial) ARN. */
  secretArnOf?: (nameOrArn: string) => string | undefined;
  /** A KMS key's ARN from a key id, key ARN, alias name (`alias/x`) or alias ARN. */
  keyArnOf?: (keyId: string) => string | undefined;
  /** The DbiResourceId (`db-ABC…`) of the RDS instance listening at host:port. */
  dbiResourceIdOf?: (host: string, port: number) => string | undefined;
  /** The verified SES identity an address sends as (the address itself, or its domain); default the address. */
  sesIdentityOf?: (emailAddress: string) => string | undefined;
}

export type ActionResult =
  | { ok: true; operation: string; calls: AwsCall[] }
  | { ok: false; status: number; code: string; message: string };

const err = (status: number, code: string, message: string): ActionResult => ({
  ok: false,
  status,
  code,
  message,
});
const unknownOperation = (what: string): ActionResult =>
  err(400, 'UnknownOperationException', `Unknown operation ${what}`);
const call = (action: string, resource: string): AwsCall => ({
  service: action.split(':')[0] ?? '',
  action,
  resource,
});

type Json = Record<string, unknown>;

function jsonBody(req: SignedRequest): Json | undefined {
  if (req.body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(req.body.toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Json)
      : undefined;
  } catch {
    return undefined;
  }
}

const str = (o: Json, k: string): string | undefined =>
  typeof o[k] === 'string' ? (o[k] as string) : undefined;
const obj = (v: unknown): Json =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};

function target(req: SignedRequest, prefix: string): string | undefined {
  const value = req.headers['x-amz-target'];
  const t = Array.isArray(value) ? value[0] : value;
  return t?.startsWith(`${prefix}.`) ? t.slice(prefix.length + 1) : undefined;
}

function requireParam(body: Json, name: string): string | ActionResult {
  const value = str(body, name);
  return (
    value ??
    err(
      400,
      'ValidationException',
      `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
    )
  );
}

function dynamodb(req: SignedRequest, ctx: ActionContext): ActionResult {
  const op = target(req, 'DynamoDB_20120810');
  if (!op) return unknownOperation(String(req.headers['x-amz-target'] ?? '(no X-Amz-Target)'));
  const body = jsonBody(req);
  if (!body) return err(400, 'SerializationException', 'Start of structure or map found where not expected.');
  const tableArn = (name: string) =>
    name.startsWith('arn:') ? name : `arn:aws:dynamodb:${ctx.region}:${ctx.account}:table/${name}`;
  const single = (action: string): ActionResult => {
    const table = requireParam(body, 'TableName');
    if (typeof table !== 'string') return table;
    const index = str(body, 'IndexName');
    const resource = index ? `${tableArn(table)}/index/${index}` : tableArn(table);
    return { ok: true, operation: op, calls: [call(`dynamodb:${action}`, resource)] };
  };
  switch (op) {
    case 'GetItem':
    case 'PutItem':
    case 'UpdateItem':
    case 'DeleteItem':
    case 'DescribeTable':
    case 'CreateTable':
    case 'Query':
    case 'Scan':
      return single(op);
    case 'ListTables':
      return { ok: true, operation: op, calls: [call('dynamodb:ListTables', '*')] };
    case 'BatchGetItem':
    case 'BatchWriteItem': {
      const tables = Object.keys(obj(body.RequestItems));
      if (tables.length === 0)
        return err(400, 'ValidationException', 'The requestItems parameter is required');
      return { ok: true, operation: op, calls: tables.map((t) => call(`dynamodb:${op}`, tableArn(t))) };
    }
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const items = Array.isArray(body.TransactItems) ? body.TransactItems : [];
      const kinds: Record<string, string> = {
        Put: 'PutItem',
        Update: 'UpdateItem',
        Delete: 'DeleteItem',
        ConditionCheck: 'ConditionCheckItem',
        Get: 'GetItem',
      };
      const calls: AwsCall[] = [];
      for (const item of items) {
        const [kind, detail] = Object.entries(obj(item))[0] ?? [];
        const action = kind ? kinds[kind] : undefined;
        const table = str(obj(detail), 'TableName');
        if (!action || !table) return err(400, 'ValidationException', `Invalid TransactItems entry in ${op}`);
        calls.push(call(`dynamodb:${action}`, tableArn(table)));
      }
      if (calls.length === 0) return err(400, 'ValidationException', 'TransactItems must not be empty');
      return { ok: true, operation: op, calls };
    }
    default:
      return unknownOperation(op);
  }
}

function states(req: SignedRequest, ctx: ActionContext): ActionResult {
  const op = target(req, 'AWSStepFunctions');
  if (!op) return unknownOperation(String(req.headers['x-amz-target'] ?? '(no X-Amz-Target)'));
  const body = jsonBody(req);
  if (!body) return err(400, 'SerializationException', 'Malformed JSON body');
  const on = (param: string): ActionResult => {
    const arn = requireParam(body, param);
    return typeof arn === 'string' ? { ok: true, operation: op, calls: [call(`states:${op}`, arn)] } : arn;
  };
  switch (op) {
    case 'StartExecution':
    case 'StartSyncExecution':
    case 'ListExecutions':
    case 'DescribeStateMachine':
      return on('stateMachineArn');
    case 'DescribeExecution':
    case 'StopExecution':
    case 'GetExecutionHistory':
      return on('executionArn');
    case 'SendTaskSuccess':
    case 'SendTaskFailure':
    case 'SendTaskHeartbeat': {
      const token = requireParam(body, 'taskToken');
      if (typeof token !== 'string') return token;
      const resource = ctx.stateMachineArnOfTaskToken?.(token) ?? '*';
      return { ok: true, operation: op, calls: [call(`states:${op}`, resource)] };
    }
    default:
      return unknownOperation(op);
  }
}

/** The bare address of an RFC 5322 mailbox (`Name <a@b.c>` → `a@b.c`). */
function bareAddress(mailbox: string): string {
  const m = /<([^>]+)>\s*$/.exec(mailbox);
  return (m?.[1] ?? mailbox).trim();
}

function ses(req: SignedRequest, ctx: ActionContext): ActionResult {
  if (req.method !== 'POST' || req.path.replace(/\/+$/, '') !== '/v2/email/outbound-emails') {
    return err(404, 'UnknownOperationException', `Unknown operation ${req.method} ${req.path}`);
  }
  const body = jsonBody(req);
  if (!body) return err(400, 'BadRequestException', 'Malformed JSON body');
  const calls: AwsCall[] = [];
  const identityArn = str(body, 'FromEmailAddressIdentityArn');
  const from = str(body, 'FromEmailAddress');
  if (identityArn) calls.push(call('ses:SendEmail', identityArn));
  else if (from) {
    const address = bareAddress(from);
    const identity = ctx.sesIdentityOf?.(address) ?? address;
    calls.push(call('ses:SendEmail', `arn:aws:ses:${ctx.region}:${ctx.account}:identity/${identity}`));
  } else return err(400, 'BadRequestException', 'Missing required parameter FromEmailAddress');
  const configurationSet = str(body, 'ConfigurationSetName');
  if (configurationSet) {
    const arn = `arn:aws:ses:${ctx.region}:${ctx.account}:configuration-set/${configurationSet}`;
    calls.push(call('ses:SendEmail', arn));
  }
  return { ok: true, operation: 'SendEmail', calls };
}

function secretsmanager(req: SignedRequest, ctx: ActionContext): ActionResult {
  const op = target(req, 'secretsmanager');
  if (!op) return unknownOperation(String(req.headers['x-amz-target'] ?? '(no X-Amz-Target)'));
  if (op !== 'GetSecretValue' && op !== 'DescribeSecret') return unknownOperation(op);
  const body = jsonBody(req);
  if (!body) return err(400, 'SerializationException', 'Malformed JSON body');
  const id = requireParam(body, 'SecretId');
  if (typeof id !== 'string') return id;
  const arn =
    ctx.secretArnOf?.(id) ??
    (id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${ctx.region}:${ctx.account}:secret:${id}`);
  return { ok: true, operation: op, calls: [call(`secretsmanager:${op}`, arn)] };
}

function rds(req: SignedRequest, ctx: ActionContext): ActionResult {
  const params = new Map(parseQuery(req.query));
  if (req.body.length > 0) {
    for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) params.set(k, v);
  }
  const action = params.get('Action');
  const base = `arn:aws:rds:${ctx.region}:${ctx.account}`;
  switch (action) {
    case 'DescribeDBInstances':
      return {
        ok: true,
        operation: action,
        calls: [call('rds:DescribeDBInstances', `${base}:db:${params.get('DBInstanceIdentifier') ?? '*'}`)],
      };
    case 'DescribeDBClusters':
      return {
        ok: true,
        operation: action,
        calls: [
          call('rds:DescribeDBClusters', `${base}:cluster:${params.get('DBClusterIdentifier') ?? '*'}`),
        ],
      };
    default:
      return err(400, 'InvalidAction', `The action ${action ?? '(none)'} is not valid for this web service.`);
  }
}

function lambda(req: SignedRequest, ctx: ActionContext): ActionResult {
  const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/.exec(req.path);
  if (req.method !== 'POST' || !m?.[1]) {
    return err(404, 'UnknownOperationException', `Unknown operation ${req.method} ${req.path}`);
  }
  let name: string;
  try {
    name = decodeURIComponent(m[1]);
  } catch {
    return err(400, 'InvalidParameterValueException', 'Malformed function name');
  }
  const qualifier = new Map(parseQuery(req.query)).get('Qualifier');
  // name | name:qualifier | account:function:name[:qualifier] | arn:aws:lambda:region:account:function:name[:qualifier]
  const parts = name.split(':');
  let arn: string;
  if (parts[0] === 'arn') arn = name;
  else if (parts[1] === 'function') arn = `arn:aws:lambda:${ctx.region}:${name}`;
  else arn = `arn:aws:lambda:${ctx.region}:${ctx.account}:function:${name}`;
  const hasQualifier = arn.split(':').length > 7;
  if (qualifier && !hasQualifier) arn = `${arn}:${qualifier}`;
  return { ok: true, operation: 'Invoke', calls: [call('lambda:InvokeFunction', arn)] };
}

function kms(req: SignedRequest, ctx: ActionContext): ActionResult {
  const op = target(req, 'TrentService');
  if (!op) return unknownOperation(String(req.headers['x-amz-target'] ?? '(no X-Amz-Target)'));
  if (!['Sign', 'Verify', 'GetPublicKey', 'DescribeKey'].includes(op)) return unknownOperation(op);
  const body = jsonBody(req);
  if (!body) return err(400, 'SerializationException', 'Malformed JSON body');
  const keyId = requireParam(body, 'KeyId');
  if (typeof keyId !== 'string') return keyId;
  const resolved = ctx.keyArnOf?.(keyId);
  const isAlias = keyId.startsWith('alias/') || keyId.includes(':alias/');
  if (!resolved && isAlias) {
    const aliasArn = keyId.startsWith('arn:') ? keyId : `arn:aws:kms:${ctx.region}:${ctx.account}:${keyId}`;
    return err(400, 'NotFoundException', `Alias ${aliasArn} is not found.`);
  }
  const arn =
    resolved ?? (keyId.startsWith('arn:') ? keyId : `arn:aws:kms:${ctx.region}:${ctx.account}:key/${keyId}`);
  return { ok: true, operation: op, calls: [call(`kms:${op}`, arn)] };
}

const services: Record<string, (req: SignedRequest, ctx: ActionContext) => ActionResult> = {
  dynamodb,
  states,
  ses,
  secretsmanager,
  rds,
  lambda,
  kms,
};

/** The IAM calls a SigV4-verified request makes, `service` being the signing name from its credential scope. */
export function iamCallsOf(service: string, req: SignedRequest, ctx: ActionContext): ActionResult {
  const handler = services[service];
  if (!handler)
    return err(400, 'UnknownOperationException', `The local endpoint does not emulate service '${service}'`);
  return handler(req, ctx);
}

/** The `rds-db:connect` call a verified RDS IAM auth token makes, on the instance's dbuser ARN. */
export function rdsConnectCall(
  token: { region: string; host: string; port: number; dbUser: string },
  ctx: Pick<ActionContext, 'account' | 'dbiResourceIdOf'>,
): ActionResult {
  const resourceId = ctx.dbiResourceIdOf?.(token.host, token.port);
  if (!resourceId)
    return err(400, 'InvalidParameterValue', `No DB instance is known at ${token.host}:${token.port}`);
  const arn = `arn:aws:rds-db:${token.region}:${ctx.account}:dbuser:${resourceId}/${token.dbUser}`;
  return { ok: true, operation: 'connect', calls: [call('rds-db:connect', arn)] };
}

const targetPrefixes: Record<string, string> = {
  DynamoDB_20120810: 'dynamodb',
  AWSStepFunctions: 'states',
  secretsmanager: 'secretsmanager',
  TrentService: 'kms',
};

/** The service a request is for, even unsigned (to answer in its protocol): scope, X-Amz-Target, path or Action. */
export function serviceOfRequest(req: SignedRequest): string | undefined {
  const auth = req.headers.authorization;
  const credential =
    /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(
      Array.isArray(auth) ? (auth[0] ?? '') : (auth ?? ''),
    )?.[1] ??
    /^[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(new Map(parseQuery(req.query)).get('X-Amz-Credential') ?? '')?.[1];
  if (credential) return credential;
  const t = req.headers['x-amz-target'];
  const prefix = (Array.isArray(t) ? t[0] : t)?.split('.')[0];
  if (prefix && targetPrefixes[prefix]) return targetPrefixes[prefix];
  if (req.path.startsWith('/v2/email/')) return 'ses';
  if (req.path.startsWith('/2015-03-31/functions/')) return 'lambda';
  const form = `${req.query}&${req.body.toString('utf8')}`;
  if (/(^|&)Action=/.test(form)) return 'rds';
  return undefined;
}
