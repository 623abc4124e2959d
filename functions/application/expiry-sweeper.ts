import * as z from 'zod/mini';
import '../domain/zod-locale.js';
import { listAllByStatus } from './list-requests.js';
import type { Deps } from './ports.js';
import { sweepApprovalWindows } from './sweeper/approval-windows.js';
import { sweepApprovedRequests } from './sweeper/approved-requests.js';
import { sweepOnceSessions } from './sweeper/once-sessions.js';
import { reconcileOrphans } from './sweeper/reconcile-orphans.js';
import { emptyReport, type SweepReport } from './sweeper/report.js';
import { revokeDue } from './sweeper/revoke-due.js';

/**
 * When a sweep also reconciles (drops `jit_` users no live request explains): `never`; `hourly` = when an hour
 * has passed since the last reconcile, recorded in the store (what the every-minute EventBridge schedule gets,
 * as it passes nothing); `now` = this sweep.
 * Test suites sharing one database server pass `never` unless they are about reconciling.
 */
export const ReconcileMode = z.enum(['never', 'hourly', 'now']);
export type ReconcileMode = z.infer<typeof ReconcileMode>;

/** The sweeper's input; an absent `reconcile` means `hourly`. */
export const SweepInput = z.looseObject({
  reconcile: z.optional(ReconcileMode),
});
export type SweepInput = z.infer<typeof SweepInput>;

/**
 * The safety net, every minute: revokes use-once grants whose session ended, ACTIVE grants past expiry and retries REVOKE_FAILED ones, expires
 * PENDING requests past their deadline, escalates those past escalateAt, converges APPROVED requests the
 * workflow did not pick up, and (hourly, or when asked) drops `jit_` users that no live request explains.
 * Each job lives in sweeper/; a job counts what it could not do in `errors`, and the sweep goes on.
 */
export async function expirySweeper(input: SweepInput, deps: Deps): Promise<SweepReport> {
  const now = deps.clock.now();
  const report = emptyReport();
  // One listing of the ACTIVE grants serves both revoking jobs; a grant the first revoked is not the second's.
  const active = await listAllByStatus(deps, 'ACTIVE');
  const settledOnce = await sweepOnceSessions(deps, report, active);
  await revokeDue(
    deps,
    now,
    report,
    active.filter((r) => !settledOnce.has(r.id)),
  );
  await sweepApprovalWindows(deps, now, report);
  await sweepApprovedRequests(deps, report);
  const mode = input.reconcile ?? 'hourly';
  // Hourly means when due (the last run is recorded), not at minute 00: one missed sweep must not skip an hour.
  if (mode === 'now' || (mode === 'hourly' && (await deps.requests.claimPeriodic('reconcile', now, 3600)))) {
    await reconcileOrphans(deps, report);
    report.reconciled = true;
  }
  if (report.errors > 0) deps.metrics.count('SweeperErrors', report.errors);
  return report;
}
