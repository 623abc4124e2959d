import type { Deps } from '../application/ports.js';
import { requestApproval } from '../application/request-approval.js';
import { RequestApprovalInput } from '../application/workflow-io.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaMailer } from '../shared/lambda-mailer.js';
import { lambdaWorkflow } from '../shared/lambda-workflow.js';
import type { DepsSource } from './http-middleware.js';
import { type TaskHandlerOptions, taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  taskLambda(deps, RequestApprovalInput, requestApproval, options);
export const handler = createHandler(
  lazyDeps(() => lambdaDeps({ mailer: lambdaMailer(), workflow: lambdaWorkflow() })),
);
