import { assertMayRevoke } from '../domain/authz.js';
import { PolicyRefusedError } from '../domain/errors.js';
import { DecisionBody, parseInput } from '../domain/schemas.js';
import type { Identity } from '../domain/types.js';
import { retryOnConflict } from './conflict-retry.js';
import type { Deps } from './ports.js';
import { authorise } from './refusals.js';
import { levelOrUndefined, loadRequest } from './request-lookup.js';
import { type RequestView, viewOf } from './request-view.js';
import { revokeGrant } from './revoke-grant.js';

/**
 * Ends an active grant now (the requester giving access back, or an approver taking it away): drops the user
 * and its sessions, records REVOKED, then stops the execution that would have revoked at expiry. On AWS the
 * drop runs in the revoke function (deps.revoker): the API function itself cannot reach a database.
 */
export async function revokeEarly(
  input: { requestId: string; caller: Identity; body: unknown },
  deps: Deps,
): Promise<RequestView> {
  parseInput(DecisionBody, input.body);
  const request = await loadRequest(deps, input.requestId);
  await authorise(deps, request, input.caller, () =>
    assertMayRevoke(input.caller, request, levelOrUndefined(deps, request), deps.clock.now()),
  );
  if (request.status === 'REVOKED') return viewOf(request);
  if (request.status !== 'ACTIVE' && request.status !== 'REVOKE_FAILED') {
    throw new PolicyRefusedError('REQUEST_NOT_ACTIVE', `the request is ${request.status}, not ACTIVE`, {
      details: { status: request.status },
    });
  }
  const saved = deps.revoker
    ? await deps.revoker
        .revokeEarly(input.requestId, input.caller)
        .then(() => loadRequest(deps, input.requestId))
    : await retryOnConflict(() => revokeGrant(deps, input.requestId, 'early', input.caller));
  await stopExecution(deps, saved.id);
  return viewOf(saved);
}

/**
 * Stops the request's execution; one that already ended, or never existed, is fine. If it cannot be stopped,
 * revocation is still done: the execution's own Revoke step finds REVOKED and ends at expiry.
 */
async function stopExecution(deps: Deps, requestId: string): Promise<void> {
  try {
    await deps.workflow.stop(requestId, 'revoked early');
  } catch (error) {
    deps.log.warn('execution not stopped after an early revoke', {
      requestId,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}
