import { expirySweeper, SweepInput } from '../domain/use-cases/expiry-sweeper.js';
import type { Deps } from '../ports.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaMailer } from '../shared/lambda-mailer.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import { lambdaWorkflow } from '../shared/lambda-workflow.js';
import { logger } from '../shared/powertools.js';
import type { DepsSource } from './http-middleware.js';
import { taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>) =>
  // The EventBridge schedule's event carries no `reconcile` (hourly); `{reconcile: 'now' | 'never'}` overrides it.
  taskLambda(deps, SweepInput, async (event, resolved) => {
    const report = await expirySweeper(event, resolved);
    logger.info('sweep done', { report });
    return report;
  });
export const handler = createHandler(
  lazyDeps(() =>
    lambdaDeps('expiry-sweeper', {
      mailer: lambdaMailer(),
      workflow: lambdaWorkflow(),
      provisioners: lambdaProvisioners(),
    }),
  ),
);
