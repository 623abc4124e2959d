import { z } from 'zod';
import { expirySweeper } from '../domain/use-cases/expiry-sweeper.js';
import type { Deps } from '../ports.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaMailer } from '../shared/lambda-mailer.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import { lambdaWorkflow } from '../shared/lambda-workflow.js';
import { logger } from '../shared/powertools.js';
import type { DepsSource } from './http-middleware.js';
import { taskLambda } from './lambda.js';

/** The EventBridge schedule's event (its content is not used), or `{reconcile: true}` to reconcile now. */
const SweepEvent = z.looseObject({ reconcile: z.boolean().optional() });

export const createHandler = (deps: DepsSource<Deps>) =>
  taskLambda(deps, SweepEvent, async (event, resolved) => {
    const report = await expirySweeper({ reconcile: event.reconcile ?? 'hourly' }, resolved);
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
