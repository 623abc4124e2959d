import { ConflictError } from '../domain/errors.js';
import { isRequestId } from '../domain/naming.js';
import { retryOnConflict } from './conflict-retry.js';
import { expireUndecided, failNeverGranted, recordRevokeFailed, revokeErrorOf } from './failures.js';
import type { Deps } from './ports.js';
import { loadRequest } from './request-lookup.js';
import { revokeGrant } from './revoke-grant.js';

export interface ExecutionStatusChange {
  status: string;
  /** The execution name: the request id. */
  name?: string;
  executionArn?: string;
  input?: string | null;
}

/** The request id of an execution: its name, else its input's requestId. */
export function requestIdOfExecution(detail: ExecutionStatusChange): string | undefined {
  if (isRequestId(detail.name)) return detail.name;
  const last = detail.executionArn?.split(':').at(-1);
  if (isRequestId(last)) return last;
  try {
    const parsed = JSON.parse(detail.input ?? '') as { requestId?: unknown };
    return isRequestId(parsed.requestId) ? parsed.requestId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An execution ended FAILED, TIMED_OUT or ABORTED (stopped by hand, crashed): anything granted is revoked now;
 * an approved request never granted is FAILED (its user, if half made, dropped); a pending one EXPIRED.
 */
export async function executionStatusChange(
  detail: ExecutionStatusChange,
  deps: Deps,
): Promise<{ requestId?: string; action: string }> {
  if (!['FAILED', 'TIMED_OUT', 'ABORTED'].includes(detail.status)) return { action: 'ignored' };
  const requestId = requestIdOfExecution(detail);
  if (!requestId) return { action: 'ignored' };
  return retryOnConflict(async () => {
    const request = await loadRequest(deps, requestId);
    if (request.status === 'ACTIVE' || request.status === 'REVOKE_FAILED') {
      try {
        await revokeGrant(deps, requestId, 'execution-ended');
        return { requestId, action: 'revoked' };
      } catch (error) {
        if (error instanceof ConflictError) throw error;
        // Nothing waits for this grant's expiry any more: REVOKE_FAILED makes the sweeper retry every minute.
        await recordRevokeFailed(deps, await loadRequest(deps, requestId), revokeErrorOf(error), {
          sameErrorAgain: true,
          countMetric: true,
        });
        return { requestId, action: 'revoke-failed' };
      }
    }
    if (request.status === 'APPROVED') {
      // A user that cannot be dropped fails this event (EventBridge retries it; the sweeper converges after).
      const error = { code: `Execution${detail.status}`, message: `the workflow ended ${detail.status}` };
      await failNeverGranted(deps, request, error, 'required');
      return { requestId, action: 'failed' };
    }
    if (request.status === 'PENDING') {
      await expireUndecided(deps, request);
      return { requestId, action: 'expired' };
    }
    return { requestId, action: 'none' };
  });
}
