import { evaluatePolicy } from '../application/evaluate-policy.js';
import type { Deps } from '../application/ports.js';
import { EvaluatePolicyInput } from '../application/workflow-io.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import type { DepsSource } from './http-middleware.js';
import { type TaskHandlerOptions, taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  taskLambda(deps, EvaluatePolicyInput, evaluatePolicy, options);
export const handler = createHandler(lazyDeps(() => lambdaDeps({})));
