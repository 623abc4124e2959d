import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AppliedAcknowledgement, acknowledgeFindings } from '../../cdk/acknowledgements.js';
import { buildApp, type JitApp } from '../../cdk/app.js';
import { compliancePacks } from '../../cdk/compliance.js';
import { JitFunction } from '../../cdk/constructs/jit-function.js';
import { DATABASE_HANDLERS } from '../../cdk/function-needs.js';
import { FUNCTIONS } from '../../functions/function-registry.js';
import { ACCOUNT, REGION } from './fixture.js';

/**
 * The five cdk-nag packs (AwsSolutions, Serverless, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1) over the app,
 * by default and with every opt-in on: each raw finding must be acknowledged in cdk/compliance.ts, and each
 * acknowledgement must still match a raw finding (a stale one fails, so fixes retire their reasons).
 */

const VPC = {
  vpcId: 'vpc-0a1b2c3d4e5f67890',
  subnetIds: 'subnet-0aaa1111bbbb22223,subnet-0bbb3333cccc44445',
  vpcEndpoints: 'true',
  routeTableIds: 'rtb-0aaa5555dddd66667,rtb-0bbb7777eeee88889',
};
const OPT_INS = { ...VPC, wafRateLimit: '300', backupRetentionDays: '35', databaseConcurrency: '0' };

interface Checked extends JitApp {
  raw: string[];
  applied: string[];
  remaining: string[];
}

