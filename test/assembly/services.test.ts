/**
 * Assembly mode's service emulators, reached by the project's own AWS adapters through real SDK clients over
 * HTTP (the code the Lambda bundles run), behind a gatekeeper that only insists on a signature: the IAM
 * checks have their own tests. Step Functions runs the Workflow port's contract in
 * test/integration/workflow-contract.test.ts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../functions/adapters/dynamodb-client.js';
import { DynamoRequestStore } from '../../functions/adapters/dynamodb-requests.js';
import { createTables } from '../../functions/adapters/dynamodb-tables.js';
import { verifyEcdsaSha256 } from '../../functions/adapters/ecdsa.js';
import { KmsSigner } from '../../functions/adapters/kms-signer.js';
import { LambdaRevoker, RevokeInvokeError } from '../../functions/adapters/lambda-revoker.js';
import { RdsEndpointResolver } from '../../functions/adapters/rds-endpoint.js';
import { SecretsManagerAdminCredentials } from '../../functions/adapters/secrets-admin.js';
import { SesMailer } from '../../functions/adapters/ses-mailer.js';
import type { Email } from '../../functions/application/ports.js';
import { TargetUnavailableError } from '../../functions/domain/errors.js';
import type { Target } from '../../functions/domain/policy-schema.js';
import type { Identity } from '../../functions/domain/types.js';
import { type AwsEndpoint, type Gatekeeper, startAwsEndpoint } from '../../local/assembly/aws-endpoint.js';
import {
  dynamoDbEmulator,
  type InvokeOutcome,
  kmsEmulator,
  lambdaEmulator,
  localKmsKey,
  rdsEmulator,
  secretsManagerEmulator,
  sesV2Emulator,
} from '../../local/assembly/services.js';
import { services } from '../support/services.js';

const REGION = 'eu-west-1';
const credentials = { accessKeyId: 'AKIALOCALTEST', secretAccessKey: 'secret', sessionToken: 'session' };
const KEY_ARN = 'arn:aws:kms:eu-west-1:000000000000:key/6f1c0b5e-0000-4000-8000-000000000001';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:jitdb-local/orders-AbCdEf';
const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:000000000000:function:JitDbAccess-revoke';

/** Lets any signed request through: these tests are about the emulators, not IAM. */
const signedOnly: Gatekeeper = {
  async check(_service, request) {
    if (!request.headers.authorization?.startsWith('AWS4-HMAC-SHA256 ')) {
      return { response: { status: 403, headers: {}, body: 'unsigned' } };
    }
    return {
      caller: { accessKeyId: credentials.accessKeyId, roleArn: 'arn:aws:iam::000000000000:role/test' },
    };
  },
};

let endpoint: AwsEndpoint;
const outbox: Email[] = [];
const invocations: { name: string; event: unknown }[] = [];
let nextOutcome: InvokeOutcome = { ok: true, result: { revoked: true } };
const key = localKmsKey(KEY_ARN);
const calls: { service: string; allowed: boolean; status: number }[] = [];
const DAVE: Identity = { principal: 'dave@example.com', email: 'dave@example.com', via: 'iam' };

beforeAll(async () => {
  endpoint = await startAwsEndpoint({
    gatekeeper: signedOnly,
    onCall: (entry) => calls.push(entry),
    services: {
      dynamodb: dynamoDbEmulator(services().dynamodbEndpoint),
      ses: sesV2Emulator({ send: async (email) => void outbox.push(email) }),
      secretsmanager: secretsManagerEmulator([
        {
          arn: SECRET_ARN,
          name: 'jitdb-local/orders',
          secretString: JSON.stringify({ username: 'admin', password: 'pw', host: '127.0.0.1', port: 5432 }),
        },
      ]),
      lambda: lambdaEmulator(async (name, event) => {
        invocations.push({ name, event });
        return nextOutcome;
      }),
      kms: kmsEmulator([key]),
      rds: rdsEmulator(
        [
          {
            kind: 'instance',
            id: 'orders-db',
            address: '10.0.1.5',
            port: 5432,
            resourceId: 'db-ORDERS123',
            engine: 'postgres',
          },
          {
            kind: 'cluster',
            id: 'billing',
            address: 'billing.cluster-x.eu-west-1.rds.amazonaws.com',
            port: 3306,
            resourceId: 'cluster-BILL456',
            engine: 'aurora-mysql',
          },
        ],
        REGION,
        '000000000000',
      ),
    },
  });
});
afterAll(async () => endpoint?.close());

const client = { endpoint: '', region: REGION, credentials };
const config = () => ({ ...client, endpoint: endpoint.url });

