import { retryOnConflict } from './conflict-retry.js';
import {
  APPROVAL_NOT_DELIVERED,
  dropHalfMadeUser,
  expireUndecided,
  failNeverGranted,
  recordRevokeFailed,
} from './failures.js';
import { notifyRetired } from './notifications.js';
import type { Deps } from './ports.js';
import { redactErrorText } from './redact.js';
import { loadRequest } from './request-lookup.js';
import { revokeGrant } from './revoke-grant.js';
import type { RecordOutcomeInput, TaskError } from './workflow-io.js';

const MAX_MESSAGE = 300;

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
    if (request.status === 'PENDING') {
      const saved = await expireUndecided(deps, request);
      if (saved) await notifyRetired(deps, request, saved, 'expired without a decision');
    } else {
      // Nothing was granted: no Grant step ran, so there is no user to drop.
      await failNeverGranted(deps, request, NOT_DELIVERED, 'none');
    }
  });
}

const NOT_DELIVERED = {
  code: APPROVAL_NOT_DELIVERED,
  message: 'the approval reached the workflow after its approval window closed; nothing was granted',
};

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
  // Dropped once, before the transition's retries, and again on a retry of this step (FAILED already).
  await dropHalfMadeUser(deps, first, 'best-effort');
  const error = errorOf(input.error);
  await retryOnConflict(async () =>
    failNeverGranted(deps, await loadRequest(deps, input.requestId), error, 'none'),
  );
}

/**
 * Revoke retries are spent: REVOKE_FAILED (alarmed with the RevokeFailed metric); the sweeper retries every
 * minute. A retry of this step (the same error already recorded) records nothing again.
 */
async function revokeFailed(input: RecordOutcomeInput, deps: Deps): Promise<void> {
  const error = errorOf(input.error);
  await retryOnConflict(async () =>
    recordRevokeFailed(deps, await loadRequest(deps, input.requestId), error, {
      sameErrorAgain: false,
      countMetric: true,
    }),
  );
}
