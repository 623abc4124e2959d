import { expirySweeper, SweepInput } from '../application/expiry-sweeper.js';
import type { Deps } from '../application/ports.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaMailer } from '../shared/lambda-mailer.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import { lambdaWorkflow } from '../shared/lambda-workflow.js';
import type { DepsSource } from './http-middleware.js';
import { reportingTaskLambda, type TaskHandlerOptions } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  // The EventBridge schedule's event carries no `reconcile` (hourly); `{reconcile: 'now' | 'never'}` overrides it.
  reportingTaskLambda(deps, SweepInput, expirySweeper, 'sweep done', options);
export const handler = createHandler(
  lazyDeps(() =>
    lambdaDeps({
      mailer: lambdaMailer(),
      workflow: lambdaWorkflow(),
      provisioners: lambdaProvisioners(),
    }),
  ),
);
