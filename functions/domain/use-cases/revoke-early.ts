import type { Deps } from '../../ports.js';
import { assertMayRevoke } from '../authz.js';
import { ForbiddenError, PolicyRefusedError } from '../errors.js';
import { DecisionBody, parseInput } from '../schemas.js';
import type { Identity } from '../types.js';
import { executionArnFor } from '../workflow-io.js';
import {
  levelOrUndefined,
  loadRequest,
  type RequestView,
  refuse,
  retryOnConflict,
  viewOf,
} from './common.js';
import { revokeGrant } from './revoke.js';

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
  const saved = deps.revoker
    ? await deps.revoker
        .revokeEarly(input.requestId, input.caller)
        .then(() => loadRequest(deps, input.requestId))
    : await retryOnConflict(() => revokeGrant(deps, input.requestId, 'early', input.caller));
  await stopExecution(deps, saved.id, saved.executionArn);
  return viewOf(saved);
}

/**
 * The request's execution ARN without touching Step Functions: the stored one, else computed from the state
 * machine ARN and the execution name (the request id). Never found by starting it: that could run a second one.
 */
export function executionArnOf(deps: Deps, requestId: string, known: string | undefined): string | undefined {
  if (known) return known;
  return deps.stateMachineArn ? executionArnFor(deps.stateMachineArn, requestId) : undefined;
}

/** Stops the request's execution; one that already ended, or never existed, is fine. */
async function stopExecution(deps: Deps, requestId: string, known: string | undefined): Promise<void> {
  const executionArn = executionArnOf(deps, requestId, known);
  if (!executionArn) {
    // Revocation is done; the execution's own Revoke step finds REVOKED and ends at expiry.
    deps.log?.warn('execution not stopped after an early revoke: its ARN is unknown', { requestId });
    return;
  }
  try {
    await deps.workflow.stop(executionArn, 'revoked early');
  } catch (error) {
    deps.log?.warn('execution not stopped after an early revoke', {
      requestId,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}
