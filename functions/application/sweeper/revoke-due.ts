import { ConflictError } from '../../domain/errors.js';
import type { AccessRequest } from '../../domain/types.js';
import { retryOnConflict } from '../conflict-retry.js';
import { recordRevokeFailed, revokeErrorOf } from '../failures.js';
import { listAllByStatus } from '../list-requests.js';
import type { Deps } from '../ports.js';
import { revokeGrant } from '../revoke-grant.js';
import type { SweepReport } from './report.js';

/** Revokes the `active` grants past expiresAt (as of `now`) and retries every REVOKE_FAILED one. */
export async function revokeDue(
  deps: Deps,
  now: Date,
  report: SweepReport,
  active: readonly AccessRequest[],
): Promise<void> {
  const due = [
    ...active.filter((r) => r.expiresAt && Date.parse(r.expiresAt) <= now.getTime()),
    ...(await listAllByStatus(deps, 'REVOKE_FAILED')),
  ];
  for (const request of due) await sweepRevoke(deps, request, report);
}

async function sweepRevoke(deps: Deps, request: AccessRequest, report: SweepReport): Promise<void> {
  const reason = request.status === 'REVOKE_FAILED' ? 'sweeper' : 'expired';
  try {
    // revokeGrant re-reads: a version bumped by an audit event is retried, an extension is then seen.
    const saved = await retryOnConflict(() =>
      revokeGrant(deps, request.id, reason, undefined, { dueBy: deps.clock.now() }),
    );
    if (saved.status !== 'REVOKED') return; // an extension moved expiresAt since the listing
    report.revoked++;
    const at = Date.parse(saved.revokedAt ?? deps.clock.now().toISOString());
    if (request.expiresAt)
      report.revocationLagSeconds.push(Math.max(0, (at - Date.parse(request.expiresAt)) / 1000));
  } catch (error) {
    if (error instanceof ConflictError) return; // an extension or another revoker got there first; next sweep sees it
    await recordSweepRevokeFailure(deps, request, error, report);
  }
}

/**
 * A sweep's revoke that failed: counted (the alarm stays on while it fails) and recorded (REVOKE_FAILED,
 * revokeAttempts), so every later sweep retries it.
 */
export async function recordSweepRevokeFailure(
  deps: Deps,
  request: AccessRequest,
  error: unknown,
  report: SweepReport,
): Promise<void> {
  report.revokeFailed++;
  deps.metrics.count('RevokeFailed');
  try {
    const cause = revokeErrorOf(error);
    await retryOnConflict(async () =>
      recordRevokeFailed(deps, (await deps.requests.get(request.id)) ?? request, cause, {
        sameErrorAgain: true,
        countMetric: false,
      }),
    );
  } catch {
    report.errors++;
  }
}
