import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { Signer } from '@aws-sdk/rds-signer';
import { describe, expect, it } from 'vitest';
import {
  type KeyLookup,
  type SignedRequest,
  verifyRdsAuthToken,
  verifySigV4,
} from '../../local/assembly/sigv4-verify.js';
import { useCaptureEndpoint } from './capture-endpoint.js';

const credentials = {
  accessKeyId: 'ASIALOCALTESTKEY0001',
  secretAccessKey: 'local/secret+key=0001',
  sessionToken: 'session-token-0001',
};
const lookup: KeyLookup = (id) =>
  id === credentials.accessKeyId
    ? { secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken }
    : undefined;
const region = 'eu-west-1';
const fnArn = 'arn:aws:lambda:eu-west-1:111111111111:function:jit-grant';

const suite = useCaptureEndpoint(region, credentials);

const { config } = suite;
const rdsXml = () => ({
  status: 200,
  headers: { 'content-type': 'text/xml' },
  body: '<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances/></DescribeDBInstancesResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeDBInstancesResponse>',
});

/** Each real client makes one call; the request it sent is what the endpoint captured. */
const calls: { service: string; send: () => Promise<unknown> }[] = [
  {
    service: 'dynamodb',
    send: () =>
      new DynamoDBClient(config()).send(
        new GetItemCommand({ TableName: 'Requests', Key: { pk: { S: 'a b/ü' } } }),
      ),
  },
  {
    service: 'states',
    send: () => new SFNClient(config()).send(new SendTaskSuccessCommand({ taskToken: 'tok', output: '{}' })),
  },
  {
    service: 'ses',
    send: () =>
      new SESv2Client(config()).send(
        new SendEmailCommand({
          FromEmailAddress: 'jit@example.com',
          Destination: { ToAddresses: ['a@example.com'] },
          Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 'b' } } } },
        }),
      ),
  },
  {
    service: 'secretsmanager',
    send: () => new SecretsManagerClient(config()).send(new GetSecretValueCommand({ SecretId: 'db/admin' })),
  },
  {
    service: 'rds',
    send: () => {
      suite.endpoint().respond(rdsXml);
      return new RDSClient(config()).send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'jit-db-1' }),
      );
    },
  },
  {
    service: 'lambda',
    send: () =>
      new LambdaClient(config()).send(
        new InvokeCommand({ FunctionName: fnArn, Qualifier: 'live', Payload: Buffer.from('{"a":1}') }),
      ),
  },
  {
    service: 'kms',
    send: () =>
      new KMSClient(config()).send(
        new SignCommand({ KeyId: 'alias/jit', Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' }),
      ),
  },
];

async function capture(send: () => Promise<unknown>): Promise<SignedRequest> {
  suite
    .endpoint()
    .respond(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{}' }));
  const before = suite.endpoint().requests.length;
  await send().catch(() => undefined);
  const req = suite.endpoint().requests[before];
  if (!req) throw new Error('no request captured');
  return req;
}

const at = (req: SignedRequest) => {
  const d = String(req.headers['x-amz-date']);
  return new Date(
    Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13)),
  );
};

