/**
 * Assembly mode's service emulators, each speaking its service's own wire protocol to the real SDK clients
 * in the Lambda bundles: DynamoDB (forwarded to DynamoDB Local), Step Functions (over the local runner),
 * SES v2 (into the outbox), Secrets Manager (the local admin logins), Lambda Invoke (the local Lambda
 * service) and KMS (a local P-256 key per key ARN). Only requests the gatekeeper let through reach them.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { Email, Mailer } from '../../functions/application/ports.js';
import { WorkflowTaskClosedError } from '../../functions/application/workflow-io.js';
import type { LocalWorkflow } from '../workflow-runner.js';
import { jsonError, jsonOk, jsonTarget, type RawResponse, type ServiceEmulator } from './aws-endpoint.js';
import { signDigestP256 } from './ecdsa-digest.js';

const JSON_10 = 'application/x-amz-json-1.0';
const JSON_11 = 'application/x-amz-json-1.1';

function parseJson(body: Buffer): Record<string, unknown> {
  const parsed = JSON.parse(body.toString('utf8') || '{}') as unknown;
  return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** DynamoDB: the request, checked, goes on to DynamoDB Local as it came (DynamoDB Local accepts any signature). */
export function dynamoDbEmulator(dynamoDbLocalUrl: string): ServiceEmulator {
  return async (request) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (!['host', 'content-length', 'connection', 'transfer-encoding'].includes(name))
        headers[name] = value;
    }
    const res = await fetch(`${dynamoDbLocalUrl}${request.path}${request.query ? `?${request.query}` : ''}`, {
      method: request.method,
      headers,
      body: new Uint8Array(request.body),
    });
    const out: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (!['content-length', 'connection', 'transfer-encoding', 'keep-alive'].includes(name))
        out[name] = value;
    });
    return { status: res.status, headers: out, body: Buffer.from(await res.arrayBuffer()) };
  };
}

/** The execution name an execution ARN ends with. */
function executionName(executionArn: string): string {
  return executionArn.split(':').at(-1) ?? '';
}

