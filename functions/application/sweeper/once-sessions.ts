import { ConflictError, InvalidTransitionError } from '../../domain/errors.js';
import { applyEvent } from '../../domain/lifecycle.js';
import type { AccessRequest } from '../../domain/types.js';
import { retryOnConflict } from '../conflict-retry.js';
import { revokeErrorOf } from '../failures.js';
import type { Deps, OnceSession } from '../ports.js';
import { levelOrUndefined, targetOf } from '../request-lookup.js';
import { revokeGrant } from '../revoke-grant.js';
import type { SweepReport } from './report.js';
import { recordSweepRevokeFailure } from './revoke-due.js';

/**
 * Use-once grants whose session has happened: records the use once (`session-used`), and revokes the grant
 * through the one revoke path (reason `used-once`) once no session of the user is left. The database refused a
 * second login from the first login on (the seal); this job only turns that into REVOKED, so its period decides
 * how long the user lingers, never whether a second session is possible. Answers the ids of the `active`
 * grants it settled, which the sweep's expiry job then leaves alone.
 */
export async function sweepOnceSessions(
  deps: Deps,
  report: SweepReport,
  active: readonly AccessRequest[],
): Promise<Set<string>> {
  const settled = new Set<string>();
  for (const request of active.filter((r) => r.once !== undefined)) {
    try {
      if (await settleOnce(deps, request, report)) settled.add(request.id);
    } catch (error) {
      if (error instanceof ConflictError) continue; // another sweep or revoker moved it: the next sweep re-reads
      report.errors++;
      deps.log.warn('use-once sweep failed', { requestId: request.id, code: revokeErrorOf(error).code });
    }
  }
  return settled;
}

/** Whether it ended the grant's ACTIVE life: REVOKED, or REVOKE_FAILED recorded (retried with the others). */
async function settleOnce(deps: Deps, request: AccessRequest, report: SweepReport): Promise<boolean> {
  const target = targetOf(deps, request);
  if (!target) return false; // revokeDue and the reconciler own grants whose target left the policy
  const session: OnceSession = await deps.provisioners.for(target).onceSession({ dbUser: request.dbUser });
  if (!session.used) return false;
  if (request.once?.usedAt === undefined) await recordUse(deps, request.id, session.openSessions);
  if (session.openSessions > 0) return false;
  try {
    const saved = await retryOnConflict(() => revokeGrant(deps, request.id, 'used-once'));
    if (saved.status === 'REVOKED' && saved.revokeReason === 'used-once') report.onceRevoked++;
    return saved.status === 'REVOKED';
  } catch (error) {
    if (error instanceof ConflictError || error instanceof InvalidTransitionError) return false;
    await recordSweepRevokeFailure(deps, request, error, report);
    // Recorded REVOKE_FAILED: no longer one of the ACTIVE grants; the expiry job retries it as REVOKE_FAILED.
    return true;
  }
}

/** Records the session once (a conditional write): a request already recorded, or no longer ACTIVE, is left. */
async function recordUse(deps: Deps, requestId: string, openSessions: number): Promise<void> {
  await retryOnConflict(async () => {
    const current = await deps.requests.get(requestId);
    if (current?.status !== 'ACTIVE' || current.once?.usedAt !== undefined) return;
    const { next, audit } = applyEvent(
      current,
      { type: 'session-used', openSessions },
      { level: levelOrUndefined(deps, current), now: deps.clock.now() },
    );
    await deps.requests.transition(current, next, audit);
  });
}
