import type { APIGatewayProxyResult } from 'aws-lambda';
import { cancelRequest } from '../application/cancel-request.js';
import { createRequest } from '../application/create-request.js';
import { decideFromApi } from '../application/decide-request.js';
import { extendRequest } from '../application/extend-request.js';
import { getRequest } from '../application/get-request.js';
import { getResult } from '../application/get-result.js';
import { listRequests } from '../application/list-requests.js';
import { listTargets } from '../application/list-targets.js';
import type { Deps } from '../application/ports.js';
import { requestAudit } from '../application/request-audit.js';
import { reviewRequest } from '../application/review-request.js';
import { revokeEarly } from '../application/revoke-early.js';
import type { Identity } from '../domain/types.js';
import { jsonResponse } from '../shared/http.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaMailer } from '../shared/lambda-mailer.js';
import { lambdaRevoker } from '../shared/lambda-revoker.js';
import { lambdaSigner } from '../shared/lambda-signer.js';
import { lambdaWorkflow } from '../shared/lambda-workflow.js';
import type { DepsSource, HttpHandlerOptions, HttpState } from './http-middleware.js';
import { httpLambda } from './lambda.js';
import { openApiDocument } from './openapi.js';
import type { OperationId } from './routes.js';

type ApiOperation = Exclude<OperationId, 'fetchCredentials' | 'showApprovalLink' | 'decideApprovalLink'>;

function callerOf(state: HttpState): Identity {
  // httpRequest refuses iam routes without a caller; this only narrows the type.
  if (!state.caller) throw new Error('no caller on an authenticated route');
  return state.caller;
}

function idOf(state: HttpState): string {
  return state.match.params.id ?? '';
}

/** Every REST route the api Lambda serves, by operation id: parse → use case → JSON. */
const OPERATIONS: Record<ApiOperation, (state: HttpState, deps: Deps) => Promise<unknown>> = {
  createRequest: async (s, deps) =>
    (await createRequest({ body: s.body, caller: callerOf(s) }, deps)).request,
  listRequests: (s, deps) => listRequests({ query: s.query, caller: callerOf(s) }, deps),
  getRequest: (s, deps) => getRequest({ requestId: idOf(s), caller: callerOf(s) }, deps),
  approveRequest: (s, deps) =>
    decideFromApi({ requestId: idOf(s), caller: callerOf(s), decision: 'approve', body: s.body }, deps),
  denyRequest: (s, deps) =>
    decideFromApi({ requestId: idOf(s), caller: callerOf(s), decision: 'deny', body: s.body }, deps),
  cancelRequest: (s, deps) => cancelRequest({ requestId: idOf(s), caller: callerOf(s), body: s.body }, deps),
  revokeRequest: (s, deps) => revokeEarly({ requestId: idOf(s), caller: callerOf(s), body: s.body }, deps),
  extendRequest: (s, deps) => extendRequest({ requestId: idOf(s), caller: callerOf(s), body: s.body }, deps),
  reviewRequest: (s, deps) => reviewRequest({ requestId: idOf(s), caller: callerOf(s), body: s.body }, deps),
  getResult: (s, deps) => getResult({ requestId: idOf(s), caller: callerOf(s) }, deps),
  requestAudit: (s, deps) => requestAudit({ requestId: idOf(s), caller: callerOf(s) }, deps),
  listTargets: async (s, deps) => listTargets({ caller: callerOf(s) }, deps),
  openApi: async (_s, deps) => openApiDocument(deps.publicBaseUrl),
};

function isApiOperation(id: OperationId): id is ApiOperation {
  return id in OPERATIONS;
}

/** The api Lambda wired to `deps`: what Lambda runs (with env deps) and what local/ and tests run. */
export function createHandler(deps: DepsSource<Deps>, options: HttpHandlerOptions = {}) {
  return httpLambda(
    'api',
    deps,
    async (state, resolved): Promise<APIGatewayProxyResult> => {
      const { route } = state.match;
      if (!isApiOperation(route.operationId))
        throw new Error(`route ${route.operationId} is not served by api`);
      const result = await OPERATIONS[route.operationId](state, resolved);
      return jsonResponse(route.successStatus, result);
    },
    options,
  );
}

export const handler = createHandler(
  lazyDeps(() =>
    lambdaDeps({
      mailer: lambdaMailer(),
      workflow: lambdaWorkflow(),
      // No provisioners: this function faces callers and reaches no database; an early revoke runs in the
      // revoke function.
      revoker: lambdaRevoker(),
      signer: lambdaSigner(), // checks digests with the key's public half (kms:GetPublicKey)
    }),
  ),
);
