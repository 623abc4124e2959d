import * as SFN from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SfnWorkflow } from '../../functions/adapters/sfn-workflow.js';
import type { Workflow } from '../../functions/application/ports.js';
import { executionArnFor, WorkflowTaskClosedError } from '../../functions/application/workflow-io.js';
import { ConflictError } from '../../functions/domain/errors.js';
import { LocalWorkflow, type TaskHandlers } from '../../local/workflow-runner.js';

/**
 * The Workflow port's contract, run against the local runner (the real ASL, trivial task handlers) and the
 * Step Functions adapter (a mocked SFN client answering as the service does). The adapter's exact requests
 * are asserted after every test; test/unit/sfn-workflow.test.ts keeps the request details (trimming, errors).
 */

type ExecutionState = 'running' | 'ended';

interface WorkflowSubject {
  stateMachineArn: string;
  workflow: Workflow;
  /** An execution named `requestId` that was started earlier with `input`, and is now `state`. */
  existing(requestId: string, input: Record<string, unknown>, state: ExecutionState): Promise<void>;
  /** A task token the execution waits on now. */
  openToken(): Promise<string>;
  /** A token whose task was decided already, or whose execution has been stopped since. */
  closedToken(how: 'decided' | 'stopped'): Promise<string>;
  /** A token nobody issued. */
  unknownToken(): string;
  /** The request id of an execution that has ended. */
  endedExecution(): Promise<string>;
  /** After each test: what reached the backend was what the port promised to send. */
  verify(): void;
  close(): Promise<void>;
}

let sequence = 0;
const newRequestId = () => `01j9z3k4m5n6p7q8r9s0t1v${String(++sequence).padStart(3, '0')}`;

function local(): WorkflowSubject {
  const awaitingApproval = new Set<string>();
  const tokens: string[] = [];
  const requestIdOf = (input: unknown) => (input as { requestId: string }).requestId;
  const handlers: TaskHandlers = {
    EvaluatePolicy: async (input) =>
      awaitingApproval.has(requestIdOf(input))
        ? { decision: 'needs-approval', kind: 'window', approvalWindowSeconds: 60 }
        : { decision: 'auto-approved', kind: 'window', approvalWindowSeconds: 60 },
    RequestApproval: async (input) => {
      tokens.push((input as { taskToken: string }).taskToken);
      return null;
    },
    RecordApprovalExpired: async () => ({}),
    // Ends at the next whole second (as the domain rounds expiresAt): the execution runs to its end at once.
    Grant: async () => ({
      status: 'ACTIVE',
      expiresAt: new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString(),
    }),
    RecordGrantFailed: async () => ({}),
    Revoke: async () => ({ revoked: true }),
    RecordRevokeFailed: async () => ({}),
    ExecuteStatement: async () => ({ status: 'EXECUTED' }),
    ExplainStatement: async () => ({ status: 'EXPLAINED' }),
  };
  const workflow = new LocalWorkflow({
    handlers,
    retryIntervalMs: 10,
    waitOverridesMs: { ApprovalStepFailed: 20 },
  });

  /** Starts an execution that stops at RequestApproval, and returns its token. */
  async function waitingExecution(): Promise<{ requestId: string; token: string }> {
    const requestId = newRequestId();
    awaitingApproval.add(requestId);
    const before = tokens.length;
    await workflow.start(requestId, { requestId });
    const token = await vi.waitFor(
      () => {
        const issued = tokens[before];
        if (!issued) throw new Error('no task token yet');
        return issued;
      },
      { timeout: 5000, interval: 10 },
    );
    return { requestId, token };
  }

  return {
    stateMachineArn: workflow.stateMachineArn,
    workflow,
    async existing(requestId, input, state) {
      if (state === 'running') awaitingApproval.add(requestId);
      const { executionArn } = await workflow.start(requestId, input);
      if (state === 'ended') expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
    },
    openToken: async () => (await waitingExecution()).token,
    async closedToken(how) {
      const { requestId, token } = await waitingExecution();
      if (how === 'decided') await workflow.sendTaskFailure(token, 'Denied', 'denied by approver');
      else await workflow.stop(requestId, 'stopped by hand');
      return token;
    },
    unknownToken: () => 'never-issued-token',
    async endedExecution() {
      const requestId = newRequestId();
      const { executionArn } = await workflow.start(requestId, { requestId });
      expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
      return requestId;
    },
    verify: () => undefined,
    close: () => workflow.close(),
  };
}

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:jitdb-access-request';
const metadata = { $metadata: {} };

