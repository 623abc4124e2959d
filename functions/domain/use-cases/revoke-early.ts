import type { Deps } from '../../ports.js';
import { assertMayRevoke } from '../authz.js';
import { ForbiddenError, PolicyRefusedError } from '../errors.js';
import { DecisionBody, parseInput } from '../schemas.js';
import type { Identity } from '../types.js';
import { loadRequest, type RequestView, refuse, retryOnConflict, viewOf } from './common.js';
import { levelOrUndefined } from './get-request.js';
import { revokeGrant } from './revoke.js';

/**
 * Ends an active grant now (the requester giving access back, or an approver taking it away): drops the user
 * and its sessions, records REVOKED, then stops the execution that would have revoked at expiry.
 */
export async function revokeEarly(
  input: { requestId: string; caller: Identity; body: unknown },
  deps: Deps,
): Promise<RequestView> {
  parseInput(DecisionBody, input.body);
  const request = await loadRequest(deps, input.requestId);
  try {
    assertMayRevoke(input.caller, request, levelOrUndefined(deps, request), deps.clock.now());
  } catch (error) {
    if (error instanceof ForbiddenError) await refuse(deps, request, input.caller, error);
    throw error;
  }
  if (request.status === 'REVOKED') return viewOf(request);
  if (request.status !== 'ACTIVE' && request.status !== 'REVOKE_FAILED') {
    throw new PolicyRefusedError('REQUEST_NOT_ACTIVE', `the request is ${request.status}, not ACTIVE`, {
      details: { status: request.status },
    });
  }
  const saved = await retryOnConflict(() => revokeGrant(deps, input.requestId, 'early', input.caller));
  await stopExecution(deps, saved.id, saved.executionArn);
  return viewOf(saved);
}

/** Stops the request's execution (found by its name); one that already ended is fine. */
async function stopExecution(deps: Deps, requestId: string, known: string | undefined): Promise<void> {
  try {
    const executionArn = known ?? (await deps.workflow.start(requestId, { requestId })).executionArn;
    await deps.workflow.stop(executionArn, 'revoked early');
  } catch (error) {
    // Revocation is done; the execution's own Revoke step finds REVOKED and ends.
    deps.log?.warn('execution not stopped after an early revoke', {
      requestId,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}