describe('the local AWS endpoint', () => {
  it('routes by the signed service and refuses what is unsigned or unknown, as AWS does', async () => {
    const unsigned = await fetch(`${endpoint.url}/`, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(400);
    expect(await unsigned.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
    const unknown = await fetch(`${endpoint.url}/`, {
      method: 'POST',
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/20261129/eu-west-1/sqs/aws4_request' },
    });
    expect(await unknown.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });
});

describe('KMS', () => {
  it('signs a digest the way the audit-digest function asks, verifiable over the message with the public key', async () => {
    const signer = new KmsSigner({ client: new KMSClient(config()), keyId: KEY_ARN });
    const message = new TextEncoder().encode('{"heads":[]}');
    const signed = await signer.sign(message);
    expect(signed).toMatchObject({ keyId: KEY_ARN, algorithm: 'ECDSA_SHA_256' });
    expect(await signer.verify(message, signed.signature)).toBe(true);
    expect(await signer.verify(new TextEncoder().encode('{"heads":[1]}'), signed.signature)).toBe(false);
    const publicKey = (await import('node:crypto')).createPublicKey(key.privateKey);
    expect(verifyEcdsaSha256(publicKey, message, signed.signature)).toBe(true);
  });

  it('answers NotFoundException for a key it does not hold', async () => {
    const signer = new KmsSigner({ client: new KMSClient(config()), keyId: `${KEY_ARN}0` });
    await expect(signer.sign(new Uint8Array([1]))).rejects.toMatchObject({ name: 'NotFoundException' });
  });
});

describe('Secrets Manager', () => {
  const target = { id: 'orders', adminSecretArn: SECRET_ARN } as Target;

  it('serves the local admin login under the target’s secret ARN', async () => {
    const admin = new SecretsManagerAdminCredentials(new SecretsManagerClient(config()));
    expect(await admin.get(target)).toMatchObject({ username: 'admin', password: 'pw' });
  });

  it('answers ResourceNotFoundException for another secret, which the adapter reports as the target unavailable', async () => {
    const admin = new SecretsManagerAdminCredentials(new SecretsManagerClient(config()));
    const other = { ...target, adminSecretArn: `${SECRET_ARN}x` } as Target;
    const error = await admin.get(other).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnavailableError);
    expect(String((error as Error).cause)).toContain('ResourceNotFoundException');
  });
});

describe('SES v2', () => {
  it('puts what SesMailer sends into the outbox: recipients, subject, text and HTML', async () => {
    const mailer = new SesMailer(new SESv2Client(config()), 'jit-db-access@example.com');
    await mailer.send({ to: ['alice@example.com'], subject: 'Approve?', text: 'plain', html: '<p>html</p>' });
    expect(outbox.at(-1)).toEqual({
      to: ['alice@example.com'],
      subject: 'Approve?',
      text: 'plain',
      html: '<p>html</p>',
    });
  });
});

describe('Lambda Invoke', () => {
  it('invokes the named function with the revoker’s event and returns its result', async () => {
    nextOutcome = { ok: true, result: { revoked: true } };
    const revoker = new LambdaRevoker(new LambdaClient(config()), FUNCTION_ARN);
    await revoker.revokeEarly('01j9z3k4m5n6p7q8r9s0t1v2w3', DAVE);
    expect(invocations.at(-1)?.name).toBe(FUNCTION_ARN);
    expect(invocations.at(-1)?.event).toMatchObject({ requestId: '01j9z3k4m5n6p7q8r9s0t1v2w3' });
  });

  it('reports a function error as Lambda does (200, X-Amz-Function-Error), which the revoker maps by its type', async () => {
    nextOutcome = {
      ok: false,
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 30.00 seconds',
    };
    const revoker = new LambdaRevoker(new LambdaClient(config()), FUNCTION_ARN);
    const error = await revoker.revokeEarly('01j9z3k4m5n6p7q8r9s0t1v2w4', DAVE).catch((e) => e);
    expect(error).toBeInstanceOf(RevokeInvokeError);
    expect((error as RevokeInvokeError).errorType).toBe('Sandbox.Timedout');
  });
});

describe('RDS', () => {
  const resolver = () => new RdsEndpointResolver(() => new RDSClient(config()));
  const target = (connection: Target['connection']) => ({ id: 'orders', connection }) as Target;

  it('describes instances and clusters the way RdsEndpointResolver reads them: address, port, resource id', async () => {
    expect(await resolver().resolve(target({ rdsInstanceId: 'orders-db' }))).toEqual({
      host: '10.0.1.5',
      port: 5432,
      resourceId: 'db-ORDERS123',
    });
    expect(await resolver().resolve(target({ rdsClusterId: 'billing' }))).toEqual({
      host: 'billing.cluster-x.eu-west-1.rds.amazonaws.com',
      port: 3306,
      resourceId: 'cluster-BILL456',
    });
  });

  it('answers DBInstanceNotFound for another instance, which the resolver reports as the target unavailable', async () => {
    const error = await resolver()
      .resolve(target({ rdsInstanceId: 'nope' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnavailableError);
    expect(String((error as Error).cause)).toContain('DBInstanceNotFound');
  });
});

describe('DynamoDB', () => {
  it('passes checked requests through to DynamoDB Local: the request store works end to end', async () => {
    const raw = new DynamoDBClient(config());
    const tables = { requestsTable: `asm-${Date.now()}-requests`, auditTable: `asm-${Date.now()}-audit` };
    await createTables(raw, tables);
    const store = new DynamoRequestStore({ client: createDocumentClient(raw), ...tables });
    expect(await store.get('01j9z3k4m5n6p7q8r9s0t1v2w5')).toBeUndefined();
    expect(calls.filter((c) => c.service === 'dynamodb' && c.allowed).length).toBeGreaterThan(1);
  });
});
