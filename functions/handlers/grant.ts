import { grant } from '../application/grant.js';
import type { Deps } from '../application/ports.js';
import { GrantInput } from '../application/workflow-io.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import type { DepsSource } from './http-middleware.js';
import { type TaskHandlerOptions, taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  taskLambda(deps, GrantInput, grant, options);
export const handler = createHandler(lazyDeps(() => lambdaDeps({ provisioners: lambdaProvisioners() })));