/**
 * SfnWorkflow on a mocked client whose fakes answer from a small model of the service:
 * - StartExecution: a new name starts a run; the same name and input while it runs returns the same ARN (the
 *   API's idempotency); any other start of an existing name is ExecutionAlreadyExists.
 * - DescribeExecution: the stored input.
 * - SendTaskSuccess / SendTaskFailure: an open token closes; a token already decided, or whose execution was
 *   stopped, is TaskTimedOut ("Provided task does not exist anymore"); a token never issued is InvalidToken.
 * - StopExecution: a running execution ends; an ended one answers as a success (the service does not fail
 *   a stop of a terminal execution); a name never started is ExecutionDoesNotExist.
 */
function stepFunctions(): WorkflowSubject {
  const sfn = mockClient(SFN.SFNClient);
  const executions = new Map<string, { input: string; state: ExecutionState }>();
  const tokens = new Map<string, 'open' | 'closed'>();
  const expected: { command: string; input: unknown }[] = [];
  const arnOf = (requestId: string) => executionArnFor(STATE_MACHINE_ARN, requestId);

  sfn.on(SFN.StartExecutionCommand).callsFake(({ name, input }) => {
    const existing = executions.get(arnOf(name));
    if (!existing) {
      executions.set(arnOf(name), { input, state: 'running' });
      return { executionArn: arnOf(name), startDate: new Date() };
    }
    if (existing.state === 'running' && existing.input === input) return { executionArn: arnOf(name) };
    throw new SFN.ExecutionAlreadyExists({ message: 'Execution Already Exists', ...metadata });
  });
  sfn.on(SFN.DescribeExecutionCommand).callsFake(({ executionArn }) => ({
    executionArn,
    input: executions.get(executionArn)?.input,
  }));
  const complete = ({ taskToken }: { taskToken: string }) => {
    const state = tokens.get(taskToken);
    if (state === undefined) throw new SFN.InvalidToken({ message: 'Invalid Token', ...metadata });
    if (state === 'closed') {
      throw new SFN.TaskTimedOut({
        message: "Task Timed Out: 'Provided task does not exist anymore'",
        ...metadata,
      });
    }
    tokens.set(taskToken, 'closed');
    return {};
  };
  sfn.on(SFN.SendTaskSuccessCommand).callsFake(complete);
  sfn.on(SFN.SendTaskFailureCommand).callsFake(complete);
  sfn.on(SFN.StopExecutionCommand).callsFake(({ executionArn }) => {
    const execution = executions.get(executionArn);
    if (!execution) throw new SFN.ExecutionDoesNotExist({ message: 'Execution Does Not Exist', ...metadata });
    execution.state = 'ended';
    return { stopDate: new Date() };
  });

  const adapter = new SfnWorkflow({
    client: new SFN.SFNClient({ region: 'eu-west-1' }),
    stateMachineArn: STATE_MACHINE_ARN,
  });
  /** The port, noting first the exact requests the adapter must send for each call. */
  const workflow: Workflow = {
    start(requestId, input) {
      const json = JSON.stringify(input);
      expected.push({
        command: 'StartExecutionCommand',
        input: { stateMachineArn: STATE_MACHINE_ARN, name: requestId, input: json },
      });
      const existing = executions.get(arnOf(requestId));
      if (existing && !(existing.state === 'running' && existing.input === json)) {
        expected.push({ command: 'DescribeExecutionCommand', input: { executionArn: arnOf(requestId) } });
      }
      return adapter.start(requestId, input);
    },
    sendTaskSuccess(taskToken, output) {
      expected.push({
        command: 'SendTaskSuccessCommand',
        input: { taskToken, output: JSON.stringify(output) },
      });
      return adapter.sendTaskSuccess(taskToken, output);
    },
    sendTaskFailure(taskToken, error, cause) {
      expected.push({ command: 'SendTaskFailureCommand', input: { taskToken, error, cause } });
      return adapter.sendTaskFailure(taskToken, error, cause);
    },
    stop(requestId, cause) {
      expected.push({
        command: 'StopExecutionCommand',
        input: { executionArn: arnOf(requestId), cause },
      });
      return adapter.stop(requestId, cause);
    },
  };

  const issue = (state: 'open' | 'closed') => {
    const token = `sfn-task-token-${newRequestId()}`;
    tokens.set(token, state);
    return token;
  };

  return {
    stateMachineArn: STATE_MACHINE_ARN,
    workflow,
    async existing(requestId, input, state) {
      executions.set(arnOf(requestId), { input: JSON.stringify(input), state });
    },
    openToken: async () => issue('open'),
    closedToken: async () => issue('closed'),
    unknownToken: () => 'never-issued-token',
    async endedExecution() {
      const requestId = newRequestId();
      executions.set(arnOf(requestId), { input: JSON.stringify({ requestId }), state: 'ended' });
      return requestId;
    },
    verify() {
      const sent = sfn.calls().map((call) => {
        const command = call.args[0] as { constructor: { name: string }; input: unknown };
        return { command: command.constructor.name, input: command.input };
      });
      expect(sent).toEqual(expected);
    },
    async close() {
      sfn.restore();
    },
  };
}

