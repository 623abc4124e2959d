import { evaluatePolicy } from '../domain/use-cases/evaluate-policy.js';
import { EvaluatePolicyInput } from '../domain/workflow-io.js';
import type { Deps } from '../ports.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import type { DepsSource } from './http-middleware.js';
import { taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>) =>
  taskLambda(deps, EvaluatePolicyInput, evaluatePolicy);
export const handler = createHandler(lazyDeps(() => lambdaDeps('evaluate-policy', {})));
