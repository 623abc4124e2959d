import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ASL_PATH,
  EvaluatePolicyOutput,
  ExecuteStatementOutput,
  GrantOutput,
  RecordOutcomeInput,
  RevokeOutput,
} from '../../functions/application/workflow-io.js';
import { ASL_SUBSTITUTIONS, SUBSTITUTION_HANDLERS, TASK_STATES } from '../../functions/workflow-tasks.js';

interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: { FunctionName?: string };
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  Next?: string;
  Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; BackoffRate?: number; MaxAttempts?: number }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Choices?: { Variable?: string; StringEquals?: string; Next: string }[];
}
interface Asl {
  StartAt: string;
  QueryLanguage?: string;
  States: Record<string, AslState>;
}
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

// asl-validator ships CommonJS without types; it is the validator aws-local-stepfunctions runs too.
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;
const text = readFileSync(join(import.meta.dirname, '../..', ASL_PATH), 'utf8');
const asl = JSON.parse(text) as Asl;
const states = Object.entries(asl.States);
const tasks = states.filter(([, state]) => state.Type === 'Task');

function substituted(): unknown {
  let filled = text;
  for (const name of ASL_SUBSTITUTIONS) {
    filled = filled.replaceAll(
      `\${${name}}`,
      `arn:aws:lambda:eu-west-1:123456789012:function:jitdb-${SUBSTITUTION_HANDLERS[name]}`,
    );
  }
  return JSON.parse(filled);
}

describe('the access-request state machine definition', () => {
  it('is valid Amazon States Language once the function ARNs are substituted', () => {
    const result = aslValidator(substituted(), { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('uses exactly the placeholders listed in ASL_SUBSTITUTIONS', () => {
    const placeholders = new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]));
    expect([...placeholders].sort()).toEqual([...ASL_SUBSTITUTIONS].sort());
  });

  it('lists every Task state in TASK_STATES, each invoking the placeholder of its handler', () => {
    expect(tasks.map(([name]) => name).sort()).toEqual(Object.keys(TASK_STATES).sort());
    for (const [name, state] of tasks) {
      const spec = TASK_STATES[name as keyof typeof TASK_STATES];
      const resource = spec.callback ? state.Parameters?.FunctionName : state.Resource;
      const placeholder = ASL_SUBSTITUTIONS.find((s) => resource === `\${${s}}`);
      expect(placeholder, name).toBeDefined();
      expect(placeholder && SUBSTITUTION_HANDLERS[placeholder], name).toBe(spec.handler);
    }
  });

  it('gives every Task an explicit timeout (the local runner defaults to 60 s, AWS to a year)', () => {
    for (const [name, state] of tasks) {
      expect(state.TimeoutSeconds !== undefined || state.TimeoutSecondsPath !== undefined, name).toBe(true);
    }
  });

  it('bounds the approval wait by the approval window and catches its timeout', () => {
    const approval = asl.States.RequestApproval;
    expect(approval?.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(approval?.TimeoutSecondsPath).toBe('$.evaluation.approvalWindowSeconds');
    expect(approval?.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'RecordApprovalExpired' },
      { ErrorEquals: ['Denied', 'Cancelled'], ResultPath: '$.error', Next: 'ApprovalClosed' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ApprovalStepFailed' },
    ]);
  });

  it('never retries a decision, retries conflicts, and keeps a request whose approval step failed live', () => {
    const approval = asl.States.RequestApproval;
    expect(approval?.Retry?.[0]).toEqual({ ErrorEquals: ['Denied', 'Cancelled'], MaxAttempts: 0 });
    expect(approval?.Retry?.[1]?.ErrorEquals).toContain('ConflictError');
    // Not a Fail and not RecordApprovalExpired: wait, then evaluate again (fresh token, or EXPIRED past the deadline).
    expect(asl.States.ApprovalStepFailed).toMatchObject({ Type: 'Wait', Next: 'EvaluatePolicy' });
    const route = asl.States.RouteDecision?.Choices?.find((c) => c.StringEquals === 'window-closed');
    expect(route?.Next).toBe('RecordApprovalExpired');
  });

  it('retries every Lambda task on the invoke errors Lambda documents as transient, client timeouts included', () => {
    for (const [name, state] of tasks) {
      const errors = (state.Retry ?? []).flatMap((r) => r.ErrorEquals);
      for (const transient of [
        'Lambda.ServiceException',
        'Lambda.AWSLambdaException',
        'Lambda.SdkClientException',
        'Lambda.TooManyRequestsException',
        'Lambda.ClientExecutionTimeoutException',
      ]) {
        expect(errors, `${name} retries ${transient}`).toContain(transient);
      }
    }
  });

  it('retries Grant on an unavailable target with backoff 2 s × 2, 4 attempts, full jitter', () => {
    const retry = asl.States.Grant?.Retry?.[0];
    expect(retry).toMatchObject({
      IntervalSeconds: 2,
      BackoffRate: 2,
      MaxAttempts: 4,
      JitterStrategy: 'FULL',
    });
    expect(retry?.ErrorEquals).toContain('TargetUnavailableError');
    expect(retry?.ErrorEquals).toContain('Lambda.ServiceException');
    expect(asl.States.Grant?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordGrantFailed' },
    ]);
    expect(asl.States.RecordGrantFailed?.Next).toBe('GrantFailed');
    expect(asl.States.GrantFailed?.Type).toBe('Fail');
  });

  it('runs an approved statement request once instead of granting it, and its output carries no rows', () => {
    const route = asl.States.RouteDecision?.Choices?.[0] as unknown as { And: unknown[]; Next: string };
    expect(route).toEqual({
      And: [
        { Variable: '$.evaluation.decision', StringEquals: 'auto-approved' },
        { Variable: '$.evaluation.kind', StringEquals: 'statement' },
      ],
      Next: 'ExecuteStatement',
    });
    expect(asl.States.RouteDecision?.Choices?.[1]).toEqual({
      And: [
        { Variable: '$.evaluation.decision', StringEquals: 'needs-approval' },
        { Variable: '$.evaluation.kind', StringEquals: 'statement' },
      ],
      Next: 'ExplainStatement',
    });
    // The plans are best effort: approval is asked for whatever happens to them.
    expect(asl.States.ExplainStatement).toMatchObject({
      Type: 'Task',
      Parameters: { 'requestId.$': '$.requestId', explain: true },
      ResultPath: null,
      Next: 'RequestApproval',
    });
    expect(asl.States.ExplainStatement?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'RequestApproval' },
    ]);
    expect(asl.States.RequestApproval?.Next).toBe('RouteApproved');
    expect(asl.States.RouteApproved).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.evaluation.kind', StringEquals: 'statement', Next: 'ExecuteStatement' }],
      Default: 'Grant',
    });
    expect(asl.States.ExecuteStatement).toMatchObject({
      Type: 'Task',
      Resource: `\${ExecuteStatementFunctionArn}`,
      Parameters: { 'requestId.$': '$.requestId' },
      Next: 'StatementSettled',
    });
    expect(asl.States.ExecuteStatement?.Retry?.[0]?.ErrorEquals).toContain('TargetUnavailableError');
    expect(asl.States.ExecuteStatement?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordGrantFailed' },
    ]);
    expect(ExecuteStatementOutput.safeParse({ status: 'EXECUTED', rows: [[1]] }).data).toEqual({
      status: 'EXECUTED',
    });
  });

  it('hands a revoke whose retries are spent to the sweeper instead of failing the execution', () => {
    expect(asl.States.Revoke?.Retry?.[0]?.ErrorEquals).toContain('TargetUnavailableError');
    expect(asl.States.Revoke?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordRevokeFailed' },
    ]);
    expect(asl.States.RecordRevokeFailed?.Next).toBe('RevokeHandedToSweeper');
  });

  it('uses JSONPath only: no JSONata, Variables, Assign or Arguments anywhere', () => {
    const found: string[] = [];
    const visit = (value: unknown, at: string): void => {
      if (typeof value === 'string' && value.trim().startsWith('{%')) found.push(`${at}: JSONata expression`);
      if (typeof value !== 'object' || value === null) return;
      for (const [key, child] of Object.entries(value)) {
        if (['QueryLanguage', 'Assign', 'Arguments', 'Output', 'Variables'].includes(key))
          found.push(`${at}.${key}`);
        visit(child, `${at}.${key}`);
      }
    };
    visit(asl, '$');
    expect(found).toEqual([]);
  });
});

