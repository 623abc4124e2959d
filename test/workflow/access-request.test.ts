import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  APPROVAL_PATH_TRANSITIONS,
  HAPPY_PATH_TRANSITIONS,
  WorkflowTaskClosedError,
} from '../../functions/application/workflow-io.js';
import {
  ConflictError,
  TargetNotConfiguredForIamError,
  TargetUnavailableError,
} from '../../functions/domain/errors.js';
import type { ExecutionStatusChangeEvent } from '../../local/workflow-executions.js';
import {
  handlersByState,
  LocalWorkflow,
  type TaskHandler,
  type TaskHandlers,
} from '../../local/workflow-runner.js';

/**
 * The real ASL, executed by the local runner, with in-test task handlers that record every call. Retry
 * pauses are scaled to 10 ms (the library's retryIntervalOverrides); Wait and approval timeouts are real.
 */

const REQUEST_ID = '01j9z3k4m5n6p7q8r9s0t1v2w3';

interface Call {
  state: string;
  input: unknown;
  at: number;
}

const open: LocalWorkflow[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((workflow) => workflow.close()));
});

// Node timers may fire a millisecond early; anything within this is "on time".
const TIMER_SLACK_MS = 5;

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

/** The states of a request whose approval step failed once: evaluated, asked, and evaluated again. */
const APPROVAL_STEP_FAILED = ['EvaluatePolicy', 'RequestApproval', 'EvaluatePolicy'];

function harness(handlers: Partial<TaskHandlers> = {}) {
  const calls: Call[] = [];
  const tokens: string[] = [];
  const defaults: TaskHandlers = {
    EvaluatePolicy: async () => ({ decision: 'auto-approved', kind: 'window', approvalWindowSeconds: 60 }),
    RequestApproval: async () => null,
    RecordApprovalExpired: async () => ({}),
    Grant: async () => ({ status: 'ACTIVE', expiresAt: inSeconds(1) }),
    RecordGrantFailed: async () => ({}),
    Revoke: async () => ({ revoked: true }),
    RecordRevokeFailed: async () => ({}),
    ExecuteStatement: async () => ({ status: 'EXECUTED' }),
    ExplainStatement: async () => ({ status: 'EXPLAINED' }),
  };
  const recorded = Object.fromEntries(
    Object.entries({ ...defaults, ...handlers }).map(([state, handler]: [string, TaskHandler]) => [
      state,
      async (input: unknown) => {
        calls.push({ state, input, at: Date.now() });
        if (state === 'RequestApproval') {
          tokens.push((input as { taskToken: string }).taskToken);
        }
        return handler(input);
      },
    ]),
  ) as TaskHandlers;
  const workflow = new LocalWorkflow({
    handlers: recorded,
    retryIntervalMs: 10,
    waitOverridesMs: { ApprovalStepFailed: 20 },
  });
  open.push(workflow);
  const statusChanges: ExecutionStatusChangeEvent[] = [];
  workflow.onStatusChange((event) => {
    statusChanges.push(event);
  });
  const states = () => calls.map((call) => call.state);
  const nextToken = () =>
    vi.waitFor(
      () => {
        const token = tokens.at(-1);
        if (!token) throw new Error('no task token yet');
        return token;
      },
      { timeout: 5000, interval: 10 },
    );
  return { workflow, calls, states, statusChanges, nextToken };
}

const entered = (workflow: LocalWorkflow, executionArn: string) =>
  workflow
    .history(executionArn)
    .filter((event) => event.type === 'StateEntered')
    .map((event) => event.state);

const needsApproval = (approvalWindowSeconds = 30): TaskHandler => {
  return async () => ({ decision: 'needs-approval', kind: 'window', approvalWindowSeconds });
};

