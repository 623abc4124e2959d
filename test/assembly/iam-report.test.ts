/**
 * Issue #14's least-privilege report: the scenario (local/assembly/scenario.ts) run once on an assembly
 * runtime, the report written to test-results/ by this run, and what it must show — no denied call, every
 * granted-never-used permission explained by the one reviewed list (and no stale entry), every function run,
 * and each function granted exactly the services FUNCTIONS[name].needs implies. The pure computation is
 * tested on a small hand-made model first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAsyncInvoked } from '../../cdk/constructs/jit-function.js';
import { FUNCTIONS, type FunctionName, type FunctionNeeds } from '../../functions/function-registry.js';
import type { RecordedCall } from '../../local/assembly/gatekeeper.js';
import {
  buildIamReport,
  iamMatches,
  renderMarkdown,
  reviewUnused,
  summarize,
} from '../../local/assembly/iam-report.js';
import { reportProblems, type WrittenReport, writeIamReport } from '../../local/assembly/iam-report-main.js';
import type { AssemblyModel } from '../../local/assembly/model.js';
import type { AssemblyRuntime } from '../../local/assembly/runtime.js';
import { runScenario, startScenarioRuntime } from '../../local/assembly/scenario.js';
import { UNUSED_PERMISSIONS } from '../../local/assembly/unused-permissions.js';

const TABLE = 'arn:aws:dynamodb:eu-west-1:000000000000:table/Requests';
const MACHINE = 'arn:aws:states:eu-west-1:000000000000:stateMachine:m';

const model: Pick<AssemblyModel, 'functions' | 'roles'> = {
  functions: [
    { logicalId: 'FnA', registryName: 'a', roleLogicalId: 'RoleA' },
    { logicalId: 'FnB', registryName: 'b', roleLogicalId: 'RoleB' },
  ] as AssemblyModel['functions'],
  roles: [
    {
      logicalId: 'RoleA',
      arn: 'arn:aws:iam::000000000000:role/a',
      managedPolicyArns: [],
      policies: [
        {
          name: 'Default',
          document: {
            Statement: [
              { Effect: 'Allow', Action: ['xray:PutTraceSegments'], Resource: '*' },
              {
                Effect: 'Allow',
                Action: ['dynamodb:GetItem', 'dynamodb:Query'],
                Resource: [TABLE, `${TABLE}/index/*`],
              },
              { Effect: 'Allow', Action: 'states:StartExecution', Resource: MACHINE },
            ],
          },
        },
      ],
    },
    {
      logicalId: 'RoleB',
      arn: 'arn:aws:iam::000000000000:role/b',
      managedPolicyArns: [],
      policies: [
        { name: 'Default', document: { Statement: { Effect: 'Allow', Action: 'ses:*', Resource: '*' } } },
      ],
    },
  ],
};

const call = (holder: string, action: string, resource: string, allowed = true): RecordedCall => ({
  holder,
  roleArn: 'arn:aws:iam::000000000000:role/x',
  action,
  resource,
  allowed,
});

describe('the least-privilege report, computed', () => {
  const calls = [
    call('FnA', 'dynamodb:GetItem', TABLE),
    call('FnA', 'dynamodb:GetItem', TABLE),
    call('FnA', 'dynamodb:Query', `${TABLE}/index/by-status`),
    call('FnA', 'dynamodb:PutItem', TABLE, false),
    call('FnB', 'ses:SendEmail', 'arn:aws:ses:eu-west-1:000000000000:identity/x'),
    call('alice@example.com', 'execute-api:Invoke', 'arn:aws:execute-api:x', false),
  ];
  const report = buildIamReport(model, calls);
  const a = report.functions[0];

  it('matches IAM wildcards, actions case-insensitively', () => {
    expect(iamMatches('dynamodb:Get*', 'DynamoDB:GetItem', true)).toBe(true);
    expect(iamMatches(`${TABLE}/index/*`, TABLE)).toBe(false);
    expect(iamMatches('arn:?', 'arn:x')).toBe(true);
    expect(iamMatches('a.b', 'axb')).toBe(false);
  });

  it('lists grants as actions × resources, attributes calls, and finds unused pairs and actions', () => {
    expect(a?.grants.map((g) => [g.action, g.resource, g.calls, g.notEmulated])).toEqual([
      ['xray:PutTraceSegments', '*', 0, true],
      ['dynamodb:GetItem', TABLE, 2, false],
      ['dynamodb:GetItem', `${TABLE}/index/*`, 0, false],
      ['dynamodb:Query', TABLE, 0, false],
      ['dynamodb:Query', `${TABLE}/index/*`, 1, false],
      ['states:StartExecution', MACHINE, 0, false],
    ]);
    expect(a?.used).toEqual([
      { action: 'dynamodb:GetItem', resource: TABLE, calls: 2, allowedBy: `dynamodb:GetItem on ${TABLE}` },
      {
        action: 'dynamodb:Query',
        resource: `${TABLE}/index/by-status`,
        calls: 1,
        allowedBy: `dynamodb:Query on ${TABLE}/index/*`,
      },
    ]);
    expect(a?.unusedActions).toEqual(['states:StartExecution']);
    expect(a?.unusedPairs).toHaveLength(3);
    expect(a?.denied.map((d) => d.action)).toEqual(['dynamodb:PutItem']);
    expect(a?.services).toEqual(['dynamodb', 'states', 'xray']);
    expect(report.denied).toHaveLength(2);
    expect(report.functions[1]?.unusedPairs).toEqual([]);
  });

  it('explains unused pairs from the reviewed list and reports stale entries', () => {
    const { unused, stale } = reviewUnused(report, {
      a: [
        { action: 'states:StartExecution', reason: 'not yet' },
        { action: 'dynamodb:GetItem', resource: '/index/*', reason: 'indexes are queried' },
        { action: 'dynamodb:Query', resource: '/index/*', reason: 'stale: it is used' },
      ],
      gone: [{ action: 'x:Y', reason: 'no function' }],
    });
    expect(unused.filter((u) => u.reason === undefined).map((u) => `${u.action} ${u.resource}`)).toEqual([
      `dynamodb:Query ${TABLE}`,
    ]);
    expect(stale.map((s) => `${s.registryName} ${s.entry.action} ${s.why}`)).toEqual([
      'a dynamodb:Query used',
      'gone x:Y no such function',
    ]);
    expect(summarize(report, unused)[0]).toEqual({
      registryName: 'a',
      granted: 6,
      used: 2,
      notEmulated: 1,
      unusedJustified: 2,
      unusedUnexplained: 1,
      denied: 1,
    });
    const markdown = renderMarkdown(report, unused);
    expect(markdown).toContain('| xray:PutTraceSegments | * | — | 0 | not emulated locally |');
    expect(markdown).toContain('**UNEXPLAINED**');
  });
});

/** The IAM services FUNCTIONS[name].needs implies, for password targets outside RDS (the scenario's policy). */
function servicesImplied(name: FunctionName): string[] {
  const needs: FunctionNeeds = FUNCTIONS[name].needs;
  const services = new Set(['dynamodb', 'logs', 'xray']);
  if (needs.mailer) services.add('ses');
  if (needs.workflow) services.add('states');
  // rds:Describe* only for RDS targets, rds-db:connect only for IAM-auth targets: the policy has neither.
  if (needs.database) services.add('secretsmanager');
  if (needs.revoker) services.add('lambda');
  if (needs.digests) services.add('kms');
  // Lambda sends what an asynchronous invocation could not process to the function's dead-letter queue.
  if (isAsyncInvoked(name)) services.add('sqs');
  return [...services].sort();
}

