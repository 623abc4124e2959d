/**
 * Which function runs each Task state of state-machines/access-request.asl.json, read from the ASL itself:
 * a Task names its function by the placeholder `${<Name>FunctionArn}` as its Resource, or as
 * Parameters.FunctionName for `lambda:invoke.waitForTaskToken`. The task functions are those of kind `task`
 * in functions/function-registry.ts. CDK (definitionSubstitutions), the local runner (state overrides) and
 * tests read this module; it reads a file, so Lambda bundles never import it.
 *
 * Plain tasks use the function ARN as Resource (not `lambda:invoke` + Payload + ResultSelector): AWS then
 * passes the effective input as the event and the function's return value as the result, which is exactly
 * what aws-local-stepfunctions does with a state override, so the ASL runs unchanged in both places.
 * Only RequestApproval needs `lambda:invoke.waitForTaskToken` (the only way to get `$$.Task.Token`); its
 * result is the SendTaskSuccess output on AWS and in the local runner alike.
 */
import { readFileSync } from 'node:fs';
import { ASL_PATH } from './application/workflow-io.js';
import { FUNCTIONS, functionsOfKind, type TaskFunction, type TaskStateName } from './function-registry.js';

type PascalCase<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Capitalize<Head>}${PascalCase<Tail>}`
  : Capitalize<S>;

/** An ASL placeholder: the ARN of one task function (grant → GrantFunctionArn). */
export type AslSubstitution = `${PascalCase<TaskFunction>}FunctionArn`;

/** The functions the workflow invokes, in registry order. */
export const TASK_FUNCTIONS: readonly TaskFunction[] = functionsOfKind('task');

/** The placeholder naming a task function's ARN in the ASL. */
export function substitutionOf(name: TaskFunction): AslSubstitution {
  const pascal = name.replace(/(^|-)([a-z])/g, (_, _dash: string, letter: string) => letter.toUpperCase());
  return `${pascal}FunctionArn` as AslSubstitution;
}

/** Every `${…}` placeholder of the ASL; CDK passes each as a definitionSubstitution (a Lambda ARN). */
export const ASL_SUBSTITUTIONS: readonly AslSubstitution[] = TASK_FUNCTIONS.map(substitutionOf);

/** Which placeholder names which function's ARN. */
export const SUBSTITUTION_HANDLERS = Object.fromEntries(
  TASK_FUNCTIONS.map((name) => [substitutionOf(name), name]),
) as Readonly<Record<AslSubstitution, TaskFunction>>;

/** A Task state's function; `callback` marks the `.waitForTaskToken` state that waits for SendTask* calls. */
export interface TaskStateSpec {
  readonly handler: TaskFunction;
  readonly callback: boolean;
}

interface AslTask {
  Type: string;
  Resource?: string;
  Parameters?: { FunctionName?: unknown };
}

/**
 * Every Task state of an ASL definition and the task function its placeholder names; throws unless they are
 * exactly the states the registry gives each task function.
 */
export function taskStatesOf(definition: {
  States: Record<string, AslTask>;
}): Record<TaskStateName, TaskStateSpec> {
  const byPlaceholder = new Map(TASK_FUNCTIONS.map((name) => [`\${${substitutionOf(name)}}`, name]));
  const specs: Record<string, TaskStateSpec> = {};
  for (const [state, { Type, Resource, Parameters }] of Object.entries(definition.States)) {
    if (Type !== 'Task') continue;
    const callback = Resource?.endsWith('.waitForTaskToken') ?? false;
    const named = Resource?.startsWith('arn:aws:states:::lambda:invoke')
      ? Parameters?.FunctionName
      : Resource;
    const handler = typeof named === 'string' ? byPlaceholder.get(named) : undefined;
    if (!handler) throw new Error(`Task state ${state} names no task function (${String(named)})`);
    specs[state] = { handler, callback };
  }
  const declared = TASK_FUNCTIONS.flatMap((name) =>
    FUNCTIONS[name].states.map((state) => `${state}→${name}`),
  );
  const found = Object.entries(specs).map(([state, { handler }]) => `${state}→${handler}`);
  if (declared.sort().join() !== found.sort().join()) {
    throw new Error(`the ASL's Task states (${found}) are not the registry's (${declared})`);
  }
  return specs as Record<TaskStateName, TaskStateSpec>;
}

/** The repository's ASL, as CDK deploys it and the local runner runs it. */
const ASL_DEFINITION = JSON.parse(readFileSync(new URL(`../${ASL_PATH}`, import.meta.url), 'utf8')) as {
  States: Record<string, AslTask>;
};

/** Every Task state of the ASL and the function it invokes, so the local runner overrides each state. */
export const TASK_STATES: Readonly<Record<TaskStateName, TaskStateSpec>> = taskStatesOf(ASL_DEFINITION);
export type { TaskStateName };
