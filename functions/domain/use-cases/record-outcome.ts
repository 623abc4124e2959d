import type { Deps } from '../../ports.js';
import { applyEvent } from '../lifecycle.js';
import type { RecordOutcomeInput, TaskError } from '../workflow-io.js';
import { loadRequest, notifyRetired, retryOnConflict, targetOf } from './common.js';
import { levelFor } from './revoke.js';

const MAX_MESSAGE = 300;

/** `{Error, Cause}` from Step Functions as a short code and message (a Lambda's Cause is its error as JSON). */
export function errorOf(error: TaskError | undefined): { code: string; message: string } {
  if (!error) return { code: 'Unknown', message: 'no error given' };
  let message = error.Cause ?? '';
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // not JSON: a plain cause string
  }
  return { code: error.Error.slice(0, 100), message: message.slice(0, MAX_MESSAGE) };
}

/**
 * Where the workflow ends badly: the approval window closed (EXPIRED), the grant failed (whatever was made is
 * dropped, then FAILED), or revoke retries ran out (REVOKE_FAILED, alarmed; the sweeper keeps trying).
 */
export async function recordOutcome(input: RecordOutcomeInput, deps: Deps): Promise<Record<string, never>> {
  if (input.outcome === 'grant-failed') {
    const request = await loadRequest(deps, input.requestId);
    const target = targetOf(deps, request);
    if (target) {
      try {
        await deps.provisioners.for(target).revoke({ requestId: request.id, dbUser: request.dbUser, target });
      } catch (error) {
        deps.log?.warn('could not clean up after a failed grant; the reconciler will', {
          requestId: request.id,
          error: error instanceof Error ? error.name : 'unknown',
        });
      }
    }
  }
  await retryOnConflict(async () => {
    const request = await loadRequest(deps, input.requestId);
    const level = levelFor(deps, request);
    const now = deps.clock.now();
    if (input.outcome === 'approval-expired') {
      if (request.status !== 'PENDING') return;
      const { next, audit } = applyEvent(request, { type: 'approval-expired' }, { level, now });
      const saved = await deps.requests.transition(request, next, audit);
      await notifyRetired(deps, request, saved, 'expired without a decision');
      return;
    }
    if (input.outcome === 'grant-failed') {
      if (request.status !== 'APPROVED') return;
      const { next, audit } = applyEvent(
        request,
        { type: 'grant-failed', error: errorOf(input.error) },
        { level, now },
      );
      await deps.requests.transition(request, next, audit);
      return;
    }
    if (request.status !== 'ACTIVE' && request.status !== 'REVOKE_FAILED') return;
    const { next, audit } = applyEvent(
      request,
      { type: 'revoke-failed', error: errorOf(input.error) },
      { level, now },
    );
    await deps.requests.transition(request, next, audit);
    deps.metrics.count('RevokeFailed');
  });
  return {};
}
