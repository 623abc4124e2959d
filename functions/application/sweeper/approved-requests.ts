import { ConflictError } from '../../domain/errors.js';
import type { AccessRequest } from '../../domain/types.js';
import { completeApproval } from '../approval-step.js';
import { retryOnConflict } from '../conflict-retry.js';
import { APPROVAL_NOT_DELIVERED, failNeverGranted } from '../failures.js';
import { listAllByStatus } from '../list-requests.js';
import type { Deps } from '../ports.js';
import type { SweepReport } from './report.js';

/** An approval not yet picked up after this long is handed to the workflow again. */
export const REDELIVER_APPROVAL_AFTER_SECONDS = 60;
/**
 * An APPROVED request not ACTIVE this long after its approval has no execution granting it: Grant with all
 * its retries (5 × 90 s + backoff) and RecordGrantFailed end well within it.
 */
export const ORPHANED_APPROVAL_AFTER_SECONDS = 15 * 60;

/**
 * Converges APPROVED requests the workflow did not pick up (the N-th approval's SendTaskSuccess hit an outage,
 * or raced the timeout): within the approval window the approval is delivered again; once nothing can have
 * granted it for ORPHANED_APPROVAL_AFTER_SECONDS, it is FAILED (never granted from here: a grant outside
 * its execution would have nothing waiting to revoke it but the sweeper). Any half-made user is dropped.
 */
export async function sweepApprovedRequests(deps: Deps, report: SweepReport): Promise<void> {
  for (const request of await listAllByStatus(deps, 'APPROVED')) await sweepApproved(deps, request, report);
}

async function sweepApproved(deps: Deps, listed: AccessRequest, report: SweepReport): Promise<void> {
  const now = deps.clock.now().getTime();
  const ageSeconds = (now - Date.parse(approvedAt(listed))) / 1000;
  try {
    if (ageSeconds >= ORPHANED_APPROVAL_AFTER_SECONDS) {
      const error = {
        code: APPROVAL_NOT_DELIVERED,
        message: `approved ${Math.round(ageSeconds / 60)} minutes ago and never granted; nothing was left behind`,
      };
      const failed = await retryOnConflict(async () => {
        // Re-read: the listing may be stale, and a user must not be dropped under a grant that just landed.
        const request = await deps.requests.get(listed.id);
        if (!request) return false;
        // A user that cannot be dropped leaves the request APPROVED: the next sweep tries again.
        return (await failNeverGranted(deps, request, error, 'required')) !== undefined;
      });
      if (failed) report.orphanedApprovalsFailed++;
      return;
    }
    const windowOpen = listed.approvalDeadline === undefined || now < Date.parse(listed.approvalDeadline);
    if (listed.taskToken && windowOpen && ageSeconds >= REDELIVER_APPROVAL_AFTER_SECONDS) {
      if ((await completeApproval(deps, listed, { outcome: 'approved' })) === 'sent')
        report.approvalsRedelivered++;
    }
  } catch (error) {
    if (!(error instanceof ConflictError)) report.errors++; // a conflict: the grant landed meanwhile
  }
}

/**
 * When a request became APPROVED: its last approval, or its creation when auto-approved or break-glass; for a
 * statement request being run, when its run started (the longest statement timeout, 10 minutes, ends well within
 * ORPHANED_APPROVAL_AFTER_SECONDS of it, so a run is never failed under its feet).
 */
function approvedAt(request: AccessRequest): string {
  const times = [
    request.createdAt,
    ...request.approvals.map((d) => d.at),
    ...(request.executionStartedAt ? [request.executionStartedAt] : []),
  ].map((t) => Date.parse(t));
  return new Date(Math.max(...times)).toISOString();
}
