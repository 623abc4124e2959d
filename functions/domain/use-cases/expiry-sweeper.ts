import type { Deps } from '../../ports.js';
import { emailApprovers, issueLinks } from '../approval-links.js';
import { isEscalated } from '../authz.js';
import { ConflictError } from '../errors.js';
import { applyEvent } from '../lifecycle.js';
import { requestIdOfDbUser } from '../naming.js';
import { type AccessRequest, type AuditDraft, SYSTEM } from '../types.js';
import {
  completeApproval,
  emailLinks,
  levelOf,
  notifyRetired,
  redactErrorText,
  securityStream,
  targetOf,
} from './common.js';
import { listAllByStatus } from './list-requests.js';
import { APPROVAL_NOT_DELIVERED } from './record-outcome.js';
import { levelFor, revokeGrant } from './revoke.js';

export interface SweepReport {
  revoked: number;
  revokeFailed: number;
  expired: number;
  escalated: number;
  orphansDropped: number;
  reconciled: boolean;
  /** Seconds from expiresAt to the revoke, for each revoke this sweep made. */
  revocationLagSeconds: number[];
  /** APPROVED requests whose approval was handed to the workflow again (it had not taken it). */
  approvalsRedelivered: number;
  /** APPROVED requests nothing granted in time, recorded FAILED. */
  orphanedApprovalsFailed: number;
  errors: number;
}

/** An approval not yet picked up after this long is handed to the workflow again. */
export const REDELIVER_APPROVAL_AFTER_SECONDS = 60;
/**
 * An APPROVED request not ACTIVE this long after its approval has no execution granting it: Grant with all
 * its retries (5 × 90 s + backoff) and RecordGrantFailed end well within it.
 */
export const ORPHANED_APPROVAL_AFTER_SECONDS = 15 * 60;

/**
 * The safety net, every minute: revokes ACTIVE grants past expiry and retries REVOKE_FAILED ones, expires
 * PENDING requests past their deadline, escalates those past escalateAt, and (hourly, or when asked) drops
 * `jit_` users that no live request explains.
 */
export async function expirySweeper(
  input: { reconcile?: boolean | 'hourly' },
  deps: Deps,
): Promise<SweepReport> {
  const now = deps.clock.now();
  const report: SweepReport = {
    revoked: 0,
    revokeFailed: 0,
    expired: 0,
    escalated: 0,
    orphansDropped: 0,
    reconciled: false,
    revocationLagSeconds: [],
    approvalsRedelivered: 0,
    orphanedApprovalsFailed: 0,
    errors: 0,
  };
  const due = [
    ...(await listAllByStatus(deps, 'ACTIVE')).filter(
      (r) => r.expiresAt && Date.parse(r.expiresAt) <= now.getTime(),
    ),
    ...(await listAllByStatus(deps, 'REVOKE_FAILED')),
  ];
  for (const request of due) await sweepRevoke(deps, request, report);

  for (const request of await listAllByStatus(deps, 'PENDING')) {
    try {
      if (request.approvalDeadline && Date.parse(request.approvalDeadline) <= now.getTime()) {
        await expire(deps, request);
        report.expired++;
      } else if (request.escalateAt && request.escalated !== true && isEscalated(request, now)) {
        if (await escalate(deps, request)) report.escalated++;
      }
    } catch (error) {
      if (!(error instanceof ConflictError)) report.errors++; // a conflict: someone decided it meanwhile
    }
  }

  for (const request of await listAllByStatus(deps, 'APPROVED')) await sweepApproved(deps, request, report);

  const reconcile = input.reconcile === true || (input.reconcile === 'hourly' && now.getUTCMinutes() === 0);
  if (reconcile) {
    await reconcileOrphans(deps, report);
    report.reconciled = true;
  }
  if (report.errors > 0) deps.metrics.count('SweeperErrors', report.errors);
  return report;
}

async function sweepRevoke(deps: Deps, request: AccessRequest, report: SweepReport): Promise<void> {
  const reason = request.status === 'REVOKE_FAILED' ? 'sweeper' : 'expired';
  try {
    const saved = await revokeGrant(deps, request.id, reason, undefined, { dueBy: deps.clock.now() });
    if (saved.status !== 'REVOKED') return; // an extension moved expiresAt since the listing
    report.revoked++;
    const at = Date.parse(saved.revokedAt ?? deps.clock.now().toISOString());
    if (request.expiresAt)
      report.revocationLagSeconds.push(Math.max(0, (at - Date.parse(request.expiresAt)) / 1000));
  } catch (error) {
    if (error instanceof ConflictError) return; // an extension or another revoker got there first; next sweep sees it
    report.revokeFailed++;
    deps.metrics.count('RevokeFailed');
    try {
      const current = (await deps.requests.get(request.id)) ?? request;
      if (current.status !== 'ACTIVE' && current.status !== 'REVOKE_FAILED') return;
      const code = error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? redactErrorText(error.message) : 'revoke failed';
      const { next, audit } = applyEvent(
        current,
        { type: 'revoke-failed', error: { code, message } },
        { level: levelFor(deps, current), now: deps.clock.now() },
      );
      await deps.requests.transition(current, next, audit);
    } catch {
      report.errors++;
    }
  }
}