/** Step Functions over the local runner: the calls this project's functions make, with AWS's error names. */
export function stepFunctionsEmulator(workflow: LocalWorkflow): ServiceEmulator {
  const closed = (error: unknown): RawResponse | undefined =>
    error instanceof WorkflowTaskClosedError
      ? jsonError(
          400,
          String(error.details?.reason) === 'invalid token' ? 'InvalidToken' : 'TaskTimedOut',
          error.message,
          JSON_10,
        )
      : undefined;
  return async (request) => {
    const op = jsonTarget(request);
    const body = parseJson(request.body);
    switch (op) {
      case 'StartExecution': {
        const arn = str(body.stateMachineArn);
        if (arn !== workflow.stateMachineArn) {
          return jsonError(
            400,
            'StateMachineDoesNotExist',
            `State Machine Does Not Exist: '${arn}'`,
            JSON_10,
          );
        }
        const name = str(body.name) ?? crypto.randomUUID();
        const input = JSON.parse(str(body.input) ?? '{}') as Record<string, unknown>;
        const existing = workflow.describe(`${arn.replace(':stateMachine:', ':execution:')}:${name}`);
        if (
          existing &&
          (existing.status !== 'RUNNING' || JSON.stringify(existing.input) !== JSON.stringify(input))
        ) {
          return jsonError(400, 'ExecutionAlreadyExists', `Execution Already Exists: '${name}'`, JSON_10);
        }
        const { executionArn } = await workflow.start(name, input);
        return jsonOk({ executionArn, startDate: Date.now() / 1000 }, JSON_10);
      }
      case 'DescribeExecution': {
        const executionArn = str(body.executionArn) ?? '';
        const d = workflow.describe(executionArn);
        if (!d)
          return jsonError(
            400,
            'ExecutionDoesNotExist',
            `Execution Does Not Exist: '${executionArn}'`,
            JSON_10,
          );
        return jsonOk(
          {
            executionArn,
            stateMachineArn: workflow.stateMachineArn,
            name: d.name,
            status: d.status,
            startDate: d.startDate.getTime() / 1000,
            ...(d.stopDate ? { stopDate: d.stopDate.getTime() / 1000 } : {}),
            input: JSON.stringify(d.input),
            ...(d.output !== undefined ? { output: JSON.stringify(d.output) } : {}),
            ...(d.error ? { error: d.error } : {}),
            ...(d.cause ? { cause: d.cause } : {}),
          },
          JSON_10,
        );
      }
      case 'SendTaskSuccess':
        try {
          await workflow.sendTaskSuccess(
            str(body.taskToken) ?? '',
            JSON.parse(str(body.output) ?? '{}') as Record<string, unknown>,
          );
          return jsonOk({}, JSON_10);
        } catch (error) {
          const response = closed(error);
          if (response) return response;
          throw error;
        }
      case 'SendTaskFailure':
        try {
          await workflow.sendTaskFailure(
            str(body.taskToken) ?? '',
            str(body.error) ?? '',
            str(body.cause) ?? '',
          );
          return jsonOk({}, JSON_10);
        } catch (error) {
          const response = closed(error);
          if (response) return response;
          throw error;
        }
      case 'StopExecution': {
        const executionArn = str(body.executionArn) ?? '';
        if (!workflow.describe(executionArn)) {
          return jsonError(
            400,
            'ExecutionDoesNotExist',
            `Execution Does Not Exist: '${executionArn}'`,
            JSON_10,
          );
        }
        await workflow.stop(executionName(executionArn), str(body.cause) ?? '');
        return jsonOk({ stopDate: Date.now() / 1000 }, JSON_10);
      }
      default:
        return jsonError(400, 'UnknownOperationException', `no local emulation of states:${op}`, JSON_10);
    }
  };
}

/** SES v2 SendEmail (simple content) into the local outbox. */
export function sesV2Emulator(mailer: Mailer): ServiceEmulator {
  return async (request): Promise<RawResponse> => {
    if (request.method !== 'POST' || request.path !== '/v2/email/outbound-emails') {
      return {
        status: 404,
        headers: { 'x-amzn-errortype': 'NotFoundException', 'content-type': 'application/json' },
        body: JSON.stringify({ message: `no local emulation of ${request.method} ${request.path}` }),
      };
    }
    const body = parseJson(request.body);
    const destination = (body.Destination ?? {}) as { ToAddresses?: string[] };
    const simple = ((body.Content ?? {}) as { Simple?: Record<string, unknown> }).Simple ?? {};
    const subject = (simple.Subject ?? {}) as { Data?: string };
    const parts = (simple.Body ?? {}) as { Text?: { Data?: string }; Html?: { Data?: string } };
    const email: Email = {
      to: destination.ToAddresses ?? [],
      subject: subject.Data ?? '',
      text: parts.Text?.Data ?? '',
      html: parts.Html?.Data ?? '',
    };
    await mailer.send(email);
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ MessageId: crypto.randomUUID() }),
    };
  };
}

/** A local secret: its ARN and name, and the string GetSecretValue returns. */
export interface LocalSecret {
  arn: string;
  name: string;
  secretString: string;
}

/** Secrets Manager GetSecretValue / DescribeSecret over the given secrets (by ARN or by name). */
export function secretsManagerEmulator(secrets: LocalSecret[]): ServiceEmulator {
  const find = (id: string | undefined) => secrets.find((s) => s.arn === id || s.name === id);
  return async (request) => {
    const op = jsonTarget(request);
    const body = parseJson(request.body);
    const secret = find(str(body.SecretId));
    if (op !== 'GetSecretValue' && op !== 'DescribeSecret') {
      return jsonError(
        400,
        'UnknownOperationException',
        `no local emulation of secretsmanager:${op}`,
        JSON_11,
      );
    }
    if (!secret) {
      return jsonError(
        400,
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
        JSON_11,
      );
    }
    if (op === 'DescribeSecret') return jsonOk({ ARN: secret.arn, Name: secret.name }, JSON_11);
    return jsonOk(
      {
        ARN: secret.arn,
        Name: secret.name,
        SecretString: secret.secretString,
        VersionId: 'local',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: 0,
      },
      JSON_11,
    );
  };
}

