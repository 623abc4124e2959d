import { describe, expect, it } from 'vitest';
import { gatewayResponse } from '../../../local/assembly/api-gateway.js';
import { matchesPattern, rateMs, startEventRules } from '../../../local/assembly/event-rules.js';
import type { EventRuleModel } from '../../../local/assembly/model.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:000000000000:stateMachine:JitDbAccess-access-request';
/** The execution-ended rule's pattern, as the template has it. */
const executionEnded = {
  source: ['aws.states'],
  'detail-type': ['Step Functions Execution Status Change'],
  detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [STATE_MACHINE] },
};
const statusChange = (status: string, stateMachineArn = STATE_MACHINE) => ({
  source: 'aws.states',
  'detail-type': 'Step Functions Execution Status Change',
  detail: { status, stateMachineArn, executionArn: `${stateMachineArn}:x` },
});

describe('EventBridge pattern matching', () => {
  it('matches the execution-ended rule for FAILED, TIMED_OUT and ABORTED of our state machine only', () => {
    for (const status of ['FAILED', 'TIMED_OUT', 'ABORTED']) {
      expect(matchesPattern(executionEnded, statusChange(status))).toBe(true);
    }
    expect(matchesPattern(executionEnded, statusChange('SUCCEEDED'))).toBe(false);
    expect(matchesPattern(executionEnded, statusChange('FAILED', `${STATE_MACHINE}-other`))).toBe(false);
    expect(matchesPattern(executionEnded, { ...statusChange('FAILED'), source: 'aws.events' })).toBe(false);
    expect(matchesPattern(executionEnded, { source: 'aws.states' })).toBe(false);
  });

  it('knows prefix, anything-but and exists filters', () => {
    expect(matchesPattern({ a: [{ prefix: 'arn:aws:states' }] }, { a: STATE_MACHINE })).toBe(true);
    expect(matchesPattern({ a: [{ 'anything-but': ['x'] }] }, { a: 'y' })).toBe(true);
    expect(matchesPattern({ a: [{ 'anything-but': ['x'] }] }, { a: 'x' })).toBe(false);
    expect(matchesPattern({ a: [{ exists: false }] }, {})).toBe(true);
    expect(matchesPattern({ a: [{ exists: true }] }, {})).toBe(false);
  });
});

describe('EventBridge schedules', () => {
  it('reads rate expressions and refuses what it cannot run', () => {
    expect(rateMs('rate(1 minute)')).toBe(60_000);
    expect(rateMs('rate(5 minutes)')).toBe(300_000);
    expect(rateMs('rate(2 hours)')).toBe(7_200_000);
    expect(() => rateMs('cron(0 12 * * ? *)')).toThrow(/unsupported schedule/);
  });

  it('invokes a schedule rule’s target with a Scheduled Event naming the rule, and pattern rules only on a match', async () => {
    const rules: EventRuleModel[] = [
      {
        logicalId: 'SweepRule',
        arn: 'arn:aws:events:eu-west-1:000000000000:rule/SweepRule',
        scheduleExpression: 'rate(1 minute)',
        state: 'ENABLED',
        targets: [{ functionLogicalId: 'Sweeper' }],
      },
      {
        logicalId: 'EndedRule',
        arn: 'arn:aws:events:eu-west-1:000000000000:rule/EndedRule',
        eventPattern: executionEnded,
        state: 'ENABLED',
        targets: [{ functionLogicalId: 'StatusChange' }],
      },
      {
        logicalId: 'Off',
        arn: 'arn:aws:events:eu-west-1:000000000000:rule/Off',
        scheduleExpression: 'rate(1 minute)',
        state: 'DISABLED',
        targets: [{ functionLogicalId: 'Never' }],
      },
    ];
    const calls: { fn: string; event: Record<string, unknown> }[] = [];
    const running = startEventRules({
      rules,
      region: 'eu-west-1',
      account: '000000000000',
      invoke: async (fn, event) => void calls.push({ fn, event: event as Record<string, unknown> }),
      onError: (error) => {
        throw error;
      },
    });
    try {
      await running.runSchedule('SweepRule');
      await expect(running.runSchedule('Off')).rejects.toThrow(/no enabled schedule rule/);
      await running.publish(statusChange('SUCCEEDED'));
      await running.publish(statusChange('ABORTED'));
      expect(calls.map((c) => c.fn)).toEqual(['Sweeper', 'StatusChange']);
      expect(calls[0]?.event).toMatchObject({
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        resources: ['arn:aws:events:eu-west-1:000000000000:rule/SweepRule'],
      });
      expect(calls[1]?.event).toMatchObject({ detail: { status: 'ABORTED' } });
    } finally {
      await running.stop();
    }
  });

  it('retries a failed target once, then reports it', async () => {
    let attempts = 0;
    const errors: string[] = [];
    const running = startEventRules({
      rules: [
        {
          logicalId: 'R',
          arn: 'arn:aws:events:eu-west-1:000000000000:rule/R',
          eventPattern: { source: ['aws.states'] },
          state: 'ENABLED',
          targets: [{ functionLogicalId: 'F' }],
        },
      ],
      region: 'eu-west-1',
      account: '000000000000',
      invoke: async () => {
        attempts++;
        throw new Error('boom');
      },
      onError: (_error, rule) => void errors.push(rule),
    });
    await running.publish({ source: 'aws.states' });
    await running.stop();
    expect({ attempts, errors }).toEqual({ attempts: 2, errors: ['R'] });
  });
});

describe('API Gateway gateway responses', () => {
  const configured = [
    {
      responseType: 'DEFAULT_4XX',
      responseParameters: { 'gatewayresponse.header.Cache-Control': "'no-store'" },
      responseTemplates: {
        'application/json':
          '{"error":{"code":"$context.error.responseType","message":$context.error.messageString}}',
      },
    },
  ];

  it('renders the template’s DEFAULT_4XX customization for a refusal of any 4xx type', () => {
    const response = gatewayResponse(
      configured,
      'MISSING_AUTHENTICATION_TOKEN',
      'Missing Authentication Token',
    );
    expect(response.status).toBe(403);
    expect(response.headers).toMatchObject({
      'cache-control': 'no-store',
      'x-amzn-errortype': 'MissingAuthenticationTokenException',
    });
    expect(JSON.parse(String(response.body))).toEqual({
      error: { code: 'MISSING_AUTHENTICATION_TOKEN', message: 'Missing Authentication Token' },
    });
  });

  it('answers API Gateway’s own default where the template customizes nothing (a 5xx here)', () => {
    const response = gatewayResponse(configured, 'INTEGRATION_FAILURE', 'Internal server error');
    expect(response.status).toBe(502);
    expect(JSON.parse(String(response.body))).toEqual({ message: 'Internal server error' });
  });
});
