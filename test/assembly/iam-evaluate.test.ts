import { describe, expect, it } from 'vitest';
import {
  assumedRoleArn,
  authorize,
  authorizeAll,
  deniedMessage,
  simulate,
} from '../../local/assembly/iam-evaluate.js';
import type { AwsCall, PolicyDocument } from '../../local/assembly/model.js';

const account = '111111111111';
const table = `arn:aws:dynamodb:eu-west-1:${account}:table/jit-requests`;
const stateMachine = `arn:aws:states:eu-west-1:${account}:stateMachine:JitWorkflow`;
const key = `arn:aws:kms:eu-west-1:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const roleArn = `arn:aws:iam::${account}:role/JitStack-GrantFnServiceRole-ABC123`;

/** Shaped like CDK's output for table.grantReadWriteData(fn), sfn.grantTaskResponse(fn), key.grant(fn, 'kms:Sign'). */
const cdkPolicy: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: [
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:DeleteItem',
        'dynamodb:DescribeTable',
        'dynamodb:GetItem',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:UpdateItem',
      ],
      Resource: [table, `${table}/index/*`],
    },
    {
      Effect: 'Allow',
      Action: ['states:SendTaskFailure', 'states:SendTaskHeartbeat', 'states:SendTaskSuccess'],
      Resource: stateMachine,
    },
    { Effect: 'Allow', Action: 'kms:Sign', Resource: key },
    { Effect: 'Allow', Action: 'ses:Send*', Resource: `arn:aws:ses:eu-west-1:${account}:identity/*` },
    {
      Effect: 'Allow',
      Action: 'rds-db:connect',
      Resource: `arn:aws:rds-db:eu-west-1:${account}:dbuser:db-ABCDEFGHIJKL/jit_*`,
    },
  ],
};
const denyDeletes: PolicyDocument = {
  Statement: { Effect: 'Deny', Action: 'dynamodb:Delete*', Resource: table },
};
const principal = { arn: roleArn, policies: [cdkPolicy] };
const call = (action: string, resource: string, context?: AwsCall['context']): AwsCall => ({
  service: action.split(':')[0] ?? '',
  action,
  resource,
  ...(context ? { context } : {}),
});

describe('authorize: identity policies shaped like CDK grants', () => {
  it('allows granted actions on the table and on any of its indexes', async () => {
    expect(await authorize(principal, call('dynamodb:UpdateItem', table))).toEqual({ allowed: true });
    expect(await authorize(principal, call('dynamodb:Query', `${table}/index/byRequester`))).toEqual({
      allowed: true,
    });
  });

  it('denies an action not granted, another table, and an index of another table', async () => {
    expect(await authorize(principal, call('dynamodb:CreateTable', table))).toEqual({
      allowed: false,
      reason: 'ImplicitlyDenied',
      action: 'dynamodb:CreateTable',
      resource: table,
    });
    const other = `arn:aws:dynamodb:eu-west-1:${account}:table/jit-audit`;
    expect(await authorize(principal, call('dynamodb:GetItem', other))).toMatchObject({ allowed: false });
    expect(await authorize(principal, call('dynamodb:Query', `${other}/index/byRequester`))).toMatchObject({
      allowed: false,
    });
  });

  it('an explicit Deny beats the Allow', async () => {
    const both = { arn: roleArn, policies: [cdkPolicy, denyDeletes] };
    expect(await authorize(both, call('dynamodb:DeleteItem', table))).toMatchObject({
      allowed: false,
      reason: 'ExplicitlyDenied',
    });
    expect(await authorize(both, call('dynamodb:PutItem', table))).toEqual({ allowed: true });
  });

  it('wildcards in actions and resources match (ses:Send*, identity/*, dbuser jit_*)', async () => {
    const identity = `arn:aws:ses:eu-west-1:${account}:identity/jit@example.com`;
    expect(await authorize(principal, call('ses:SendEmail', identity))).toEqual({ allowed: true });
    const user = (u: string) => `arn:aws:rds-db:eu-west-1:${account}:dbuser:db-ABCDEFGHIJKL/${u}`;
    expect(await authorize(principal, call('rds-db:connect', user('jit_alice')))).toEqual({ allowed: true });
    expect(await authorize(principal, call('rds-db:connect', user('admin')))).toMatchObject({
      allowed: false,
    });
  });

  it('evaluates conditions against the context the call carries', async () => {
    const leading: PolicyDocument = {
      Statement: [
        {
          Effect: 'Allow',
          Action: 'dynamodb:GetItem',
          Resource: table,
          Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['u1'] } },
        },
      ],
    };
    const p = { arn: roleArn, policies: [leading] };
    expect(await authorize(p, call('dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': ['u1'] }))).toEqual({
      allowed: true,
    });
    expect(
      await authorize(p, call('dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': ['u2'] })),
    ).toMatchObject({
      allowed: false,
    });
  });

  it('SendTask* is evaluated against the state machine although the simulator calls it wildcard-only', async () => {
    expect(await authorize(principal, call('states:SendTaskSuccess', stateMachine))).toEqual({
      allowed: true,
    });
    expect(await authorize(principal, call('states:SendTaskSuccess', `${stateMachine}Other`))).toMatchObject({
      allowed: false,
    });
  });

  it('kms: the default (CDK) key policy delegates to IAM; the key policy given replaces it', async () => {
    expect(await authorize(principal, call('kms:Sign', key))).toEqual({ allowed: true });
    expect(await authorize(principal, call('kms:Sign', key.replace('1234abcd', 'ffffffff')))).toMatchObject({
      allowed: false,
    });
    const lockedKeyPolicy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::222222222222:root' },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    };
    const locked = await simulate(principal, call('kms:Sign', key), { resourcePolicy: lockedKeyPolicy });
    expect(locked).toEqual({
      authorization: { allowed: false, reason: 'ImplicitlyDenied', action: 'kms:Sign', resource: key },
    });
  });

  it('fails closed, with the reason, on input the simulator refuses', async () => {
    const out = await simulate(principal, call('dynamodb:Frobnicate', table));
    expect(out.authorization).toMatchObject({ allowed: false, reason: 'ImplicitlyDenied' });
    expect(out.simulatorError).toContain('invalid.action');
  });

  it('authorizeAll: every resource must be allowed (a TransactWriteItems over two tables)', async () => {
    const other = `arn:aws:dynamodb:eu-west-1:${account}:table/jit-audit`;
    const calls = [call('dynamodb:PutItem', table), call('dynamodb:PutItem', other)];
    expect(await authorizeAll(principal, calls)).toMatchObject({ allowed: false, resource: other });
    expect(await authorizeAll(principal, calls.slice(0, 1))).toEqual({ allowed: true });
  });
});

describe('deniedMessage', () => {
  it("uses AWS's wording for implicit and explicit denials", () => {
    const caller = assumedRoleArn(roleArn, 'jit-grant');
    expect(caller).toBe(`arn:aws:sts::${account}:assumed-role/JitStack-GrantFnServiceRole-ABC123/jit-grant`);
    expect(deniedMessage(caller, { action: 'dynamodb:PutItem', resource: table }, 'ImplicitlyDenied')).toBe(
      `User: ${caller} is not authorized to perform: dynamodb:PutItem on resource: ${table} because no identity-based policy allows the dynamodb:PutItem action`,
    );
    expect(
      deniedMessage(caller, { action: 'dynamodb:DeleteItem', resource: table }, 'ExplicitlyDenied'),
    ).toBe(
      `User: ${caller} is not authorized to perform: dynamodb:DeleteItem on resource: ${table} with an explicit deny in an identity-based policy`,
    );
  });
});
