import {
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  QueryCommand,
  TransactGetItemsCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import {
  type ActionContext,
  iamCallsOf,
  rdsConnectCall,
  serviceOfRequest,
} from '../../local/assembly/iam-actions.js';
import { authorizeAll } from '../../local/assembly/iam-evaluate.js';
import type { PolicyDocument } from '../../local/assembly/model.js';
import { type SignedRequest, verifySigV4 } from '../../local/assembly/sigv4-verify.js';
import { useCaptureEndpoint } from './capture-endpoint.js';

const account = '111111111111';
const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'secret', sessionToken: 'tok' };
const sm = `arn:aws:states:${region}:${account}:stateMachine:JitWorkflow`;
const keyArn = `arn:aws:kms:${region}:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const secretArn = `arn:aws:secretsmanager:${region}:${account}:secret:db/admin-AbCdEf`;
const ctx: ActionContext = {
  account,
  region,
  stateMachineArnOfTaskToken: (t) => (t === 'known-token' ? sm : undefined),
  secretArnOf: (id) => (id === 'db/admin' || id === secretArn ? secretArn : undefined),
  keyArnOf: (id) => (id === 'alias/jit-audit' || id === keyArn ? keyArn : undefined),
  dbiResourceIdOf: (host, port) => (host === 'db.local' && port === 5432 ? 'db-ABCDEFGHIJKL' : undefined),
  sesIdentityOf: (address) => (address.endsWith('@example.com') ? 'example.com' : undefined),
};
const table = (t: string) => `arn:aws:dynamodb:${region}:${account}:table/${t}`;

const capture = useCaptureEndpoint(region, credentials);
const { config } = capture;

/** Sends one real SDK call, verifies its signature, and maps it to IAM calls. */
async function mapped(send: () => Promise<unknown>) {
  const before = capture.endpoint().requests.length;
  await send().catch(() => undefined);
  const req = capture.endpoint().requests[before] as SignedRequest;
  const verified = verifySigV4(req, () => credentials, new Date());
  if (!verified.ok) throw new Error(verified.message);
  return iamCallsOf(verified.service, req, ctx);
}
const actions = (r: Awaited<ReturnType<typeof mapped>>) =>
  r.ok ? r.calls.map((c) => `${c.action} ${c.resource}`) : [`${r.status} ${r.code}`];

describe('iamCallsOf: requests from the real SDK clients', () => {
  it('dynamodb: single-item, index, ARN table names, batch and transactions', async () => {
    const ddb = new DynamoDBClient(config());
    const key = { pk: { S: 'a' } };
    expect(
      actions(await mapped(() => ddb.send(new GetItemCommand({ TableName: 'Requests', Key: key })))),
    ).toEqual([`dynamodb:GetItem ${table('Requests')}`]);
    const q = new QueryCommand({
      TableName: table('Requests'),
      IndexName: 'byUser',
      KeyConditionExpression: 'u = :u',
    });
    expect(actions(await mapped(() => ddb.send(q)))).toEqual([
      `dynamodb:Query ${table('Requests')}/index/byUser`,
    ]);
    const batch = new BatchWriteItemCommand({
      RequestItems: { A: [{ PutRequest: { Item: key } }], B: [{ DeleteRequest: { Key: key } }] },
    });
    expect(actions(await mapped(() => ddb.send(batch)))).toEqual([
      `dynamodb:BatchWriteItem ${table('A')}`,
      `dynamodb:BatchWriteItem ${table('B')}`,
    ]);
    const tx = new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: 'A', Item: key } },
        { Update: { TableName: 'B', Key: key, UpdateExpression: 'SET x = :x' } },
        { Delete: { TableName: 'C', Key: key } },
        { ConditionCheck: { TableName: 'D', Key: key, ConditionExpression: 'attribute_exists(pk)' } },
      ],
    });
    expect(actions(await mapped(() => ddb.send(tx)))).toEqual([
      `dynamodb:PutItem ${table('A')}`,
      `dynamodb:UpdateItem ${table('B')}`,
      `dynamodb:DeleteItem ${table('C')}`,
      `dynamodb:ConditionCheckItem ${table('D')}`,
    ]);
    const tg = new TransactGetItemsCommand({ TransactItems: [{ Get: { TableName: 'A', Key: key } }] });
    expect(actions(await mapped(() => ddb.send(tg)))).toEqual([`dynamodb:GetItem ${table('A')}`]);
    expect(actions(await mapped(() => ddb.send(new ListTablesCommand({}))))).toEqual([
      'dynamodb:ListTables *',
    ]);
  });

  it('states: executions, and SendTask* on the token’s state machine (unknown token → *)', async () => {
    const sfn = new SFNClient(config());
    expect(
      actions(await mapped(() => sfn.send(new StartExecutionCommand({ stateMachineArn: sm, input: '{}' })))),
    ).toEqual([`states:StartExecution ${sm}`]);
    const exec = `arn:aws:states:${region}:${account}:execution:JitWorkflow:e1`;
    expect(
      actions(await mapped(() => sfn.send(new DescribeExecutionCommand({ executionArn: exec })))),
    ).toEqual([`states:DescribeExecution ${exec}`]);
    expect(
      actions(await mapped(() => sfn.send(new SendTaskFailureCommand({ taskToken: 'known-token' })))),
    ).toEqual([`states:SendTaskFailure ${sm}`]);
    expect(actions(await mapped(() => sfn.send(new SendTaskFailureCommand({ taskToken: 'other' }))))).toEqual(
      ['states:SendTaskFailure *'],
    );
  });

  it('ses v2: the sending identity (via the callback: the domain) and the configuration set', async () => {
    const ses = new SESv2Client(config());
    const send = new SendEmailCommand({
      FromEmailAddress: 'JIT <jit@example.com>',
      ConfigurationSetName: 'jit',
      Destination: { ToAddresses: ['a@x.org'] },
      Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 'b' } } } },
    });
    expect(actions(await mapped(() => ses.send(send)))).toEqual([
      `ses:SendEmail arn:aws:ses:${region}:${account}:identity/example.com`,
      `ses:SendEmail arn:aws:ses:${region}:${account}:configuration-set/jit`,
    ]);
  });

  it('secretsmanager, rds, lambda and kms name the resource IAM evaluates', async () => {
    const sm2 = new SecretsManagerClient(config());
    expect(
      actions(await mapped(() => sm2.send(new GetSecretValueCommand({ SecretId: 'db/admin' })))),
    ).toEqual([`secretsmanager:GetSecretValue ${secretArn}`]);
    expect(actions(await mapped(() => sm2.send(new DescribeSecretCommand({ SecretId: secretArn }))))).toEqual(
      [`secretsmanager:DescribeSecret ${secretArn}`],
    );
    const rds = new RDSClient(config());
    expect(
      actions(
        await mapped(() => rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'jit-db' }))),
      ),
    ).toEqual([`rds:DescribeDBInstances arn:aws:rds:${region}:${account}:db:jit-db`]);
    expect(
      actions(await mapped(() => rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'c1' })))),
    ).toEqual([`rds:DescribeDBClusters arn:aws:rds:${region}:${account}:cluster:c1`]);
    const lambda = new LambdaClient(config());
    const fn = `arn:aws:lambda:${region}:${account}:function:jit-grant`;
    expect(
      actions(await mapped(() => lambda.send(new InvokeCommand({ FunctionName: 'jit-grant' })))),
    ).toEqual([`lambda:InvokeFunction ${fn}`]);
    expect(
      actions(await mapped(() => lambda.send(new InvokeCommand({ FunctionName: fn, Qualifier: 'live' })))),
    ).toEqual([`lambda:InvokeFunction ${fn}:live`]);
    const kms = new KMSClient(config());
    const sign = new SignCommand({
      KeyId: 'alias/jit-audit',
      Message: Buffer.from('m'),
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect(actions(await mapped(() => kms.send(sign)))).toEqual([`kms:Sign ${keyArn}`]);
    expect(actions(await mapped(() => kms.send(new DescribeKeyCommand({ KeyId: 'alias/nope' }))))).toEqual([
      '400 NotFoundException',
    ]);
  });

  it('unknown services and operations are error values with AWS-like codes, not throws', () => {
    const req = (headers: Record<string, string>, body = '{}', path = '/'): SignedRequest => ({
      method: 'POST',
      path,
      query: '',
      headers,
      body: Buffer.from(body),
    });
    expect(
      iamCallsOf('dynamodb', req({ 'x-amz-target': 'DynamoDB_20120810.DeleteTable' }), ctx),
    ).toMatchObject({
      ok: false,
      status: 400,
      code: 'UnknownOperationException',
    });
    expect(
      iamCallsOf('dynamodb', req({ 'x-amz-target': 'DynamoDB_20120810.GetItem' }, '{nope'), ctx),
    ).toMatchObject({
      code: 'SerializationException',
    });
    expect(iamCallsOf('dynamodb', req({ 'x-amz-target': 'DynamoDB_20120810.GetItem' }), ctx)).toMatchObject({
      code: 'ValidationException',
    });
    expect(iamCallsOf('sqs', req({}), ctx)).toMatchObject({ code: 'UnknownOperationException' });
    expect(iamCallsOf('rds', req({}, 'Action=DeleteDBInstance'), ctx)).toMatchObject({
      code: 'InvalidAction',
    });
    expect(iamCallsOf('lambda', req({}, '', '/2015-03-31/functions'), ctx)).toMatchObject({ status: 404 });
  });
});

describe('serviceOfRequest', () => {
  it('names the service from the credential scope, or, unsigned, from X-Amz-Target, the path or Action', async () => {
    const before = capture.endpoint().requests.length;
    await new LambdaClient(config()).send(new InvokeCommand({ FunctionName: 'f' })).catch(() => undefined);
    const signed = capture.endpoint().requests[before] as SignedRequest;
    expect(serviceOfRequest(signed)).toBe('lambda');
    const unsigned = (headers: Record<string, string>, path = '/', body = ''): SignedRequest => ({
      method: 'POST',
      path,
      query: '',
      headers,
      body: Buffer.from(body),
    });
    expect(serviceOfRequest(unsigned({ 'x-amz-target': 'DynamoDB_20120810.GetItem' }))).toBe('dynamodb');
    expect(serviceOfRequest(unsigned({ 'x-amz-target': 'TrentService.Sign' }))).toBe('kms');
    expect(serviceOfRequest(unsigned({}, '/v2/email/outbound-emails'))).toBe('ses');
    expect(serviceOfRequest(unsigned({}, '/2015-03-31/functions/f/invocations'))).toBe('lambda');
    expect(serviceOfRequest(unsigned({}, '/', 'Action=DescribeDBInstances&Version=2014-10-31'))).toBe('rds');
    expect(serviceOfRequest(unsigned({}, '/nothing'))).toBeUndefined();
  });
});

describe('rdsConnectCall', () => {
  it('names the dbuser ARN from the instance resource id, and errs for an unknown instance', () => {
    const token = { region, host: 'db.local', port: 5432, dbUser: 'jit_alice' };
    expect(rdsConnectCall(token, ctx)).toEqual({
      ok: true,
      operation: 'connect',
      calls: [
        {
          service: 'rds-db',
          action: 'rds-db:connect',
          resource: `arn:aws:rds-db:${region}:${account}:dbuser:db-ABCDEFGHIJKL/jit_alice`,
        },
      ],
    });
    expect(rdsConnectCall({ ...token, port: 3306 }, ctx)).toMatchObject({ ok: false });
  });
});

describe('mapped calls against a CDK-shaped policy', () => {
  const policy: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: [table('Requests'), `${table('Requests')}/index/*`],
      },
    ],
  };
  const principal = { arn: `arn:aws:iam::${account}:role/GrantFnRole`, policies: [policy] };

  it('allows a Query on an index of the granted table; denies a transaction touching another table', async () => {
    const ddb = new DynamoDBClient(config());
    const q = await mapped(() =>
      ddb.send(
        new QueryCommand({ TableName: 'Requests', IndexName: 'byUser', KeyConditionExpression: 'u = :u' }),
      ),
    );
    expect(q.ok && (await authorizeAll(principal, q.calls))).toEqual({ allowed: true });
    const key = { pk: { S: 'a' } };
    const tx = await mapped(() =>
      ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: 'Requests', Item: key } },
            { Put: { TableName: 'Audit', Item: key } },
          ],
        }),
      ),
    );
    expect(tx.ok && (await authorizeAll(principal, tx.calls))).toMatchObject({
      allowed: false,
      action: 'dynamodb:PutItem',
      resource: table('Audit'),
    });
    const scan = await mapped(() => ddb.send(new QueryCommand({ TableName: 'Other', IndexName: 'byUser' })));
    expect(scan.ok && (await authorizeAll(principal, scan.calls))).toMatchObject({ allowed: false });
  });
});