describe('the least-privilege report of the scenario', () => {
  let runtime: AssemblyRuntime | undefined;
  let written: WrittenReport;
  const logs: string[] = [];

  beforeAll(async () => {
    runtime = await startScenarioRuntime({ log: (line) => void logs.push(line) });
    await runScenario(runtime);
    written = writeIamReport(runtime);
  }, 600_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  it('shows no denied call and no unexplained or stale unused permission', () => {
    expect(written.report.denied).toEqual([]);
    expect(written.unused.filter((u) => u.reason === undefined)).toEqual([]);
    expect(written.stale).toEqual([]);
    expect(reportProblems(written)).toEqual([]);
    expect(written.report.functions.flatMap((f) => f.used.filter((u) => u.allowedBy === undefined))).toEqual(
      [],
    );
  });

  it('ran every function', () => {
    expect(written.report.functions.filter((f) => !f.ran).map((f) => f.registryName)).toEqual([]);
    expect(written.report.functions.map((f) => f.registryName).sort()).toEqual(Object.keys(FUNCTIONS).sort());
  });

  it('agrees with the template assertions: each function is granted the services its needs imply', () => {
    for (const fn of written.report.functions) {
      const name = fn.registryName as FunctionName;
      expect({ name, services: fn.services }).toEqual({ name, services: servicesImplied(name) });
      const states = fn.grants.filter((g) => g.action.startsWith('states:')).map((g) => g.action);
      const needs: FunctionNeeds = FUNCTIONS[name].needs;
      const workflow = needs.workflow;
      expect({ name, start: states.includes('states:StartExecution') }).toEqual({
        name,
        start: workflow?.start === true,
      });
      expect({ name, stop: states.includes('states:StopExecution') }).toEqual({
        name,
        stop: workflow?.stop === true,
      });
      const digests = needs.digests;
      expect({ name, sign: fn.grants.some((g) => g.action === 'kms:Sign') }).toEqual({
        name,
        sign: digests === 'sign',
      });
    }
  });

  it('lists only functions of the registry in the reviewed list', () => {
    for (const name of Object.keys(UNUSED_PERMISSIONS)) expect(Object.keys(FUNCTIONS)).toContain(name);
  });
});
