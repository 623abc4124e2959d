import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { configFromContext } from '../../cdk/config.js';
import { PolicyFileError } from '../../functions/shared/config.js';

const dir = mkdtempSync(join(tmpdir(), 'jitdb-cdk-config-'));
const policyWith = (maxDuration: string) => {
  const file = join(dir, `policy-${maxDuration}.yaml`);
  writeFileSync(
    file,
    [
      'version: 1',
      'targets:',
      '  - id: app-pg',
      '    engine: postgres',
      '    connection: { host: db.internal, port: 5433, resourceId: db-APPRESOURCE }',
      '    database: app',
      '    credentialKind: iam',
      '    levels:',
      '      read:',
      '        privileges: { roles: [pg_monitor] }',
      `        maxDuration: ${maxDuration}`,
      '        approvers: [alice@example.com]',
      '',
    ].join('\n'),
  );
  return file;
};
const configOf = (context: Record<string, unknown>) => configFromContext(new App({ context }).node);

describe('the deployment configuration', () => {
  it('refuses to synthesize an invalid policy file, naming each problem by path', () => {
    const file = policyWith('13h');
    expect(() => configOf({ policyFile: file })).toThrow(PolicyFileError);
    try {
      configOf({ policyFile: file });
    } catch (error) {
      expect((error as PolicyFileError).problems).toEqual([
        'targets[0].levels.read.maxDuration: must be ≤ 12h',
      ]);
    }
  });

  it('reads the policy and the context values, lists given as JSON arrays or comma-separated text', () => {
    const config = configOf({
      policyFile: policyWith('1h'),
      vpcId: 'vpc-1',
      subnetIds: 'subnet-a, subnet-b',
      targetSecurityGroupIds: ['sg-1'],
      targetResourceIds: '{"app-pg":"db-OVERRIDE"}',
      senderEmail: 'access@example.com',
    });
    expect(config.policy.targets.map((t) => t.id)).toEqual(['app-pg']);
    expect(config.vpc).toEqual({ vpcId: 'vpc-1', subnetIds: ['subnet-a', 'subnet-b'] });
    expect(config.targetSecurityGroupIds).toEqual(['sg-1']);
    expect(config.targetResourceIds).toEqual({ 'app-pg': 'db-OVERRIDE' });
    expect(config.senderEmail).toBe('access@example.com');
    expect(config.linkBaseUrl).toBeUndefined();
  });

  it('refuses a VPC without subnets and a link base URL that is not https', () => {
    expect(() => configOf({ policyFile: policyWith('1h'), vpcId: 'vpc-1' })).toThrow(
      'context vpcId needs subnetIds too (the private subnets the database functions run in)',
    );
    expect(() => configOf({ policyFile: policyWith('1h'), linkBaseUrl: 'http://x.example.com' })).toThrow(
      "context linkBaseUrl must be an https:// URL, got 'http://x.example.com'",
    );
  });

  it('reads VPC endpoints as a switch that needs the VPC and its route tables', () => {
    const vpc = { policyFile: policyWith('1h'), vpcId: 'vpc-1', subnetIds: 'subnet-a,subnet-b' };
    expect(configOf({ ...vpc, vpcEndpoints: 'true', routeTableIds: 'rtb-a,rtb-b' }).vpc).toEqual({
      vpcId: 'vpc-1',
      subnetIds: ['subnet-a', 'subnet-b'],
      endpoints: { routeTableIds: ['rtb-a', 'rtb-b'] },
    });
    expect(
      configOf({ ...vpc, vpcEndpoints: 'false', routeTableIds: 'rtb-a' }).vpc?.endpoints,
    ).toBeUndefined();
    expect(() => configOf({ ...vpc, vpcEndpoints: true })).toThrow(
      "context vpcEndpoints needs routeTableIds too (the subnets' route tables, for DynamoDB's gateway endpoint)",
    );
    expect(() =>
      configOf({ policyFile: policyWith('1h'), vpcEndpoints: true, routeTableIds: 'rtb-a' }),
    ).toThrow('context vpcEndpoints needs vpcId and subnetIds');
    expect(() => configOf({ ...vpc, vpcEndpoints: 'yes' })).toThrow(
      'context vpcEndpoints must be true or false',
    );
  });

  it("reads the admin secrets' KMS keys as ARNs and refuses anything else", () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(configOf({ policyFile: policyWith('1h'), adminSecretKeyArns: key }).adminSecretKeyArns).toEqual([
      key,
    ]);
    expect(configOf({ policyFile: policyWith('1h') }).adminSecretKeyArns).toEqual([]);
    expect(() =>
      configOf({ policyFile: policyWith('1h'), adminSecretKeyArns: 'alias/aws/secretsmanager' }),
    ).toThrow(
      "context adminSecretKeyArns: 'alias/aws/secretsmanager' is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
    );
  });

  it.each([
    {
      key: 'wafRateLimit',
      what: 'the WAF rate limit as a whole number of requests per 5 minutes, off by default',
      byDefault: undefined,
      read: [['300', 300]],
      bad: ['9', '1.5', 'lots', 3_000_000_000],
      refusal: /wafRateLimit must be a whole number/,
    },
    {
      key: 'backupRetentionDays',
      what: 'the backup retention as whole days, no backup plan by default',
      byDefault: undefined,
      read: [
        ['35', 35],
        [7, 7],
      ],
      bad: ['0', '1.5', 'forever', 40_000],
      refusal: /backupRetentionDays must be a whole number from 1 to 36500/,
    },
    {
      key: 'databaseConcurrency',
      what: 'the reserved concurrency per database function, 10 unless databaseConcurrency says otherwise',
      byDefault: 10,
      read: [
        ['0', 0],
        [25, 25],
      ],
      bad: ['-1', '2.5', 'many', 1001],
      refusal: /databaseConcurrency must be a whole number from 0 to 1000/,
    },
  ] as const)('reads $what', ({ key, byDefault, read, bad, refusal }) => {
    expect(configOf({})[key]).toBe(byDefault);
    for (const [given, value] of read) expect(configOf({ [key]: given })[key]).toBe(value);
    for (const value of bad) expect(() => configOf({ [key]: value })).toThrow(refusal);
  });

  it('defaults to the AWS example policy', () => {
    expect(configOf({}).policyFile).toMatch(/\/examples\/policy\.aws\.yaml$/);
  });
});