/** What a Lambda invoke answers: the function's result, or its error as Lambda reports it. */
export type InvokeOutcome =
  | { ok: true; result: unknown }
  | { ok: false; errorType: string; errorMessage: string; trace?: string[] };

/** Lambda Invoke (RequestResponse) on the local Lambda service; a function error is a 200 with X-Amz-Function-Error. */
export function lambdaEmulator(
  invoke: (functionNameOrArn: string, event: unknown) => Promise<InvokeOutcome>,
): ServiceEmulator {
  return async (request): Promise<RawResponse> => {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(request.path);
    if (request.method !== 'POST' || !match?.[1]) {
      return {
        status: 404,
        headers: { 'x-amzn-errortype': 'ResourceNotFoundException', 'content-type': 'application/json' },
        body: JSON.stringify({
          Type: 'User',
          message: `no local emulation of ${request.method} ${request.path}`,
        }),
      };
    }
    const name = decodeURIComponent(match[1]);
    const event = JSON.parse(request.body.toString('utf8') || 'null') as unknown;
    const outcome = await invoke(name, event);
    if (outcome.ok) {
      return {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' },
        body: JSON.stringify(outcome.result ?? null),
      };
    }
    return {
      status: 200,
      headers: {
        'content-type': 'application/json',
        'x-amz-executed-version': '$LATEST',
        'x-amz-function-error': 'Unhandled',
      },
      body: JSON.stringify({
        errorType: outcome.errorType,
        errorMessage: outcome.errorMessage,
        ...(outcome.trace ? { trace: outcome.trace } : {}),
      }),
    };
  };
}

/** A local asymmetric signing key for one KMS key ARN (ECC_NIST_P256, SIGN_VERIFY). */
export interface LocalKmsKey {
  arn: string;
  privateKey: KeyObject;
}

/** A fresh P-256 key for `arn`; or the given PEM (a state directory keeps it across restarts). */
export function localKmsKey(arn: string, pem?: string): LocalKmsKey {
  const privateKey = pem
    ? createPrivateKey(pem)
    : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return { arn, privateKey };
}

