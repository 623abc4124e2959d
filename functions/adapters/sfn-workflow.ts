/**
 * The Workflow port on AWS Step Functions: one Standard execution per request, named after the request id.
 *
 * - start: StartExecution is idempotent only while the execution runs with the same input; for an ended
 *   one it answers ExecutionAlreadyExists. That is still "started" for us, so the existing execution's
 *   input is compared (DescribeExecution) and its ARN returned; a different input is a ConflictError.
 * - sendTaskSuccess / sendTaskFailure: TaskTimedOut (completed already or timed out), TaskDoesNotExist and
 *   InvalidToken become WorkflowTaskClosedError, so the caller can tell "too late" from an outage (which
 *   propagates as is). The caller decides: the approval API refuses the late decision with 409.
 * - stop: stopping an execution that does not exist is a no-op, so stop is safe to call twice.
 */
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import type { Workflow } from '../application/ports.js';
import { executionArnFor, WorkflowTaskClosedError } from '../application/workflow-io.js';
import { ConflictError } from '../domain/errors.js';

/** SendTaskFailure's limits (characters) per the Step Functions API reference. */
const MAX_ERROR_LENGTH = 256;
const MAX_CAUSE_LENGTH = 32_768;

export interface SfnWorkflowOptions {
  client: SFNClient;
  /** STATE_MACHINE_ARN. */
  stateMachineArn: string;
}

export class SfnWorkflow implements Workflow {
  constructor(private readonly options: SfnWorkflowOptions) {}

  async start(requestId: string, input: Record<string, unknown>): Promise<{ executionArn: string }> {
    const json = JSON.stringify(input);
    try {
      const started = await this.options.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.options.stateMachineArn,
          name: requestId,
          input: json,
        }),
      );
      return {
        executionArn: started.executionArn ?? executionArnFor(this.options.stateMachineArn, requestId),
      };
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
      const executionArn = executionArnFor(this.options.stateMachineArn, requestId);
      const existing = await this.options.client.send(new DescribeExecutionCommand({ executionArn }));
      if (!sameJson(existing.input, json)) {
        throw new ConflictError(`execution ${requestId} already exists with a different input`, error);
      }
      return { executionArn };
    }
  }

  async sendTaskSuccess(taskToken: string, output: Record<string, unknown>): Promise<void> {
    await this.completing(() =>
      this.options.client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) })),
    );
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    await this.completing(() =>
      this.options.client.send(
        new SendTaskFailureCommand({
          taskToken,
          error: error.slice(0, MAX_ERROR_LENGTH),
          cause: cause.slice(0, MAX_CAUSE_LENGTH),
        }),
      ),
    );
  }

  /** Stops the execution by its ARN, computed (never found by starting it: that could run a second one). */
  async stop(requestId: string, cause: string): Promise<void> {
    const executionArn = executionArnFor(this.options.stateMachineArn, requestId);
    try {
      await this.options.client.send(
        new StopExecutionCommand({ executionArn, cause: cause.slice(0, MAX_CAUSE_LENGTH) }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionDoesNotExist)) throw error;
    }
  }

  private async completing(send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (error) {
      if (error instanceof TaskTimedOut) throw new WorkflowTaskClosedError('task timed out', error);
      if (error instanceof TaskDoesNotExist) throw new WorkflowTaskClosedError('task does not exist', error);
      if (error instanceof InvalidToken) throw new WorkflowTaskClosedError('invalid token', error);
      throw error;
    }
  }
}

function sameJson(stored: string | undefined, json: string): boolean {
  if (stored === undefined) return false;
  try {
    return JSON.stringify(JSON.parse(stored)) === json;
  } catch {
    return false;
  }
}

/** A workflow on `stateMachineArn` with its own Step Functions client in `region` (the Lambda wiring's entry point). */
export function sfnWorkflow(stateMachineArn: string, region: string | undefined): SfnWorkflow {
  return new SfnWorkflow({ client: new SFNClient(region ? { region } : {}), stateMachineArn });
}
