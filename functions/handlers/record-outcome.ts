import { recordOutcome } from '../domain/use-cases/record-outcome.js';
import { RecordOutcomeInput } from '../domain/workflow-io.js';
import type { Deps } from '../ports.js';
import { lazyDeps } from '../shared/adapters.js';
import type { DepsSource } from './http-middleware.js';
import { taskLambda } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>) => taskLambda(deps, RecordOutcomeInput, recordOutcome);
export const handler = createHandler(lazyDeps());
