import * as SFN from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SfnWorkflow } from '../../functions/adapters/sfn-workflow.js';
import { executionArnFor, WorkflowTaskClosedError } from '../../functions/application/workflow-io.js';
import { ConflictError } from '../../functions/domain/errors.js';

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:jitdb-access-request';
const REQUEST_ID = '01j9z3k4m5n6p7q8r9s0t1v2w3';
const EXECUTION_ARN = `arn:aws:states:eu-west-1:123456789012:execution:jitdb-access-request:${REQUEST_ID}`;
const metadata = { $metadata: {} };

const sfn = mockClient(SFN.SFNClient);
const workflow = new SfnWorkflow({
  client: new SFN.SFNClient({ region: 'eu-west-1' }),
  stateMachineArn: STATE_MACHINE_ARN,
});

beforeEach(() => {
  sfn.reset();
});

/** StartExecution finds the request's execution already there, started with `input`. */
function executionAlreadyStartedWith(input: string): void {
  sfn
    .on(SFN.StartExecutionCommand)
    .rejects(new SFN.ExecutionAlreadyExists({ message: 'Execution Already Exists', ...metadata }));
  sfn.on(SFN.DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, input });
}

describe('SfnWorkflow.start', () => {
  it('starts an execution named after the request id with the JSON input', async () => {
    sfn.on(SFN.StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });

    const started = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    expect(started).toEqual({ executionArn: EXECUTION_ARN });
    expect(sfn.commandCalls(SFN.StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: STATE_MACHINE_ARN, name: REQUEST_ID, input: `{"requestId":"${REQUEST_ID}"}` },
    ]);
  });

  it('treats an existing execution with the same input as started and returns its ARN', async () => {
    executionAlreadyStartedWith(`{"requestId":"${REQUEST_ID}"}`);

    expect(await workflow.start(REQUEST_ID, { requestId: REQUEST_ID })).toEqual({
      executionArn: EXECUTION_ARN,
    });
    expect(sfn.commandCalls(SFN.DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: EXECUTION_ARN },
    ]);
  });

  it('refuses to reuse a request id whose execution has a different input', async () => {
    executionAlreadyStartedWith('{"requestId":"other"}');

    await expect(workflow.start(REQUEST_ID, { requestId: REQUEST_ID })).rejects.toThrow(ConflictError);
  });
});

describe('SfnWorkflow task completion', () => {
  it('sends SendTaskSuccess with the output as JSON', async () => {
    sfn.on(SFN.SendTaskSuccessCommand).resolves({});

    await workflow.sendTaskSuccess('token-1', { outcome: 'approved' });

    expect(sfn.commandCalls(SFN.SendTaskSuccessCommand).map((call) => call.args[0].input)).toEqual([
      { taskToken: 'token-1', output: '{"outcome":"approved"}' },
    ]);
  });

  it('sends SendTaskFailure with the error name and cause, trimmed to the API limits', async () => {
    sfn.on(SFN.SendTaskFailureCommand).resolves({});

    await workflow.sendTaskFailure('token-1', 'Denied', 'denied by approver@example.com');
    await workflow.sendTaskFailure('token-2', 'E'.repeat(300), 'c'.repeat(40_000));

    expect(sfn.commandCalls(SFN.SendTaskFailureCommand).map((call) => call.args[0].input)).toEqual([
      { taskToken: 'token-1', error: 'Denied', cause: 'denied by approver@example.com' },
      { taskToken: 'token-2', error: 'E'.repeat(256), cause: 'c'.repeat(32_768) },
    ]);
  });

  it.each([
    ['TaskTimedOut', new SFN.TaskTimedOut({ message: 'Task Timed Out', ...metadata }), 'task timed out'],
    [
      'TaskDoesNotExist',
      new SFN.TaskDoesNotExist({ message: 'no task', ...metadata }),
      'task does not exist',
    ],
    ['InvalidToken', new SFN.InvalidToken({ message: 'Invalid token', ...metadata }), 'invalid token'],
  ])('reports %s as a closed task (a late or second decision)', async (_name, awsError, reason) => {
    sfn.on(SFN.SendTaskSuccessCommand).rejects(awsError);

    const attempt = workflow.sendTaskSuccess('token-1', { outcome: 'approved' });

    await expect(attempt).rejects.toThrow(WorkflowTaskClosedError);
    await expect(attempt).rejects.toMatchObject({ code: 'CONFLICT', details: { reason } });
  });

  it('lets an outage through unchanged, so the caller can retry', async () => {
    const outage = new Error('socket hang up');
    sfn.on(SFN.SendTaskFailureCommand).rejects(outage);

    await expect(workflow.sendTaskFailure('token-1', 'Denied', 'no')).rejects.toBe(outage);
  });
});

describe('SfnWorkflow.stop', () => {
  it('stops the execution named after the request, by its computed ARN, with the cause', async () => {
    sfn.on(SFN.StopExecutionCommand).resolves({ stopDate: new Date() });

    await workflow.stop(REQUEST_ID, 'requester ended access early');

    expect(sfn.commandCalls(SFN.StopExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: EXECUTION_ARN, cause: 'requester ended access early' },
    ]);
  });

  it('does nothing for an execution that does not exist', async () => {
    sfn.on(SFN.StopExecutionCommand).rejects(new SFN.ExecutionDoesNotExist({ message: 'gone', ...metadata }));

    await expect(workflow.stop(REQUEST_ID, 'again')).resolves.toBeUndefined();
  });
});

describe('executionArnFor', () => {
  it('derives the execution ARN from the state machine ARN and the name', () => {
    expect(executionArnFor(STATE_MACHINE_ARN, REQUEST_ID)).toBe(EXECUTION_ARN);
  });

  it('refuses something that is not a state machine ARN', () => {
    expect(() => executionArnFor('arn:aws:lambda:eu-west-1:123456789012:function:x', REQUEST_ID)).toThrow(
      RangeError,
    );
  });
});
