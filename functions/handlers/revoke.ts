import type { Deps } from '../application/ports.js';
import { revokeTask } from '../application/revoke-at-expiry.js';
import { RevokeInput } from '../application/workflow-io.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import type { DepsSource } from './http-middleware.js';
import { type TaskHandlerOptions, taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  taskLambda(deps, RevokeInput, revokeTask, options);
export const handler = createHandler(lazyDeps(() => lambdaDeps({ provisioners: lambdaProvisioners() })));
