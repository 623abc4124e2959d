import { auditDigest, DigestInput } from '../application/audit-digest.js';
import type { Deps } from '../application/ports.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaSigner } from '../shared/lambda-signer.js';
import type { DepsSource } from './http-middleware.js';
import { reportingTaskLambda, type TaskHandlerOptions } from './lambda.js';

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  // The EventBridge schedule's event carries no `since`; `{since: <ISO time>}` re-reads from then (backfill).
  reportingTaskLambda(deps, DigestInput, auditDigest, 'audit digest done', options);
export const handler = createHandler(lazyDeps(() => lambdaDeps({ signer: lambdaSigner(), auditOnly: true })));