describe('verifySigV4 against requests signed by the real SDK clients', () => {
  for (const { service, send } of calls) {
    it(`${service}: accepts the genuine request and rejects each tampering with AWS's code`, async () => {
      const req = await capture(send);
      const now = at(req);
      const ok = verifySigV4(req, lookup, now);
      expect(ok).toMatchObject({ ok: true, accessKeyId: credentials.accessKeyId, region, service });

      if (req.body.length > 0) {
        const body = Buffer.from(req.body);
        body[body.length - 2] = (body[body.length - 2] ?? 0) ^ 1;
        expect(verifySigV4({ ...req, body }, lookup, now)).toMatchObject({
          ok: false,
          code: 'SignatureDoesNotMatch',
        });
      }
      const host = { ...req.headers, host: '127.0.0.2:1' };
      expect(verifySigV4({ ...req, headers: host }, lookup, now)).toMatchObject({
        code: 'SignatureDoesNotMatch',
      });
      expect(verifySigV4({ ...req, path: `${req.path}x` }, lookup, now)).toMatchObject({
        code: 'SignatureDoesNotMatch',
      });
      const wrongSecret: KeyLookup = (id) => ({ ...lookup(id), secretAccessKey: 'nope' });
      expect(verifySigV4(req, wrongSecret, now)).toMatchObject({ code: 'SignatureDoesNotMatch' });
      expect(verifySigV4(req, () => undefined, now)).toMatchObject({ code: 'InvalidClientTokenId' });
      const otherSession: KeyLookup = (id) => ({
        secretAccessKey: credentials.secretAccessKey,
        sessionToken: `${id}x`,
      });
      expect(verifySigV4(req, otherSession, now)).toMatchObject({ code: 'InvalidClientTokenId' });
      const later = new Date(now.getTime() + 6 * 60_000);
      expect(verifySigV4(req, lookup, later)).toMatchObject({ code: 'RequestExpired' });
      expect(verifySigV4(req, lookup, new Date(now.getTime() + 4 * 60_000)).ok).toBe(true);
      const { authorization: _, ...unsigned } = req.headers;
      expect(verifySigV4({ ...req, headers: unsigned }, lookup, now)).toMatchObject({
        code: 'MissingAuthenticationToken',
      });
      const incomplete = {
        ...req.headers,
        authorization: String(req.headers.authorization).replace(/Signature=.*/, ''),
      };
      expect(verifySigV4({ ...req, headers: incomplete }, lookup, now)).toMatchObject({
        code: 'IncompleteSignature',
      });
    });
  }

  it('lambda: the ARN in the path is signed double-encoded, and the raw path verifies as received', async () => {
    const req = await capture(calls.find((c) => c.service === 'lambda')?.send ?? (async () => undefined));
    expect(req.path).toContain('arn%3Aaws%3Alambda');
    expect(req.query).toBe('Qualifier=live');
    expect(verifySigV4(req, lookup, at(req)).ok).toBe(true); // fails if the path is not encoded a second time
    expect(verifySigV4({ ...req, query: 'Qualifier=dead' }, lookup, at(req))).toMatchObject({
      code: 'SignatureDoesNotMatch',
    });
  });

  it('rds: the form-encoded query-protocol body is covered by the signature', async () => {
    const req = await capture(calls.find((c) => c.service === 'rds')?.send ?? (async () => undefined));
    expect(req.body.toString()).toContain('Action=DescribeDBInstances');
    const body = Buffer.from(req.body.toString().replace('jit-db-1', 'jit-db-2'));
    expect(verifySigV4({ ...req, body }, lookup, at(req))).toMatchObject({ code: 'SignatureDoesNotMatch' });
  });

  it('honours x-amz-content-sha256, including UNSIGNED-PAYLOAD, and rejects a declared hash the body lacks', async () => {
    const req = await capture(calls[0]?.send ?? (async () => undefined));
    const wrongHash = { ...req.headers, 'x-amz-content-sha256': '0'.repeat(64) };
    expect(verifySigV4({ ...req, headers: wrongHash }, lookup, at(req))).toMatchObject({
      code: 'SignatureDoesNotMatch',
    });
    // A client that signs UNSIGNED-PAYLOAD: the body is then not covered.
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const { Sha256 } = await import('@aws-crypto/sha256-js');
    const signer = new SignatureV4({ credentials, region, service: 'dynamodb', sha256: Sha256 });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: '/',
      query: {},
      headers: { host: '127.0.0.1', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      body: '{"a":1}',
    });
    const headers = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const unsignedReq = { method: 'POST', path: '/', query: '', headers, body: Buffer.from('{"b":2}') };
    expect(verifySigV4(unsignedReq, lookup, new Date())).toMatchObject({ ok: true });
  });
});

describe('verifyRdsAuthToken', () => {
  const hostname = 'jit-db-1.abc.eu-west-1.rds.amazonaws.com';
  const mint = () =>
    new Signer({ hostname, port: 5432, region, username: 'jit_alice', credentials }).getAuthToken();

  it('verifies a token minted by @aws-sdk/rds-signer and names the user, host, port and region', async () => {
    const token = await mint();
    expect(token.startsWith(`${hostname}:5432/?`)).toBe(true);
    expect(verifyRdsAuthToken(token, lookup, new Date())).toMatchObject({
      ok: true,
      accessKeyId: credentials.accessKeyId,
      dbUser: 'jit_alice',
      host: hostname,
      port: 5432,
      region,
    });
  });

  it('rejects a token for another user, another port, an unknown key, or one past its 15 minutes', async () => {
    const token = await mint();
    expect(verifyRdsAuthToken(token.replace('jit_alice', 'jit_admin'), lookup, new Date())).toMatchObject({
      code: 'SignatureDoesNotMatch',
    });
    expect(verifyRdsAuthToken(token.replace(':5432/', ':3306/'), lookup, new Date())).toMatchObject({
      code: 'SignatureDoesNotMatch',
    });
    expect(verifyRdsAuthToken(token, () => undefined, new Date())).toMatchObject({
      code: 'InvalidClientTokenId',
    });
    expect(verifyRdsAuthToken(token, lookup, new Date(Date.now() + 16 * 60_000))).toMatchObject({
      code: 'RequestExpired',
    });
    expect(verifyRdsAuthToken(token, lookup, new Date(Date.now() + 14 * 60_000)).ok).toBe(true);
    expect(verifyRdsAuthToken('not a token', lookup, new Date())).toMatchObject({ ok: false });
    const stripped = token.replace(/&X-Amz-Signature=[0-9a-f]+/, '');
    expect(verifyRdsAuthToken(stripped, lookup, new Date())).toMatchObject({ code: 'IncompleteSignature' });
  });
});
