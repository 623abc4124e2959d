/** The state machine of the assembly, run by the local runner: each Task state invokes the function its ARN names. */
import { LocalWorkflow, type TaskHandlers } from '../workflow-runner.js';
import type { IamGatekeeper } from './gatekeeper.js';
import type { AssemblyModel } from './model.js';
import type { RoleSession } from './sessions.js';

/** The ARN a Task state invokes: its Resource (a function ARN) or its Parameters.FunctionName. */
function taskFunctionArn(state: Record<string, unknown>): string | undefined {
  const resource = String(state.Resource ?? '');
  if (resource.startsWith('arn:aws:lambda:')) return resource;
  const parameters = (state.Parameters ?? {}) as Record<string, unknown>;
  const name = parameters.FunctionName ?? parameters['FunctionName.$'];
  return typeof name === 'string' ? name : undefined;
}

/**
 * The template's definition on the local runner. Before each Task's invoke, the state machine's own role must
 * allow lambda:InvokeFunction on the function, as Step Functions' would.
 */
export function assemblyWorkflow(options: {
  model: AssemblyModel;
  gatekeeper: IamGatekeeper;
  machineSession: RoleSession;
  /** The runtime's invoke (the Lambda service's answer, or not found). */
  invoke: (
    arn: string,
    input: unknown,
  ) => Promise<{ ok: true; result: unknown } | { ok: false; errorType: string; errorMessage: string }>;
  retryIntervalMs?: number | undefined;
  log: (line: string) => void;
}): LocalWorkflow {
  const { model, gatekeeper, machineSession, invoke, log } = options;
  const definition = JSON.parse(model.stateMachine.definition) as {
    States: Record<string, Record<string, unknown>>;
  };
  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [state, spec] of Object.entries(definition.States)) {
    if (spec.Type !== 'Task') continue;
    const arn = taskFunctionArn(spec);
    if (!arn) throw new Error(`Task state ${state} names no function`);
    handlers[state] = async (input) => {
      // The state machine's own role must allow the invoke, as Step Functions' would.
      const denied = await gatekeeper.evaluate(machineSession, [
        { service: 'lambda', action: 'lambda:InvokeFunction', resource: arn },
      ]);
      if (denied) {
        throw Object.assign(new Error(`states is not authorized to invoke ${arn}`), {
          name: 'Lambda.AWSLambdaException',
        });
      }
      const outcome = await invoke(arn, input);
      if (outcome.ok) return outcome.result;
      throw Object.assign(new Error(outcome.errorMessage), { name: outcome.errorType });
    };
  }
  const workflow = new LocalWorkflow({
    handlers: handlers as TaskHandlers,
    stateMachineArn: model.stateMachine.arn,
    definition: definition as never,
    ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
    onListenerError: (error) => log(`execution status change: ${String(error)}`),
  });
  return workflow;
}
