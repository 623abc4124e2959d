import type { Deps } from '../application/ports.js';
import { recordOutcome } from '../application/record-outcome.js';
import { RecordOutcomeInput } from '../application/workflow-io.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaMailer } from '../shared/lambda-mailer.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import type { DepsSource } from './http-middleware.js';
import { type TaskHandlerOptions, taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  taskLambda(deps, RecordOutcomeInput, recordOutcome, options);
export const handler = createHandler(
  lazyDeps(() => lambdaDeps({ mailer: lambdaMailer(), provisioners: lambdaProvisioners() })),
);
