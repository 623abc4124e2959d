import type { Deps } from '../../ports.js';
import { applyEvent } from '../lifecycle.js';
import type { AccessRequest } from '../types.js';
import type { RecordOutcomeInput, TaskError } from '../workflow-io.js';
import { loadRequest, notifyRetired, redactErrorText, retryOnConflict, targetOf } from './common.js';
import { revokeGrant } from './revoke.js';

const MAX_MESSAGE = 300;

/** The lastError code of an APPROVED request whose approval the workflow never took (it timed out first). */
export const APPROVAL_NOT_DELIVERED = 'ApprovalNotDelivered';

/**
 * `{Error, Cause}` from Step Functions as a short code and message. A Lambda's Cause is its error as JSON
 * (`{errorType, errorMessage, trace}`): only the message is kept, never the trace, and anything shaped like a
 * secret is masked, because Cause is whatever the failing code put in its error.
 */
export function errorOf(error: TaskError | undefined): { code: string; message: string } {
  if (!error) return { code: 'Unknown', message: 'no error given' };
  const code = error.Error.replace(/[^A-Za-z0-9._:-]/g, '').slice(0, 100) || 'Unknown';
  const cause = error.Cause ?? '';
  let message = cause;
  try {
    const parsed: unknown = JSON.parse(cause);
    if (parsed !== null && typeof parsed === 'object' && 'errorMessage' in parsed) {
      message = typeof parsed.errorMessage === 'string' ? parsed.errorMessage : '';
    } else if (typeof parsed === 'string') {
      message = parsed;
    } else {
      message = ''; // JSON of an unknown shape: nothing we know to be a message
    }
  } catch {
    // not JSON: a plain cause string
  }
  return { code, message: redactErrorText(message, MAX_MESSAGE) };
}

/**
 * Where the workflow ends badly: the approval window closed (EXPIRED), the grant failed (whatever was made is
 * dropped, then FAILED), or revoke retries ran out (REVOKE_FAILED, alarmed; the sweeper keeps trying).
 * Each is safe to run twice: a second call finds the request already moved and records nothing.
 */
export async function recordOutcome(input: RecordOutcomeInput, deps: Deps): Promise<Record<string, never>> {
  if (input.outcome === 'approval-expired') await approvalExpired(input, deps);
  else if (input.outcome === 'grant-failed') await grantFailed(input, deps);
  else await revokeFailed(input, deps);
  return {};
}

/**
 * The approval step timed out. PENDING → EXPIRED. An APPROVED request here is one whose last approval landed
 * but never reached the workflow (a race with the timeout, or an outage): nothing will grant it now, so it is
 * FAILED at once rather than left APPROVED with no execution behind it. The requester may ask again.
 */
async function approvalExpired(input: RecordOutcomeInput, deps: Deps): Promise<void> {
  await retryOnConflict(async () => {
    const request = await loadRequest(deps, input.requestId);
    const now = deps.clock.now();
    if (request.status === 'PENDING') {
      const { next, audit } = applyEvent(request, { type: 'approval-expired' }, { now });
      const saved = await deps.requests.transition(request, next, audit);
      await notifyRetired(deps, request, saved, 'expired without a decision');
    } else if (request.status === 'APPROVED') {
      const error = {
        code: APPROVAL_NOT_DELIVERED,
        message: 'the approval reached the workflow after its approval window closed; nothing was granted',
      };
      const { next, audit } = applyEvent(request, { type: 'grant-failed', error }, { now });
      await deps.requests.transition(request, next, audit);
    }
  });
}

/**
 * Grant retries are spent. APPROVED → FAILED after dropping whatever the grant half made. An ACTIVE request
 * here means the grant did land but its task failed after (a timeout): the workflow will not wait for expiry,
 * so the grant is revoked now instead of lingering until the sweeper sees expiresAt.
 */
async function grantFailed(input: RecordOutcomeInput, deps: Deps): Promise<void> {
  const first = await loadRequest(deps, input.requestId);
  if (first.status === 'ACTIVE' || first.status === 'REVOKE_FAILED') {
    await retryOnConflict(() => revokeGrant(deps, first.id, 'execution-ended'));
    return;
  }
  if (first.status !== 'APPROVED' && first.status !== 'FAILED') return;
  await dropHalfMadeUser(deps, first);
  await retryOnConflict(async () => {
    const request = await loadRequest(deps, input.requestId);
    if (request.status !== 'APPROVED') return;
    const { next, audit } = applyEvent(
      request,
      { type: 'grant-failed', error: errorOf(input.error) },
      { now: deps.clock.now() },
    );
    await deps.requests.transition(request, next, audit);
  });
}

async function dropHalfMadeUser(deps: Deps, request: AccessRequest): Promise<void> {
  const target = targetOf(deps, request);
  if (!target) return;
  try {
    await deps.provisioners.for(target).revoke({ requestId: request.id, dbUser: request.dbUser, target });
  } catch (error) {
    deps.log?.warn('could not clean up after a failed grant; the reconciler will', {
      requestId: request.id,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}

/**
 * Revoke retries are spent: REVOKE_FAILED (alarmed with the RevokeFailed metric); the sweeper retries every
 * minute. A retry of this step (the same error already recorded) records nothing again.
 */
async function revokeFailed(input: RecordOutcomeInput, deps: Deps): Promise<void> {
  const error = errorOf(input.error);
  const recorded = await retryOnConflict(async () => {
    const request = await loadRequest(deps, input.requestId);
    if (request.status !== 'ACTIVE' && request.status !== 'REVOKE_FAILED') return false;
    const last = request.lastError;
    if (request.status === 'REVOKE_FAILED' && last?.code === error.code && last.message === error.message) {
      return false;
    }
    const { next, audit } = applyEvent(request, { type: 'revoke-failed', error }, { now: deps.clock.now() });
    await deps.requests.transition(request, next, audit);
    return true;
  });
  if (recorded) deps.metrics.count('RevokeFailed');
}