describe('the task payload schemas', () => {
  it('accept the results the handlers return', () => {
    expect(
      EvaluatePolicyOutput.parse({ decision: 'needs-approval', kind: 'window', approvalWindowSeconds: 3600 }),
    ).toEqual({
      decision: 'needs-approval',
      kind: 'window',
      approvalWindowSeconds: 3600,
    });
    expect(GrantOutput.parse({ status: 'ACTIVE', expiresAt: '2030-01-01T10:00:00.000Z' })).toEqual({
      status: 'ACTIVE',
      expiresAt: '2030-01-01T10:00:00.000Z',
    });
    expect(RevokeOutput.parse({ revoked: false, expiresAt: '2030-01-01T11:00:00Z' }).expiresAt).toBe(
      '2030-01-01T11:00:00Z',
    );
  });

  it('refuse an approval window that Step Functions could not use as TimeoutSecondsPath', () => {
    expect(
      EvaluatePolicyOutput.safeParse({ decision: 'closed', kind: 'window', approvalWindowSeconds: 0 })
        .success,
    ).toBe(false);
    expect(
      EvaluatePolicyOutput.safeParse({ decision: 'closed', kind: 'window', approvalWindowSeconds: 1.5 })
        .success,
    ).toBe(false);
  });

  it('refuse a request id that is not a lowercase ULID', () => {
    expect(
      RecordOutcomeInput.safeParse({ requestId: '01HZZZZZZZZZZZZZZZZZZZZZZZ', outcome: 'grant-failed' })
        .success,
    ).toBe(false);
    expect(
      RecordOutcomeInput.parse({
        requestId: '01hzzzzzzzzzzzzzzzzzzzzzzz',
        outcome: 'grant-failed',
        error: { Error: 'TargetUnavailableError', Cause: '{}' },
      }).error,
    ).toEqual({ Error: 'TargetUnavailableError', Cause: '{}' });
  });
});