/** KMS Sign (ECDSA_SHA_256, RAW or DIGEST) and GetPublicKey for the local keys, by key ARN or key id. */
export function kmsEmulator(keys: LocalKmsKey[]): ServiceEmulator {
  const find = (id: string | undefined) => keys.find((k) => k.arn === id || k.arn.endsWith(`/${id}`));
  return async (request) => {
    const op = jsonTarget(request);
    const body = parseJson(request.body);
    const key = find(str(body.KeyId));
    if (!key) return jsonError(400, 'NotFoundException', `Key '${str(body.KeyId)}' does not exist`, JSON_11);
    if (op === 'GetPublicKey') {
      const der = createPublicKey(key.privateKey).export({ type: 'spki', format: 'der' });
      return jsonOk(
        {
          KeyId: key.arn,
          PublicKey: der.toString('base64'),
          KeySpec: 'ECC_NIST_P256',
          KeyUsage: 'SIGN_VERIFY',
          SigningAlgorithms: ['ECDSA_SHA_256'],
        },
        JSON_11,
      );
    }
    if (op === 'Sign') {
      if (str(body.SigningAlgorithm) !== 'ECDSA_SHA_256') {
        return jsonError(400, 'InvalidKeyUsageException', 'only ECDSA_SHA_256 is emulated', JSON_11);
      }
      const message = Buffer.from(str(body.Message) ?? '', 'base64');
      const signature =
        str(body.MessageType) === 'DIGEST'
          ? signDigestP256(key.privateKey, message)
          : sign('sha256', message, { key: key.privateKey, dsaEncoding: 'der' });
      return jsonOk(
        { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' },
        JSON_11,
      );
    }
    return jsonError(400, 'UnknownOperationException', `no local emulation of kms:${op}`, JSON_11);
  };
}

/** A database the RDS API describes: an instance or a cluster, where it listens, its resource id. */
export interface LocalRdsDatabase {
  kind: 'instance' | 'cluster';
  id: string;
  address: string;
  port: number;
  /** DbiResourceId (instance) or DbClusterResourceId (cluster): what rds-db:connect ARNs name. */
  resourceId: string;
  engine: string;
}

function xml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * RDS DescribeDBInstances / DescribeDBClusters (the Query protocol, XML answers) over the given databases;
 * an unknown identifier is DBInstanceNotFound / DBClusterNotFoundFault (404), as RDS answers.
 */
export function rdsEmulator(
  databases: readonly LocalRdsDatabase[],
  region: string,
  account: string,
): ServiceEmulator {
  const respond = (action: string, body: string): RawResponse => ({
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<${action}Response xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><${action}Result>${body}</${action}Result><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  });
  const notFound = (code: string, message: string): RawResponse => ({
    status: 404,
    headers: { 'content-type': 'text/xml' },
    body: `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(message)}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`,
  });
  /** Each Describe call: the identifier it takes, the kind it lists, what RDS answers for an unknown one. */
  const describes: Record<
    string,
    {
      identifier: string;
      kind: LocalRdsDatabase['kind'];
      fault: string;
      noun: string;
      body: (db: LocalRdsDatabase) => string;
    }
  > = {
    DescribeDBInstances: {
      identifier: 'DBInstanceIdentifier',
      kind: 'instance',
      fault: 'DBInstanceNotFound',
      noun: 'DBInstance',
      body: (db) =>
        `<DBInstances><DBInstance><DBInstanceIdentifier>${xml(db.id)}</DBInstanceIdentifier><DBInstanceArn>arn:aws:rds:${region}:${account}:db:${xml(db.id)}</DBInstanceArn><Engine>${xml(db.engine)}</Engine><DBInstanceStatus>available</DBInstanceStatus><Endpoint><Address>${xml(db.address)}</Address><Port>${db.port}</Port></Endpoint><DbiResourceId>${xml(db.resourceId)}</DbiResourceId></DBInstance></DBInstances>`,
    },
    DescribeDBClusters: {
      identifier: 'DBClusterIdentifier',
      kind: 'cluster',
      fault: 'DBClusterNotFoundFault',
      noun: 'DBCluster',
      body: (db) =>
        `<DBClusters><DBCluster><DBClusterIdentifier>${xml(db.id)}</DBClusterIdentifier><DBClusterArn>arn:aws:rds:${region}:${account}:cluster:${xml(db.id)}</DBClusterArn><Engine>${xml(db.engine)}</Engine><Status>available</Status><Endpoint>${xml(db.address)}</Endpoint><Port>${db.port}</Port><DbClusterResourceId>${xml(db.resourceId)}</DbClusterResourceId></DBCluster></DBClusters>`,
    },
  };
  return async (request) => {
    const form = new URLSearchParams(request.body.toString('utf8') || request.query);
    const action = form.get('Action') ?? '';
    const call = Object.hasOwn(describes, action) ? describes[action] : undefined;
    if (call) {
      const id = form.get(call.identifier) ?? '';
      const db = databases.find((d) => d.kind === call.kind && d.id === id);
      if (!db) return notFound(call.fault, `${call.noun} ${id} not found.`);
      return respond(action, call.body(db));
    }
    return notFound('InvalidAction', `no local emulation of rds:${action}`);
  };
}
