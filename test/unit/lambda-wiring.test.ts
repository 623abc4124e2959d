import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import {
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { lazyOnce } from '../../functions/adapters/lazy-once.js';
import type { Deps } from '../../functions/application/ports.js';
import { lambdaDeps, lazyDeps, PortNotWiredError } from '../../functions/shared/lambda-deps.js';
import { lambdaMailer } from '../../functions/shared/lambda-mailer.js';
import { lambdaWorkflow } from '../../functions/shared/lambda-workflow.js';

/**
 * The Lambda wiring of mail and Step Functions imports its SDK client on first use (a chunk of the bundle):
 * these check that the lazily built adapters send exactly what the eager ones did, and that a failed first
 * use is retried rather than remembered.
 */

const ses = mockClient(SESv2Client);
const sfn = mockClient(SFNClient);

afterEach(() => {
  ses.reset();
  sfn.reset();
});

const EMAIL = { to: ['bob@example.com'], subject: 's', text: 't', html: '<p>h</p>' };

describe('lazyOnce', () => {
  it('runs the load once for concurrent callers and keeps its result', async () => {
    let loads = 0;
    const get = lazyOnce(async () => {
      loads += 1;
      return { n: loads };
    });
    const [a, b] = await Promise.all([get(), get()]);
    expect(a).toBe(b);
    expect(await get()).toBe(a);
    expect(loads).toBe(1);
  });

  it('forgets a failed load, so the next call tries again', async () => {
    let loads = 0;
    const get = lazyOnce(async () => {
      loads += 1;
      if (loads === 1) throw new Error('cold start hiccup');
      return 'ok';
    });
    await expect(get()).rejects.toThrow('cold start hiccup');
    expect(await get()).toBe('ok');
    expect(loads).toBe(2);
  });
});

describe('lazyDeps', () => {
  const failing = () => {
    throw new Error('REQUESTS_TABLE is not set');
  };

  it('in Lambda, builds the deps at init: a missing setting fails the cold start, not each request', () => {
    expect(() => lazyDeps(failing, { AWS_LAMBDA_FUNCTION_NAME: 'JitDbAccess-Api' })).toThrow(
      'REQUESTS_TABLE is not set',
    );
    let builds = 0;
    const build = () => {
      builds++;
      return {} as Deps;
    };
    const deps = lazyDeps(build, { AWS_LAMBDA_FUNCTION_NAME: 'JitDbAccess-Api' });
    expect(builds).toBe(1);
    deps();
    deps();
    expect(builds).toBe(1);
  });

  it('elsewhere (a test importing a handler module), builds them on first use only', () => {
    const deps = lazyDeps(failing, {});
    expect(() => deps()).toThrow('REQUESTS_TABLE is not set');
  });
});

describe('lambdaDeps', () => {
  it('answers a port the handler did not wire with PortNotWiredError, naming the deployed function', async () => {
    const env = {
      REQUESTS_TABLE: 'requests',
      AUDIT_TABLE: 'audit',
      AWS_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_NAME: 'JitDbAccess-GrantFunction',
    };
    const deps = lambdaDeps({}, env);
    // Thrown at the call (inside an async use case that still rejects its promise).
    expect(() => deps.mailer.send(EMAIL)).toThrow(PortNotWiredError);
    expect(() => deps.mailer.send(EMAIL)).toThrow(
      'the JitDbAccess-GrantFunction function is not wired with a mailer',
    );
    expect(() => deps.workflow.stop('01j9z3k4m5n6p7q8r9s0t1v2w3', 'x')).toThrow(
      'the JitDbAccess-GrantFunction function is not wired with a workflow',
    );
    expect(ses.calls()).toHaveLength(0);
  });
});

describe('lambdaMailer', () => {
  it('fails the send, not the cold start, without SENDER_EMAIL, and sends once it is set', async () => {
    const env: NodeJS.ProcessEnv = { AWS_REGION: 'eu-west-1' };
    const mailer = lambdaMailer(env);
    await expect(mailer.send(EMAIL)).rejects.toThrow('SENDER_EMAIL is not set');
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(0);

    env.SENDER_EMAIL = 'jitdb@example.com';
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    await mailer.send(EMAIL);
    await mailer.send(EMAIL);
    const sent = ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({
      FromEmailAddress: 'jitdb@example.com',
      Destination: { ToAddresses: ['bob@example.com'] },
    });
  });
});

describe('lambdaWorkflow', () => {
  it('completes a task by token without STATE_MACHINE_ARN but refuses to start or stop an execution', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const workflow = lambdaWorkflow({ AWS_REGION: 'eu-west-1' });
    await workflow.sendTaskSuccess('token-1', { decision: 'approved' });
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((call) => call.args[0].input)).toEqual([
      { taskToken: 'token-1', output: JSON.stringify({ decision: 'approved' }) },
    ]);
    await expect(workflow.start('01j9z3k4m5n6p7q8r9s0t1v2w3', {})).rejects.toThrow(
      'STATE_MACHINE_ARN is not set',
    );
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    await expect(workflow.stop('01j9z3k4m5n6p7q8r9s0t1v2w3', 'revoked early')).rejects.toThrow(
      'STATE_MACHINE_ARN is not set',
    );
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
  });

  it('starts an execution named after the request on STATE_MACHINE_ARN', async () => {
    const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:jitdb-access-request';
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${arn}:x` });
    const workflow = lambdaWorkflow({ AWS_REGION: 'eu-west-1', STATE_MACHINE_ARN: arn });
    await workflow.start('01j9z3k4m5n6p7q8r9s0t1v2w3', { requestId: '01j9z3k4m5n6p7q8r9s0t1v2w3' });
    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      {
        stateMachineArn: arn,
        name: '01j9z3k4m5n6p7q8r9s0t1v2w3',
        input: JSON.stringify({ requestId: '01j9z3k4m5n6p7q8r9s0t1v2w3' }),
      },
    ]);
  });
});