describe('the access-request workflow, run locally', () => {
  it('grants an auto-approved request, waits until expiresAt, then revokes it', async () => {
    const expiresAt = inSeconds(1);
    const { workflow, calls, states, statusChanges } = harness({
      Grant: async () => ({ status: 'ACTIVE', expiresAt }),
    });

    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    const end = await workflow.waitForEnd(executionArn);

    expect(executionArn).toBe(`arn:aws:states:us-east-1:000000000000:execution:access-request:${REQUEST_ID}`);
    expect(end.status).toBe('SUCCEEDED');
    expect(states()).toEqual(['EvaluatePolicy', 'Grant', 'Revoke']);
    expect(calls.map((call) => call.input)).toEqual([
      { requestId: REQUEST_ID },
      { requestId: REQUEST_ID },
      { requestId: REQUEST_ID, reason: 'expired' },
    ]);
    expect(calls[2]?.at).toBeGreaterThanOrEqual(Date.parse(expiresAt) - TIMER_SLACK_MS);
    expect(statusChanges).toEqual([]);
  });

  it('takes exactly HAPPY_PATH_TRANSITIONS state transitions on the auto-approved path', async () => {
    const { workflow } = harness();
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    await workflow.waitForEnd(executionArn);

    expect(entered(workflow, executionArn)).toEqual([
      'EvaluatePolicy',
      'RouteDecision',
      'Grant',
      'CheckGrant',
      'WaitUntilExpiry',
      'Revoke',
      'CheckRevoke',
      'Revoked',
    ]);
    expect(workflow.transitions(executionArn)).toBe(HAPPY_PATH_TRANSITIONS);
  });

  it('waits for the approval token, then grants once SendTaskSuccess arrives', async () => {
    const { workflow, calls, states, nextToken } = harness({ EvaluatePolicy: needsApproval() });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    const token = await nextToken();
    expect(calls[1]).toMatchObject({
      state: 'RequestApproval',
      input: { requestId: REQUEST_ID, taskToken: token },
    });
    expect(workflow.waitingTokens(executionArn)).toEqual([token]);
    expect(workflow.describe(executionArn)?.status).toBe('RUNNING');

    await workflow.sendTaskSuccess(token, { outcome: 'approved' });
    const end = await workflow.waitForEnd(executionArn);

    expect(end.status).toBe('SUCCEEDED');
    expect(states()).toEqual(['EvaluatePolicy', 'RequestApproval', 'Grant', 'Revoke']);
    expect(workflow.transitions(executionArn)).toBe(APPROVAL_PATH_TRANSITIONS);
    expect(workflow.waitingTokens(executionArn)).toEqual([]);
  });

  it('refuses a second SendTaskSuccess on the same token, as Step Functions does (TaskTimedOut)', async () => {
    const { workflow, nextToken } = harness({ EvaluatePolicy: needsApproval() });
    await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    const token = await nextToken();

    await workflow.sendTaskSuccess(token, { outcome: 'approved' });

    await expect(workflow.sendTaskSuccess(token, { outcome: 'approved' })).rejects.toThrow(
      WorkflowTaskClosedError,
    );
    await expect(workflow.sendTaskFailure(token, 'Denied', 'too late')).rejects.toMatchObject({
      code: 'CONFLICT',
      details: { reason: 'task timed out' },
    });
    await expect(workflow.sendTaskSuccess('never-issued', {})).rejects.toMatchObject({
      details: { reason: 'invalid token' },
    });
    await workflow.stop(REQUEST_ID, 'test over');
  });

  it('ends successfully without a grant when an approver denies (SendTaskFailure Denied)', async () => {
    const { workflow, states, nextToken, statusChanges } = harness({ EvaluatePolicy: needsApproval() });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    await workflow.sendTaskFailure(await nextToken(), 'Denied', 'denied by approver@example.com');
    const end = await workflow.waitForEnd(executionArn);

    expect(end.status).toBe('SUCCEEDED');
    expect(states()).toEqual(['EvaluatePolicy', 'RequestApproval']);
    expect(entered(workflow, executionArn)).toEqual([
      'EvaluatePolicy',
      'RouteDecision',
      'RequestApproval',
      'ApprovalClosed',
    ]);
    expect(statusChanges).toEqual([]);
  });

  it('records approval-expired when the approval window (TimeoutSecondsPath) ends', async () => {
    const { workflow, calls, states, nextToken } = harness({ EvaluatePolicy: needsApproval(1) });
    const startedAt = Date.now();
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    const token = await nextToken();

    const end = await workflow.waitForEnd(executionArn);

    expect(end.status).toBe('SUCCEEDED');
    expect(states()).toEqual(['EvaluatePolicy', 'RequestApproval', 'RecordApprovalExpired']);
    expect(calls[2]?.input).toEqual({ requestId: REQUEST_ID, outcome: 'approval-expired' });
    expect(calls[2]?.at).toBeGreaterThanOrEqual(startedAt + 1000 - TIMER_SLACK_MS);
    await expect(workflow.sendTaskSuccess(token, { outcome: 'approved' })).rejects.toThrow(
      WorkflowTaskClosedError,
    );
  });

  it('ends without a grant when the request was already closed before the workflow ran', async () => {
    const { workflow, states } = harness({
      EvaluatePolicy: async () => ({ decision: 'closed', kind: 'window', approvalWindowSeconds: 1 }),
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
    expect(states()).toEqual(['EvaluatePolicy']);
  });

  it('keeps a request live when its approval step fails: evaluates again, takes a new token, grants on approval', async () => {
    let attempts = 0;
    const { workflow, states, nextToken, calls } = harness({
      EvaluatePolicy: needsApproval(),
      RequestApproval: async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('the approval step broke');
        if (attempts === 2) throw new ConflictError();
        return null;
      },
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    await vi.waitFor(() => expect(attempts).toBe(3), { timeout: 5000, interval: 10 });
    const token = await nextToken();
    await workflow.sendTaskSuccess(token, { outcome: 'approved' });
    expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
    expect(states()).toEqual([
      ...APPROVAL_STEP_FAILED,
      'RequestApproval',
      'RequestApproval',
      'Grant',
      'Revoke',
    ]);
    expect(calls.map((c) => c.state)).not.toContain('RecordApprovalExpired');
    expect(entered(workflow, executionArn)).toContain('ApprovalStepFailed');
  });

  it('records approval-expired, not a failure, when the approval step kept failing until the window closed', async () => {
    let evaluations = 0;
    const { workflow, states } = harness({
      EvaluatePolicy: async () => {
        evaluations += 1;
        return evaluations === 1
          ? { decision: 'needs-approval', kind: 'window', approvalWindowSeconds: 30 }
          : { decision: 'window-closed', kind: 'window', approvalWindowSeconds: 1 };
      },
      RequestApproval: async () => {
        throw new Error('the approval step broke');
      },
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
    expect(states()).toEqual([...APPROVAL_STEP_FAILED, 'RecordApprovalExpired']);
  });

  it('retries a grant while the target is unavailable, then carries on', async () => {
    let attempts = 0;
    const { workflow, states } = harness({
      Grant: async () => {
        attempts += 1;
        if (attempts < 3) throw new TargetUnavailableError('orders-db');
        return { status: 'ACTIVE', expiresAt: inSeconds(0.2) };
      },
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
    expect(states()).toEqual(['EvaluatePolicy', 'Grant', 'Grant', 'Grant', 'Revoke']);
    expect(workflow.history(executionArn).filter((event) => event.type === 'StateRetried')).toHaveLength(2);
  });

  it('records grant-failed with the error and fails the execution once the retries are spent', async () => {
    const { workflow, calls, states, statusChanges } = harness({
      Grant: async () => {
        throw new TargetUnavailableError('orders-db');
      },
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    const end = await workflow.waitForEnd(executionArn);

    expect(end).toMatchObject({ status: 'FAILED', error: 'GrantFailed' });
    expect(states()).toEqual([
      'EvaluatePolicy',
      'Grant',
      'Grant',
      'Grant',
      'Grant',
      'Grant',
      'RecordGrantFailed',
    ]);
    expect(calls.at(-1)?.input).toEqual({
      requestId: REQUEST_ID,
      outcome: 'grant-failed',
      error: {
        Error: 'TargetUnavailableError',
        Cause: JSON.stringify({
          errorType: 'TargetUnavailableError',
          errorMessage: 'target orders-db is unavailable',
        }),
      },
    });
    await vi.waitFor(() => expect(statusChanges).toHaveLength(1));
    expect(statusChanges[0]).toMatchObject({
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      resources: [executionArn],
      detail: { executionArn, name: REQUEST_ID, status: 'FAILED', error: 'GrantFailed' },
    });
    expect(statusChanges[0]?.detail.input).toBe(JSON.stringify({ requestId: REQUEST_ID }));
  });

  it('does not retry a grant error that retrying cannot fix', async () => {
    const { workflow, states } = harness({
      Grant: async () => {
        throw new TargetNotConfiguredForIamError('orders-db');
      },
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    expect((await workflow.waitForEnd(executionArn)).status).toBe('FAILED');
    expect(states()).toEqual(['EvaluatePolicy', 'Grant', 'RecordGrantFailed']);
  });

  it('records revoke-failed and leaves the rest to the sweeper when revoke keeps failing', async () => {
    const { workflow, calls, states, statusChanges } = harness({
      Grant: async () => ({ status: 'ACTIVE', expiresAt: inSeconds(0.2) }),
      Revoke: async () => {
        throw new TargetUnavailableError('orders-db');
      },
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
    expect(states().filter((state) => state === 'Revoke')).toHaveLength(5);
    expect(states().at(-1)).toBe('RecordRevokeFailed');
    expect(calls.at(-1)?.input).toMatchObject({
      requestId: REQUEST_ID,
      outcome: 'revoke-failed',
      error: { Error: 'TargetUnavailableError' },
    });
    expect(statusChanges).toEqual([]);
  });

  it('waits again when an extension moved expiresAt, then revokes at the new expiry', async () => {
    const extendedTo = inSeconds(1.5);
    let revokes = 0;
    const { workflow, calls, states } = harness({
      Grant: async () => ({ status: 'ACTIVE', expiresAt: inSeconds(0.5) }),
      Revoke: async () => {
        revokes += 1;
        return revokes === 1 ? { revoked: false, expiresAt: extendedTo } : { revoked: true };
      },
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    expect((await workflow.waitForEnd(executionArn)).status).toBe('SUCCEEDED');
    expect(states()).toEqual(['EvaluatePolicy', 'Grant', 'Revoke', 'Revoke']);
    expect(calls[3]?.at).toBeGreaterThanOrEqual(Date.parse(extendedTo) - TIMER_SLACK_MS);
    expect(workflow.transitions(executionArn)).toBe(HAPPY_PATH_TRANSITIONS + 4);
  });

  it('aborts an execution stopped while it waits for expiry, and reports ABORTED', async () => {
    const { workflow, states, statusChanges } = harness({
      Grant: async () => ({ status: 'ACTIVE', expiresAt: inSeconds(30) }),
    });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    await vi.waitFor(() =>
      expect(workflow.history(executionArn).at(-1)).toMatchObject({
        type: 'StateEntered',
        state: 'WaitUntilExpiry',
      }),
    );

    await workflow.stop(REQUEST_ID, 'requester ended access early');
    const end = await workflow.waitForEnd(executionArn);

    expect(end).toMatchObject({ status: 'ABORTED', cause: 'requester ended access early' });
    expect(states()).toEqual(['EvaluatePolicy', 'Grant']);
    await vi.waitFor(() => expect(statusChanges).toHaveLength(1));
    expect(statusChanges[0]?.detail).toMatchObject({
      status: 'ABORTED',
      name: REQUEST_ID,
      error: null,
      cause: 'requester ended access early',
    });
  });

  it('closes the waiting task token when an execution waiting for approval is stopped', async () => {
    const { workflow, states, nextToken, statusChanges } = harness({ EvaluatePolicy: needsApproval() });
    const { executionArn } = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    const token = await nextToken();

    await workflow.stop(REQUEST_ID, 'request cancelled');

    expect(workflow.describe(executionArn)?.status).toBe('ABORTED');
    expect(workflow.waitingTokens(executionArn)).toEqual([]);
    await expect(workflow.sendTaskSuccess(token, { outcome: 'approved' })).rejects.toThrow(
      WorkflowTaskClosedError,
    );
    await workflow.waitForEnd(executionArn);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(states()).toEqual(['EvaluatePolicy', 'RequestApproval']);
    expect(statusChanges.map((event) => event.detail.status)).toEqual(['ABORTED']);
  });

  it('starts one execution per request id: a second start is the same execution', async () => {
    const { workflow, states } = harness({
      Grant: async () => ({ status: 'ACTIVE', expiresAt: inSeconds(0.2) }),
    });

    const first = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    const second = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });
    await workflow.waitForEnd(first.executionArn);
    const afterEnd = await workflow.start(REQUEST_ID, { requestId: REQUEST_ID });

    expect(second).toEqual(first);
    expect(afterEnd).toEqual(first);
    expect(states().filter((state) => state === 'EvaluatePolicy')).toHaveLength(1);
    await expect(workflow.start(REQUEST_ID, { requestId: '01j9z3k4m5n6p7q8r9s0t1v2w4' })).rejects.toThrow(
      ConflictError,
    );
  });

  it('maps one handler per Lambda onto every Task state (record-outcome serves three)', () => {
    const handler = (name: string) => async () => name;
    const byState = handlersByState({
      'evaluate-policy': handler('evaluate-policy'),
      'request-approval': handler('request-approval'),
      grant: handler('grant'),
      revoke: handler('revoke'),
      'execute-statement': handler('execute-statement'),
      'record-outcome': handler('record-outcome'),
    });

    expect(Object.keys(byState).sort()).toEqual([
      'EvaluatePolicy',
      'ExecuteStatement',
      'ExplainStatement',
      'Grant',
      'RecordApprovalExpired',
      'RecordGrantFailed',
      'RecordRevokeFailed',
      'RequestApproval',
      'Revoke',
    ]);
    expect(byState.RecordRevokeFailed).toBe(byState.RecordGrantFailed);
  });
});
