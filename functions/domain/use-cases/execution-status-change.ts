import type { Deps } from '../../ports.js';
import { ConflictError } from '../errors.js';
import { applyEvent } from '../lifecycle.js';
import { isRequestId } from '../naming.js';
import { loadRequest, redactErrorText, retryOnConflict, targetOf } from './common.js';
import { revokeGrant } from './revoke.js';

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
    const now = deps.clock.now();
    if (request.status === 'ACTIVE' || request.status === 'REVOKE_FAILED') {
      try {
        await revokeGrant(deps, requestId, 'execution-ended');
        return { requestId, action: 'revoked' };
      } catch (error) {
        if (error instanceof ConflictError) throw error;
        // Nothing waits for this grant's expiry any more: REVOKE_FAILED makes the sweeper retry every minute.
        await recordRevokeFailed(deps, requestId, error);
        return { requestId, action: 'revoke-failed' };
      }
    }
    if (request.status === 'APPROVED') {
      const target = targetOf(deps, request);
      if (target) await deps.provisioners.for(target).revoke({ requestId, dbUser: request.dbUser, target });
      const { next, audit } = applyEvent(
        request,
        {
          type: 'grant-failed',
          error: { code: `Execution${detail.status}`, message: `the workflow ended ${detail.status}` },
        },
        { now },
      );
      await deps.requests.transition(request, next, audit);
      return { requestId, action: 'failed' };
    }
    if (request.status === 'PENDING') {
      const { next, audit } = applyEvent(request, { type: 'approval-expired' }, { now });
      await deps.requests.transition(request, next, audit);
      return { requestId, action: 'expired' };
    }
    return { requestId, action: 'none' };
  });
}

async function recordRevokeFailed(deps: Deps, requestId: string, error: unknown): Promise<void> {
  const request = await loadRequest(deps, requestId);
  if (request.status !== 'ACTIVE' && request.status !== 'REVOKE_FAILED') return;
  const cause = {
    code: error instanceof Error ? error.name : 'Error',
    message: error instanceof Error ? redactErrorText(error.message) : 'revoke failed',
  };
  const { next, audit } = applyEvent(
    request,
    { type: 'revoke-failed', error: cause },
    { now: deps.clock.now() },
  );
  await deps.requests.transition(request, next, audit);
  deps.metrics.count('RevokeFailed');
}
