import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent } from 'aws-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type StateMachine,
} from 'aws-local-stepfunctions';

/**
 * What the local workflow reports about an execution, in Step Functions' shapes: its description, its history
 * (from the library's event log), how it ended, and the EventBridge "Execution Status Change" event.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionDescription {
  executionArn: string;
  name: string;
  status: ExecutionStatus;
  input: Record<string, unknown>;
  output?: unknown;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate?: Date;
}

/** One entry of an execution's history, from the library's event log. */
export interface HistoryEvent {
  type: string;
  timestamp: number;
  state?: string;
  stateType?: string;
  input?: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
}

/** The `detail` of EventBridge's "Step Functions Execution Status Change" event. */
export interface ExecutionStatusChangeDetail {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate: number | null;
  input: string;
  output: string | null;
  error: string | null;
  cause: string | null;
}
export type ExecutionStatusChangeEvent = EventBridgeEvent<
  'Step Functions Execution Status Change',
  ExecutionStatusChangeDetail
>;
export type StatusChangeListener = (event: ExecutionStatusChangeEvent) => void | Promise<void>;

/** Fired statuses, as the EventBridge rule that revokes on a broken execution filters them. */
export const STATUS_CHANGE_FIRED: readonly ExecutionStatus[] = ['FAILED', 'TIMED_OUT', 'ABORTED'];

/** The EventBridge event Step Functions sends when an execution ends as `description` says. */
export function statusChangeEvent(
  description: ExecutionDescription,
  { stateMachineArn, region, account }: { stateMachineArn: string; region: string; account: string },
): ExecutionStatusChangeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account,
    time: (description.stopDate ?? new Date()).toISOString(),
    region,
    resources: [description.executionArn],
    detail: {
      executionArn: description.executionArn,
      stateMachineArn,
      name: description.name,
      status: description.status,
      startDate: description.startDate.getTime(),
      stopDate: description.stopDate?.getTime() ?? null,
      input: JSON.stringify(description.input),
      output: null,
      error: description.error ?? null,
      cause: description.cause ?? null,
    },
  };
}

/** How an execution ended, from the error its run rejected with. */
export function endOf(error: unknown): {
  status: Exclude<ExecutionStatus, 'RUNNING'>;
  error?: string;
  cause?: string;
} {
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout' };
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    return { status: 'FAILED', error: error.cause.name, cause: error.cause.message };
  }
  return {
    status: 'FAILED',
    error: 'States.Runtime',
    cause: error instanceof Error ? error.message : String(error),
  };
}

type LibraryEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export function toHistoryEvent(event: LibraryEvent): HistoryEvent {
  const entry: HistoryEvent = { type: event.type, timestamp: event.timestamp };
  if ('state' in event) {
    entry.state = event.state.name;
    entry.stateType = event.state.type;
    entry.input = event.state.input;
    if (event.state.output !== undefined) entry.output = event.state.output;
  }
  if ('Error' in event) {
    entry.error = event.Error;
    entry.cause = typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause);
  }
  return entry;
}