const SUBJECTS = [
  { name: 'LocalWorkflow', make: local },
  { name: 'SfnWorkflow', make: stepFunctions },
];

describe.each(SUBJECTS)('$name: the Workflow contract', ({ make }) => {
  let subject: WorkflowSubject;
  beforeEach(() => {
    subject = make();
  });
  afterEach(async () => {
    try {
      subject.verify();
    } finally {
      await subject.close();
    }
  });

  it('starts an execution named after the request id', async () => {
    const requestId = newRequestId();
    expect(await subject.workflow.start(requestId, { requestId })).toEqual({
      executionArn: executionArnFor(subject.stateMachineArn, requestId),
    });
  });

  describe.each<ExecutionState>(['running', 'ended'])('a second start of an execution %s', (state) => {
    let requestId: string;
    beforeEach(async () => {
      requestId = newRequestId();
      await subject.existing(requestId, { requestId }, state);
    });

    it('with the same input is the same execution', async () => {
      expect(await subject.workflow.start(requestId, { requestId })).toEqual({
        executionArn: executionArnFor(subject.stateMachineArn, requestId),
      });
    });

    it('with a different input is refused as a ConflictError', async () => {
      await expect(subject.workflow.start(requestId, { requestId, other: true })).rejects.toThrow(
        ConflictError,
      );
    });
  });

  it('completes an open task once, with success or failure', async () => {
    await expect(
      subject.workflow.sendTaskSuccess(await subject.openToken(), { outcome: 'approved' }),
    ).resolves.toBeUndefined();
    await expect(
      subject.workflow.sendTaskFailure(await subject.openToken(), 'Denied', 'no'),
    ).resolves.toBeUndefined();
  });

  it.each(['decided', 'stopped', 'unknown'] as const)(
    'raises WorkflowTaskClosedError for a %s token, on success and on failure',
    async (kind) => {
      const token = kind === 'unknown' ? subject.unknownToken() : await subject.closedToken(kind);
      await expect(subject.workflow.sendTaskSuccess(token, { outcome: 'approved' })).rejects.toThrow(
        WorkflowTaskClosedError,
      );
      await expect(subject.workflow.sendTaskFailure(token, 'Denied', 'late')).rejects.toThrow(
        WorkflowTaskClosedError,
      );
    },
  );

  it('stops a running execution, then stopping it again does nothing', async () => {
    const requestId = newRequestId();
    await subject.existing(requestId, { requestId }, 'running');
    await expect(subject.workflow.stop(requestId, 'ended early')).resolves.toBeUndefined();
    await expect(subject.workflow.stop(requestId, 'again')).resolves.toBeUndefined();
  });

  it('does nothing when stopping an execution that has ended or never existed', async () => {
    await expect(subject.workflow.stop(await subject.endedExecution(), 'late')).resolves.toBeUndefined();
    await expect(subject.workflow.stop(newRequestId(), 'never started')).resolves.toBeUndefined();
  });
});
