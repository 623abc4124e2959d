import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessDeniedResponse, errorResponse, sigV4ErrorResponse } from '../../local/assembly/aws-errors.js';
import { type KeyLookup, verifySigV4 } from '../../local/assembly/sigv4-verify.js';
import { type CaptureEndpoint, startCaptureEndpoint } from './capture-endpoint.js';

const region = 'eu-west-1';
const credentials = { accessKeyId: 'ASIALOCAL', secretAccessKey: 'the-secret', sessionToken: 'the-token' };
const lookup: KeyLookup = (id) => (id === credentials.accessKeyId ? credentials : undefined);

let endpoint: CaptureEndpoint;
beforeAll(async () => {
  endpoint = await startCaptureEndpoint();
});
afterAll(async () => {
  await endpoint.close();
});

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const config = (c: Creds = credentials) => ({
  endpoint: endpoint.url,
  region,
  credentials: c,
  maxAttempts: 1,
});
const clients: { service: string; denied: string; send: (c?: Creds) => Promise<unknown> }[] = [
  {
    service: 'dynamodb',
    denied: 'AccessDeniedException',
    send: (c) =>
      new DynamoDBClient(config(c)).send(new GetItemCommand({ TableName: 'T', Key: { pk: { S: 'a' } } })),
  },
  {
    service: 'states',
    denied: 'AccessDeniedException',
    send: (c) =>
      new SFNClient(config(c)).send(
        new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:::stateMachine:S' }),
      ),
  },
  {
    service: 'secretsmanager',
    denied: 'AccessDeniedException',
    send: (c) => new SecretsManagerClient(config(c)).send(new GetSecretValueCommand({ SecretId: 's' })),
  },
  {
    service: 'kms',
    denied: 'AccessDeniedException',
    send: (c) => new KMSClient(config(c)).send(new GetPublicKeyCommand({ KeyId: 'k' })),
  },
  {
    service: 'ses',
    denied: 'AccessDeniedException',
    send: (c) =>
      new SESv2Client(config(c)).send(
        new SendEmailCommand({
          FromEmailAddress: 'jit@example.com',
          Destination: { ToAddresses: ['a@example.com'] },
          Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 'b' } } } },
        }),
      ),
  },
  {
    service: 'lambda',
    denied: 'AccessDeniedException',
    send: (c) => new LambdaClient(config(c)).send(new InvokeCommand({ FunctionName: 'f' })),
  },
  {
    service: 'rds',
    denied: 'AccessDenied',
    send: (c) =>
      new RDSClient(config(c)).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'db' })),
  },
];

async function thrown(p: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    const error = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: error.name, message: error.message, status: error.$metadata?.httpStatusCode };
  }
  throw new Error('the SDK call did not fail');
}

const message =
  'User: arn:aws:sts::111111111111:assumed-role/R/f is not authorized to perform: x:Y on resource: z';

describe('AccessDenied responses, read back by the real SDK clients', () => {
  for (const { service, denied, send } of clients) {
    it(`${service}: the SDK throws ${denied} with the message`, async () => {
      endpoint.respond(() => accessDeniedResponse(service, message, 'req-1'));
      const error = await thrown(send());
      expect(error).toEqual({
        name: denied,
        message,
        status: ['dynamodb', 'states', 'secretsmanager', 'kms'].includes(service) ? 400 : 403,
      });
    });
  }
});

describe('SigV4 failures, verified by the endpoint and read back by the real SDK clients', () => {
  /** The endpoint: verify the request; answer the failure in the service's protocol, or 200. */
  const verifyingEndpoint = (service: string, now = () => new Date()) =>
    endpoint.respond((req) => {
      const verified = verifySigV4(req, lookup, now());
      return verified.ok
        ? { status: 500, headers: {}, body: 'unexpected success' }
        : sigV4ErrorResponse(service, verified);
    });
  const json = new Set(['dynamodb', 'states', 'secretsmanager', 'kms']);
  const expected = (service: string, coral: string, query: string) =>
    service === 'rds' ? { name: query, status: 403 } : { name: coral, status: json.has(service) ? 400 : 403 };

  for (const { service, send } of clients) {
    it(`${service}: unknown key, wrong secret, wrong session token, expired signature`, async () => {
      verifyingEndpoint(service);
      const unknown = await thrown(send({ ...credentials, accessKeyId: 'AKIDUNKNOWN' }));
      expect(unknown).toMatchObject(expected(service, 'UnrecognizedClientException', 'InvalidClientTokenId'));
      expect(unknown.message).toBe('The security token included in the request is invalid.');
      const wrong = await thrown(send({ ...credentials, secretAccessKey: 'wrong' }));
      expect(wrong).toMatchObject(expected(service, 'InvalidSignatureException', 'SignatureDoesNotMatch'));
      expect(wrong.message).toMatch(/^The request signature we calculated does not match/);
      const token = await thrown(send({ ...credentials, sessionToken: 'stale' }));
      expect(token).toMatchObject(expected(service, 'UnrecognizedClientException', 'InvalidClientTokenId'));
      verifyingEndpoint(service, () => new Date(Date.now() + 10 * 60_000));
      const expired = await thrown(send());
      expect(expired).toMatchObject(expected(service, 'InvalidSignatureException', 'SignatureDoesNotMatch'));
      expect(expired.message).toMatch(/^Signature expired: /);
    });
  }

  it('dynamodb: a request with no Authorization header gets MissingAuthenticationTokenException', async () => {
    endpoint.respond(() =>
      sigV4ErrorResponse('dynamodb', {
        code: 'MissingAuthenticationToken',
        message: 'Request is missing Authentication Token',
      }),
    );
    expect(await thrown(clients[0]?.send() ?? Promise.resolve())).toMatchObject({
      name: 'MissingAuthenticationTokenException',
      message: 'Request is missing Authentication Token',
      status: 400,
    });
  });

  it('an unknown operation answers in the protocol (UnknownOperationException for JSON 1.0)', async () => {
    endpoint.respond(() =>
      errorResponse('dynamodb', {
        status: 400,
        code: 'UnknownOperationException',
        message: 'Unknown operation',
      }),
    );
    expect(await thrown(clients[0]?.send() ?? Promise.resolve())).toMatchObject({
      name: 'UnknownOperationException',
      status: 400,
    });
  });
});
