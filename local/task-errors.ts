/** The errors a Task state sees in the local workflow, named and shaped as Step Functions names them. */

/** A handler's error as Step Functions surfaces it: Error = its name, Cause = Lambda's JSON error body. */
export class LambdaFunctionError extends Error {
  readonly code = 'LAMBDA_FUNCTION_ERROR';
  constructor(error: unknown) {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    super(JSON.stringify({ errorType: name, errorMessage: message }));
    this.name = name;
  }
}

/** States.Timeout raised by this adapter for TimeoutSecondsPath, which the library evaluates elsewhere. */
export class TaskTimeoutError extends Error {
  readonly code = 'States.Timeout';
  constructor(seconds: number) {
    super(`the task did not complete within ${seconds} s`);
    this.name = 'States.Timeout';
  }
}

/** What a task token's waiting task receives from SendTaskFailure. */
export class TaskFailureError extends Error {
  readonly code = 'TASK_FAILURE';
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/** Ends a task that was still running or waiting when its execution was stopped. */
export class ExecutionStoppedError extends Error {
  readonly code = 'EXECUTION_STOPPED';
  constructor() {
    super('the execution was stopped');
    this.name = 'ExecutionStopped';
  }
}