function findings(app: App): string[] {
  return compliancePacks().flatMap((pack) =>
    pack
      .validateScope(app)
      .violations.flatMap((v) =>
        v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}`),
      ),
  );
}
const line = (a: AppliedAcknowledgement) => `${a.rule} at ${a.path}`;

/** Builds without the acknowledgements, synthesizes (aspects run), reads the raw findings, then acknowledges. */
function check(context: Record<string, unknown>): Checked {
  const built = buildApp(context, { account: ACCOUNT, region: REGION }, { acknowledgeFindings: false });
  built.app.synth();
  const raw = findings(built.app);
  const applied = acknowledgeFindings(built.app).map(line);
  return { ...built, raw, applied, remaining: findings(built.app) };
}

const sorted = (list: string[]) => [...new Set(list)].sort();
const template = (stack: Stack) => Template.fromStack(stack).toJSON() as { Resources: Record<string, Res> };
interface Res {
  Type: string;
  Properties?: Record<string, unknown>;
}
const ofType = (stack: Stack, type: string) =>
  Object.entries(template(stack).Resources).filter(([, r]) => r.Type === type);
const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.resolve(stack.getLogicalId(construct.node.defaultChild as never)) as string;

let plain: Checked;
let optIns: Checked;
beforeAll(() => {
  plain = check({});
  optIns = check(OPT_INS);
}, 300_000);

describe.each([
  ['by default', () => plain],
  ['with WAF, a backup plan, the VPC and unreserved database functions', () => optIns],
])('the five cdk-nag packs %s', (_name, get) => {
  it('report something before the acknowledgements (the packs did run)', () => {
    expect(get().raw.length).toBeGreaterThan(0);
  });

  it('leave no finding unacknowledged', () => {
    expect(sorted(get().raw.filter((f) => !get().applied.includes(f)))).toEqual([]);
    expect(get().remaining).toEqual([]);
  });

  it('keep no stale acknowledgement (each one matches a finding on that resource)', () => {
    expect(sorted(get().applied.filter((a) => !get().raw.includes(a)))).toEqual([]);
  });
});

describe('what the packs asked for and the app now does', () => {
  it('encrypts every log group with the stack’s rotated key, which CloudWatch Logs may use for this account’s log groups only', () => {
    const stack = plain.stateless;
    const keyId = logicalId(stack, plain.stateless.access.logsKey);
    const groups = ofType(stack, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(plain.stateless.access.functions.length + 2);
    for (const [, group] of groups) {
      expect(group.Properties?.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    }
    const key = template(stack).Resources[keyId];
    expect(key?.Properties?.EnableKeyRotation).toBe(true);
    const statements =
      (key?.Properties?.KeyPolicy as { Statement: Record<string, unknown>[] } | undefined)?.Statement ?? [];
    const logs = statements.find((s) => s.Sid === 'CloudWatchLogsOfThisAccount');
    expect(logs?.Principal).toEqual({ Service: `logs.${REGION}.amazonaws.com` });
    expect(JSON.stringify(logs?.Condition)).toContain(`:logs:${REGION}:${ACCOUNT}:log-group:*`);
    expect(Object.keys(logs?.Condition as object)).toEqual(['ArnLike']);
  });

  it('gives every asynchronously invoked function its trigger’s dead-letter queue (alarmed), and no other function one', () => {
    const stack = plain.stateless;
    const resources = template(stack).Resources;
    const alarms = ofType(stack, 'AWS::CloudWatch::Alarm').map(([, a]) => JSON.stringify(a.Properties));
    for (const fn of plain.stateless.access.functions) {
      const config = resources[logicalId(stack, fn)]?.Properties?.DeadLetterConfig as
        | { TargetArn: { 'Fn::GetAtt': [string, string] } }
        | undefined;
      const kind = FUNCTIONS[fn.handlerName].kind;
      if (kind === 'schedule' || kind === 'event') {
        const queue = config?.TargetArn['Fn::GetAtt'][0] as string;
        expect(resources[queue]?.Type, fn.handlerName).toBe('AWS::SQS::Queue');
        // The same queue is the EventBridge target's: one queue, one alarm per trigger.
        const targets = ofType(stack, 'AWS::Events::Rule').flatMap(
          ([, r]) => r.Properties?.Targets as { Arn: unknown; DeadLetterConfig?: unknown }[],
        );
        const target = targets.find((t) => JSON.stringify(t.Arn).includes(logicalId(stack, fn)));
        expect(JSON.stringify(target?.DeadLetterConfig)).toContain(queue);
        expect(
          alarms.some((a) => a.includes(queue) && a.includes('ApproximateNumberOfMessagesVisible')),
        ).toBe(true);
      } else {
        expect(config, fn.handlerName).toBeUndefined();
      }
    }
  });

  it('refuses to build an asynchronously invoked function without a dead-letter queue', () => {
    const stack = new Stack(new App(), 'Bare');
    expect(
      () =>
        new JitFunction(stack, 'Sweeper', {
          handlerName: 'expiry-sweeper',
          policyFile: plain.config.policyFile,
        }),
    ).toThrow('expiry-sweeper is invoked asynchronously and needs a deadLetterQueue');
  });

  it('reserves 10 concurrent executions for each database function by default, none with databaseConcurrency=0', () => {
    const reserved = (c: Checked) =>
      Object.fromEntries(
        c.stateless.access.functions.map((fn) => [
          fn.handlerName,
          template(c.stateless).Resources[logicalId(c.stateless, fn)]?.Properties
            ?.ReservedConcurrentExecutions,
        ]),
      );
    const byDefault = reserved(plain);
    const optedOut = reserved(optIns);
    for (const fn of plain.stateless.access.functions) {
      const database = DATABASE_HANDLERS.includes(fn.handlerName);
      if (fn.handlerName === 'approval-links') {
        expect(byDefault[fn.handlerName]).toBe(5); // its own, against forged-link floods
      } else {
        expect(byDefault[fn.handlerName], fn.handlerName).toBe(database ? 10 : undefined);
        expect(optedOut[fn.handlerName], fn.handlerName).toBeUndefined();
      }
    }
  });

  it('puts every table in a daily AWS Backup plan with the asked retention when backupRetentionDays is set, and has none by default', () => {
    expect(ofType(plain.stateful, 'AWS::Backup::BackupPlan')).toEqual([]);
    const stack = optIns.stateful;
    const [plan] = ofType(stack, 'AWS::Backup::BackupPlan').map(([, p]) => p.Properties?.BackupPlan);
    expect(plan).toMatchObject({
      BackupPlanRule: [{ RuleName: 'daily', Lifecycle: { DeleteAfterDays: 35 } }],
    });
    const [selection] = ofType(stack, 'AWS::Backup::BackupSelection').map(
      ([, s]) => (s.Properties?.BackupSelection as { Resources: unknown[] } | undefined)?.Resources,
    );
    const tables = ofType(stack, 'AWS::DynamoDB::Table').map(([id]) => id);
    expect(tables.length).toBeGreaterThanOrEqual(3); // requests, audit, digests (and any table added later)
    expect(
      sorted((selection ?? []).map((r) => (r as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] ?? '')),
    ).toEqual(sorted(tables));
    const vault = ofType(stack, 'AWS::Backup::BackupVault');
    expect(vault).toHaveLength(1);
    expect((vault[0]?.[1] as { DeletionPolicy?: string } | undefined)?.DeletionPolicy).toBe('Retain');
  });
});
