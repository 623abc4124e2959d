import { fetchCredentials } from '../application/fetch-credentials.js';
import type { Deps } from '../application/ports.js';
import { jsonResponse } from '../shared/http.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import type { DepsSource, HttpHandlerOptions } from './http-middleware.js';
import { httpLambda } from './lambda.js';

/** GET /requests/{id}/credentials: a separate Lambda, the only one whose role may mint IAM auth tokens. */
export function createHandler(deps: DepsSource<Deps>, options: HttpHandlerOptions = {}) {
  return httpLambda(
    'credentials',
    deps,
    async (state, resolved) => {
      if (!state.caller) throw new Error('no caller on an authenticated route');
      const credentials = await fetchCredentials(
        { requestId: state.match.params.id ?? '', caller: state.caller },
        resolved,
      );
      return jsonResponse(200, credentials);
    },
    options,
  );
}

export const handler = createHandler(lazyDeps(() => lambdaDeps({ provisioners: lambdaProvisioners() })));