/**
 * Converges APPROVED requests the workflow did not pick up (the N-th approval's SendTaskSuccess hit an outage,
 * or raced the timeout): within the approval window the approval is delivered again; once nothing can have
 * granted it for ORPHANED_APPROVAL_AFTER_SECONDS, it is FAILED (never granted from here: a grant outside
 * its execution would have nothing waiting to revoke it but the sweeper). Any half-made user is dropped.
 */
async function sweepApproved(deps: Deps, listed: AccessRequest, report: SweepReport): Promise<void> {
  const now = deps.clock.now().getTime();
  const ageSeconds = (now - Date.parse(approvedAt(listed))) / 1000;
  try {
    if (ageSeconds >= ORPHANED_APPROVAL_AFTER_SECONDS) {
      // Re-read: the listing may be stale, and a user must not be dropped under a grant that just landed.
      const request = await deps.requests.get(listed.id);
      if (request?.status !== 'APPROVED') return;
      const target = targetOf(deps, request);
      if (target)
        await deps.provisioners.for(target).revoke({ requestId: request.id, dbUser: request.dbUser, target });
      const error = {
        code: APPROVAL_NOT_DELIVERED,
        message: `approved ${Math.round(ageSeconds / 60)} minutes ago and never granted; nothing was left behind`,
      };
      const { next, audit } = applyEvent(
        request,
        { type: 'grant-failed', error },
        { level: levelFor(deps, request), now: deps.clock.now() },
      );
      await deps.requests.transition(request, next, audit);
      report.orphanedApprovalsFailed++;
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

/** When a request became APPROVED: its last approval, or its creation when auto-approved or break-glass. */
function approvedAt(request: AccessRequest): string {
  const times = [request.createdAt, ...request.approvals.map((d) => d.at)].map((t) => Date.parse(t));
  return new Date(Math.max(...times)).toISOString();
}

async function expire(deps: Deps, request: AccessRequest): Promise<void> {
  const { next, audit } = applyEvent(
    request,
    { type: 'approval-expired' },
    { level: levelFor(deps, request), now: deps.clock.now() },
  );
  const saved = await deps.requests.transition(request, next, audit);
  await completeApproval(deps, request, { error: 'Cancelled', cause: 'the approval window ended' });
  await notifyRetired(deps, request, saved, 'expired without a decision');
}

async function escalate(deps: Deps, request: AccessRequest): Promise<boolean> {
  const { target, level } = levelOf(deps, request);
  if (!level.escalation) return false;
  const now = deps.clock.now();
  const { next, audit } = applyEvent(request, { type: 'escalated' }, { level, now });
  const already = new Set(request.approvalLinks.map((l) => l.approver));
  const issued = issueLinks(
    request.id,
    emailApprovers(level.escalation.approvers).filter((a) => !already.has(a)),
    'request',
    request.approvalDeadline ?? now.toISOString(),
    () => deps.ids.secret(),
  );
  const saved = await deps.requests.transition(
    request,
    { ...next, approvalLinks: [...next.approvalLinks, ...issued.map((i) => i.link)] },
    audit,
  );
  await emailLinks(deps, saved, target, issued, { purpose: 'request', escalation: true });
  return true;
}

/** Every `jit_` user on every target, minus those a live request owns, is dropped and recorded. */
async function reconcileOrphans(deps: Deps, report: SweepReport): Promise<void> {
  const policy = deps.policy.policy();
  const usersByTarget = new Map<string, string[]>();
  for (const target of policy.targets) {
    try {
      usersByTarget.set(target.id, await deps.provisioners.for(target).listManagedUsers());
    } catch {
      report.errors++;
    }
  }
  // APPROVED first: a request moving on to ACTIVE while we list is then seen in one list or the other.
  const live = new Set<string>();
  for (const status of ['APPROVED', 'ACTIVE', 'REVOKE_FAILED'] as const) {
    for (const request of await listAllByStatus(deps, status))
      live.add(`${request.targetId}/${request.dbUser}`);
  }
  for (const target of policy.targets) {
    for (const dbUser of usersByTarget.get(target.id) ?? []) {
      if (live.has(`${target.id}/${dbUser}`)) continue;
      const requestId = requestIdOfDbUser(dbUser);
      if (!requestId) continue;
      try {
        const result = await deps.provisioners.for(target).revoke({ requestId, dbUser, target });
        report.orphansDropped++;
        const audit: AuditDraft = {
          at: deps.clock.now().toISOString(),
          actor: SYSTEM.principal,
          via: SYSTEM.via,
          action: 'orphan-dropped',
          details: { targetId: target.id, dbUser, requestId, sessionsTerminated: result.sessionsTerminated },
        };
        await deps.audit.appendLoose(securityStream(deps.clock.now()), audit);
      } catch {
        report.errors++;
      }
    }
  }
}
