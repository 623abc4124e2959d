/**
 * The local stand-in for Step Functions: runs state-machines/access-request.asl.json with
 * aws-local-stepfunctions, every Task state overridden (by state name) to a handler function the caller
 * passes in. The library has no callback pattern, so this adapter supplies `$$.Task.Token`,
 * SendTaskSuccess / SendTaskFailure, TimeoutSecondsPath for the waiting state, stop, idempotent start
 * and the "Execution Status Change" events. Needs Node ≥ 22.
 *
 * Executions live in memory: a restart loses running ones (their Wait states included). That is safe
 * because the expiry sweeper revokes every ACTIVE grant past its expiresAt regardless of any execution.
 */
import { randomUUID } from 'node:crypto';
import { type RunOptions, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { Workflow } from '../functions/application/ports.js';
import { executionArnFor, WorkflowTaskClosedError } from '../functions/application/workflow-io.js';
import { ConflictError } from '../functions/domain/errors.js';
import type { TaskFunction, TaskStateName } from '../functions/function-registry.js';
import { TASK_STATES } from '../functions/workflow-tasks.js';
import {
  ExecutionStoppedError,
  LambdaFunctionError,
  TaskFailureError,
  TaskTimeoutError,
} from './task-errors.js';
import { loadDefinition, localSubstitutions } from './workflow-definition.js';
import {
  type ExecutionDescription,
  type ExecutionStatus,
  endOf,
  type HistoryEvent,
  STATUS_CHANGE_FIRED,
  type StatusChangeListener,
  statusChangeEvent,
  toHistoryEvent,
} from './workflow-executions.js';

/** What a Lambda handler is to the workflow: JSON in, JSON out, errors named by `error.name`. */
export type TaskHandler = (input: unknown) => Promise<unknown>;
/** By Task state name (functions/workflow-tasks.ts TASK_STATES). */
export type TaskHandlers = Record<TaskStateName, TaskHandler>;

export interface LocalWorkflowOptions {
  /** The handler of every Task state (see `handlersByState` to build it from one handler per Lambda). */
  handlers: TaskHandlers;
  /** Defaults to arn:aws:states:us-east-1:000000000000:stateMachine:access-request. */
  stateMachineArn?: string;
  /** Defaults to the repository's ASL file. */
  definition?: StateMachineDefinition;
  /** Replaces every Retry pause by this many milliseconds (tests); the ASL's backoff otherwise. */
  retryIntervalMs?: number;
  /** Replaces the fixed `Seconds` of these Wait states by milliseconds (tests); TimestampPath waits stay real. */
  waitOverridesMs?: Record<string, number>;
  /** Called with a listener's failure, which must not break the execution. */
  onListenerError?: (error: unknown) => void;
}

/** Under setTimeout's 2^31 ms ceiling: the library's own timer must never beat ours on the waiting state. */
const LOCAL_TIMEOUT_CEILING_SECONDS = 2_000_000;
const DEFAULT_TASK_TIMEOUT_SECONDS = 60;
const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/;

/** Maps one handler per Lambda (record-outcome serves three states) onto every Task state. */
export function handlersByState(byHandler: Record<TaskFunction, TaskHandler>): TaskHandlers {
  const entries = Object.entries(TASK_STATES).map(([state, spec]) => [state, byHandler[spec.handler]]);
  return Object.fromEntries(entries) as TaskHandlers;
}

interface PendingToken {
  executionArn: string;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
}

interface Execution {
  description: ExecutionDescription;
  history: HistoryEvent[];
  /** Raw input of the latest entry into each state (TimeoutSecondsPath reads it). */
  enteredInput: Map<string, unknown>;
  tokens: Set<string>;
  abort: () => void;
  done: Promise<ExecutionDescription>;
}

export class LocalWorkflow implements Workflow {
  readonly stateMachineArn: string;
  private readonly machine: StateMachine;
  /** The definition as run locally (TimeoutSecondsPath moved into this adapter). */
  private readonly definition: StateMachineDefinition;
  private readonly timeoutPaths = new Map<string, string>();
  private readonly callbackStates = new Set<string>();
  private readonly executions = new Map<string, Execution>();
  private readonly pending = new Map<string, PendingToken>();
  /** Tokens that were once valid: a call on one of them is "closed", on any other "invalid". */
  private readonly spent = new Set<string>();
  private readonly listeners = new Set<StatusChangeListener>();
  private readonly region: string;
  private readonly account: string;

  constructor(private readonly options: LocalWorkflowOptions) {
    this.stateMachineArn =
      options.stateMachineArn ?? 'arn:aws:states:us-east-1:000000000000:stateMachine:access-request';
    const [, , , region = 'us-east-1', account = '000000000000'] = this.stateMachineArn.split(':');
    this.region = region;
    this.account = account;
    const definition = structuredClone(
      options.definition ?? loadDefinition(localSubstitutions(this.region, this.account)),
    );
    for (const [name, state] of Object.entries(definition.States)) {
      if (state.Type !== 'Task') continue;
      if (!(name in options.handlers)) throw new RangeError(`no local handler for Task state ${name}`);
      if (state.Resource.endsWith('.waitForTaskToken')) this.callbackStates.add(name);
      // The library reads TimeoutSecondsPath from the task's Parameters output, AWS from the state input.
      if (state.TimeoutSecondsPath !== undefined) {
        parsePath(state.TimeoutSecondsPath);
        this.timeoutPaths.set(name, state.TimeoutSecondsPath);
        delete state.TimeoutSecondsPath;
        state.TimeoutSeconds = LOCAL_TIMEOUT_CEILING_SECONDS;
      }
    }
    this.definition = definition;
    this.machine = new StateMachine(definition);
  }

  /** Same name → the same execution, never a second run (a different input is refused, as on AWS). */
  async start(requestId: string, input: Record<string, unknown>): Promise<{ executionArn: string }> {
    const executionArn = executionArnFor(this.stateMachineArn, requestId);
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (JSON.stringify(existing.description.input) !== JSON.stringify(input)) {
        throw new ConflictError(`execution ${requestId} already exists with a different input`);
      }
      return { executionArn };
    }
    this.run(executionArn, requestId, input);
    return { executionArn };
  }

  async sendTaskSuccess(taskToken: string, output: Record<string, unknown>): Promise<void> {
    this.take(taskToken).resolve(JSON.parse(JSON.stringify(output)));
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    this.take(taskToken).reject(new TaskFailureError(error, cause));
  }

  /**
   * Aborts the running execution named after the request and closes its waiting tokens; stopping an ended or
   * unknown one does nothing.
   */
  async stop(requestId: string, cause: string): Promise<void> {
    this.abort(this.executions.get(executionArnFor(this.stateMachineArn, requestId)), cause);
  }

  private abort(execution: Execution | undefined, cause: string): void {
    if (execution?.description.status !== 'RUNNING') return;
    this.finish(execution, { status: 'ABORTED', cause });
    execution.abort();
    for (const token of execution.tokens) {
      const pending = this.pending.get(token);
      this.pending.delete(token);
      this.spent.add(token);
      pending?.reject(new ExecutionStoppedError());
    }
    execution.tokens.clear();
  }

  describe(executionArn: string): ExecutionDescription | undefined {
    const execution = this.executions.get(executionArn);
    return execution && structuredClone(execution.description);
  }

  history(executionArn: string): readonly HistoryEvent[] {
    return this.executions.get(executionArn)?.history ?? [];
  }

  /** Billed state transitions so far: every state entered, plus every retry. */
  transitions(executionArn: string): number {
    return this.history(executionArn).filter((e) => e.type === 'StateEntered' || e.type === 'StateRetried')
      .length;
  }

  /** Resolves when the execution has ended and its history is complete. */
  async waitForEnd(executionArn: string): Promise<ExecutionDescription> {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new RangeError(`no execution ${executionArn}`);
    return execution.done;
  }

  /** Task tokens the execution is waiting on right now. */
  waitingTokens(executionArn: string): string[] {
    return [...(this.executions.get(executionArn)?.tokens ?? [])];
  }

  /** Fires for FAILED, TIMED_OUT and ABORTED, like the EventBridge rule. Returns an unsubscribe function. */
  onStatusChange(listener: StatusChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops every running execution (shutdown, test teardown). */
  async close(): Promise<void> {
    const running = [...this.executions.values()].filter((e) => e.description.status === 'RUNNING');
    for (const execution of running) this.abort(execution, 'local runtime shut down');
  }

  private take(taskToken: string): PendingToken {
    const pending = this.pending.get(taskToken);
    if (!pending) {
      throw new WorkflowTaskClosedError(this.spent.has(taskToken) ? 'task timed out' : 'invalid token');
    }
    this.pending.delete(taskToken);
    this.spent.add(taskToken);
    this.executions.get(pending.executionArn)?.tokens.delete(taskToken);
    return pending;
  }

  private run(executionArn: string, name: string, input: Record<string, unknown>): void {
    const placeholder = `local-task-token-placeholder:${randomUUID()}`;
    const description: ExecutionDescription = {
      executionArn,
      name,
      status: 'RUNNING',
      input: structuredClone(input),
      startDate: new Date(),
    };
    const execution: Execution = {
      description,
      history: [],
      enteredInput: new Map(),
      tokens: new Set(),
      abort: () => {},
      done: Promise.resolve(description),
    };
    this.executions.set(executionArn, execution);

    const taskResourceLocalHandlers: LocalHandlers = {};
    for (const state of Object.keys(this.options.handlers)) {
      taskResourceLocalHandlers[state] = async (taskInput) =>
        (await this.runTask(execution, state, taskInput, placeholder)) as JsonValue;
    }
    const retryIntervalOverrides: Record<string, number> = {};
    if (this.options.retryIntervalMs !== undefined) {
      for (const state of Object.keys(this.options.handlers)) {
        retryIntervalOverrides[state] = this.options.retryIntervalMs;
      }
    }
    const runOptions: RunOptions = {
      overrides: {
        taskResourceLocalHandlers,
        retryIntervalOverrides,
        ...(this.options.waitOverridesMs ? { waitTimeOverrides: this.options.waitOverridesMs } : {}),
      },
      context: { Task: { Token: placeholder } },
    };
    const { result, eventLogs, abort } = this.machine.run(structuredClone(input) as never, runOptions);
    execution.abort = abort;

    const historyDone = (async () => {
      for await (const event of eventLogs) {
        const entry = toHistoryEvent(event);
        execution.history.push(entry);
        if (entry.type === 'StateEntered' && entry.state)
          execution.enteredInput.set(entry.state, entry.input);
      }
    })();
    const settled = result.then(
      (output) => this.finish(execution, { status: 'SUCCEEDED', output }),
      (error: unknown) => this.finish(execution, endOf(error)),
    );
    execution.done = Promise.all([settled, historyDone]).then(() => structuredClone(execution.description));
  }

  private async runTask(execution: Execution, state: string, taskInput: unknown, placeholder: string) {
    if (execution.description.status !== 'RUNNING') throw new ExecutionStoppedError();
    const handler = this.options.handlers[state as TaskStateName];
    const definition = this.definition.States[state];
    const viaLambdaInvoke = definition?.Type === 'Task' && LAMBDA_INVOKE.test(definition.Resource);
    const payloadOf = (value: unknown) =>
      viaLambdaInvoke && isRecord(value) ? (value.Payload ?? null) : value;

    if (!this.callbackStates.has(state)) {
      const output = await this.invoke(handler, payloadOf(taskInput));
      // lambda:invoke (not .waitForTaskToken) wraps the function's result, as on AWS.
      return viaLambdaInvoke ? { Payload: output, StatusCode: 200 } : output;
    }

    // Let the event-log consumer catch up so the raw state input (for TimeoutSecondsPath) is known.
    await new Promise((resolve) => setImmediate(resolve));
    const timeoutSeconds = this.timeoutSecondsOf(execution, state);
    const taskToken = `${execution.description.name}:${state}:${randomUUID()}`;
    const outcome = new Promise<unknown>((resolve, reject) => {
      this.pending.set(taskToken, { executionArn: execution.description.executionArn, resolve, reject });
    });
    execution.tokens.add(taskToken);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TaskTimeoutError(timeoutSeconds)), timeoutSeconds * 1000);
    });
    outcome.catch(() => {}); // rejected outcomes are observed through the race below
    try {
      await Promise.race([
        this.invoke(handler, replaceDeep(payloadOf(taskInput), placeholder, taskToken)),
        timedOut,
      ]);
      return await Promise.race([outcome, timedOut]);
    } finally {
      clearTimeout(timer);
      if (this.pending.delete(taskToken)) this.spent.add(taskToken);
      execution.tokens.delete(taskToken);
    }
  }

  private timeoutSecondsOf(execution: Execution, state: string): number {
    const path = this.timeoutPaths.get(state);
    if (path === undefined) {
      const definition = this.definition.States[state];
      const fixed = definition?.Type === 'Task' ? definition.TimeoutSeconds : undefined;
      return fixed ?? DEFAULT_TASK_TIMEOUT_SECONDS;
    }
    const value = readPath(execution.enteredInput.get(state), path);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new TaskFailureError(
        'States.Runtime',
        `${path} must be a positive integer, got ${String(value)}`,
      );
    }
    return value;
  }

  private async invoke(handler: TaskHandler, payload: unknown): Promise<unknown> {
    try {
      const output = await handler(structuredClone(payload));
      // A Lambda's result crosses the wire as JSON.
      return output === undefined ? null : JSON.parse(JSON.stringify(output));
    } catch (error) {
      throw new LambdaFunctionError(error);
    }
  }

  private finish(
    execution: Execution,
    end: { status: Exclude<ExecutionStatus, 'RUNNING'>; output?: unknown; error?: string; cause?: string },
  ): void {
    const description = execution.description;
    if (description.status !== 'RUNNING') return; // stop() got there first
    description.status = end.status;
    description.stopDate = new Date();
    if (end.output !== undefined) description.output = end.output;
    if (end.error !== undefined) description.error = end.error;
    if (end.cause !== undefined) description.cause = end.cause;
    for (const token of execution.tokens) {
      this.pending.delete(token);
      this.spent.add(token);
    }
    execution.tokens.clear();
    if (STATUS_CHANGE_FIRED.includes(end.status)) this.emit(description);
  }

  private emit(description: ExecutionDescription): void {
    const event = statusChangeEvent(description, {
      stateMachineArn: this.stateMachineArn,
      region: this.region,
      account: this.account,
    });
    for (const listener of this.listeners) {
      Promise.resolve()
        .then(() => listener(structuredClone(event)))
        .catch((error: unknown) => this.options.onListenerError?.(error));
    }
  }
}

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type JsonValue = Awaited<ReturnType<LocalHandlers[string]>>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `$.a.b` → ['a', 'b']; the only JSONPath shape the ASL uses for TimeoutSecondsPath. */
function parsePath(path: string): string[] {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) {
    throw new RangeError(`TimeoutSecondsPath ${path}: the local runner supports only $.field.field paths`);
  }
  return path.split('.').slice(1);
}

function readPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of parsePath(path)) current = isRecord(current) ? current[key] : undefined;
  return current;
}

function replaceDeep(value: unknown, from: string, to: string): unknown {
  if (value === from) return to;
  if (Array.isArray(value)) return value.map((item) => replaceDeep(item, from, to));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceDeep(v, from, to)]));
  }
  return value;
}
