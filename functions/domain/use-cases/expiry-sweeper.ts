import * as z from 'zod/mini';
import '../zod-locale.js';
import type { Deps } from '../../ports.js';
import { emailRecipients, linksOrNotices } from '../approval-links.js';
import { isEscalated } from '../authz.js';
import { ConflictError } from '../errors.js';
import { applyEvent } from '../lifecycle.js';
import { requestIdOfDbUser } from '../naming.js';
import type { Target } from '../policy-schema.js';
import { type AccessRequest, type AuditDraft, SYSTEM } from '../types.js';
import {
  completeApproval,
  emailLinks,
  levelOf,
  loadRequest,
  notifyRetired,
  retryOnConflict,
  securityStream,
} from './common.js';
import {
  APPROVAL_NOT_DELIVERED,
  expireUndecided,
  failNeverGranted,
  recordRevokeFailed,
  revokeErrorOf,
} from './failures.js';
import { listAllByStatus } from './list-requests.js';
import { revokeGrant } from './revoke.js';

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

/** A PENDING or APPROVED request this young may have a grant in flight whose user is already made. */
export const GRANT_IN_FLIGHT_SECONDS = 5 * 60;

/**
 * The safety net, every minute: revokes ACTIVE grants past expiry and retries REVOKE_FAILED ones, expires
 * PENDING requests past their deadline, escalates those past escalateAt, and (hourly, or when asked) drops
 * `jit_` users that no live request explains.
 */
export async function expirySweeper(input: SweepInput, deps: Deps): Promise<SweepReport> {
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
        if (await expire(deps, request.id)) report.expired++;
      } else if (request.escalateAt && request.escalated !== true && isEscalated(request, now)) {
        if (await escalate(deps, request.id)) report.escalated++;
      }
    } catch (error) {
      if (!(error instanceof ConflictError)) report.errors++; // a conflict: someone decided it meanwhile
    }
  }

  for (const request of await listAllByStatus(deps, 'APPROVED')) await sweepApproved(deps, request, report);

  const mode = input.reconcile ?? 'hourly';
  // Hourly means when due (the last run is recorded), not at minute 00: one missed sweep must not skip an hour.
  if (mode === 'now' || (mode === 'hourly' && (await deps.requests.claimPeriodic('reconcile', now, 3600)))) {
    await reconcileOrphans(deps, report);
    report.reconciled = true;
  }
  if (report.errors > 0) deps.metrics.count('SweeperErrors', report.errors);
  return report;
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
    report.revokeFailed++;
    // Every failed attempt counts (the alarm stays on while it fails) and is recorded (revokeAttempts).
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

/** When a request became APPROVED: its last approval, or its creation when auto-approved or break-glass. */
function approvedAt(request: AccessRequest): string {
  const times = [request.createdAt, ...request.approvals.map((d) => d.at)].map((t) => Date.parse(t));
  return new Date(Math.max(...times)).toISOString();
}

/** Expires a PENDING request past its deadline; false when it was decided meanwhile. */
async function expire(deps: Deps, requestId: string): Promise<boolean> {
  const expired = await retryOnConflict(async () => {
    const request = await loadRequest(deps, requestId);
    if (!request.approvalDeadline || Date.parse(request.approvalDeadline) > deps.clock.now().getTime())
      return undefined;
    const saved = await expireUndecided(deps, request);
    return saved && { request, saved };
  });
  if (!expired) return false;
  const { request, saved } = expired;
  await completeApproval(deps, request, { error: 'Cancelled', cause: 'the approval window ended' });
  await notifyRetired(deps, request, saved, 'expired without a decision');
  return true;
}

async function escalate(deps: Deps, requestId: string): Promise<boolean> {
  const escalated = await retryOnConflict(async () => {
    const request = await loadRequest(deps, requestId);
    const now = deps.clock.now();
    if (request.status !== 'PENDING' || request.escalated === true || !isEscalated(request, now))
      return undefined;
    const { target, level } = levelOf(deps, request);
    if (!level.escalation) return undefined;
    const { next, audit } = applyEvent(request, { type: 'escalated' }, { level, now });
    const already = new Set(request.approvalLinks.map((l) => l.approver));
    const { issued, mail } = linksOrNotices(
      request,
      level,
      emailRecipients(level.escalation.approvers, request).filter((a) => !already.has(a)),
      'request',
      { closesAt: request.approvalDeadline ?? now.toISOString(), now },
      () => deps.ids.secret(),
    );
    const saved = await deps.requests.transition(
      request,
      { ...next, approvalLinks: [...next.approvalLinks, ...issued.map((i) => i.link)] },
      audit,
    );
    return { saved, target, mail };
  });
  if (!escalated) return false;
  const { saved, target, mail } = escalated;
  await emailLinks(deps, saved, target, mail, { purpose: 'request', escalation: true });
  return true;
}

/** One key per database server: `jit_` users are server-wide, so targets sharing one are listed once. */
export function serverKeyOf(target: Target): string {
  const connection = target.connection;
  if ('rdsInstanceId' in connection)
    return `${target.engine}|rds-instance|${connection.region ?? ''}|${connection.rdsInstanceId}`;
  if ('rdsClusterId' in connection)
    return `${target.engine}|rds-cluster|${connection.region ?? ''}|${connection.rdsClusterId}`;
  return `${target.engine}|${connection.host.toLowerCase()}:${connection.port}`;
}

/** Whether a request accounts for its `jit_` user existing now (granted, revoke pending, or grant in flight). */
export function explainsUser(request: AccessRequest, now: Date): boolean {
  if (request.status === 'ACTIVE' || request.status === 'REVOKE_FAILED' || request.status === 'APPROVED')
    return true;
  const ageSeconds = (now.getTime() - Date.parse(request.createdAt)) / 1000;
  return request.status === 'PENDING' && ageSeconds < GRANT_IN_FLIGHT_SECONDS;
}

/**
 * Every `jit_` user on every database server, minus those a live request owns, is dropped (through the target
 * it was found on) and recorded. A user name is `jit_` + its request id and ids are unique, so a request on
 * any target explains it: two targets on one server see the same users and must not drop each other's.
 */
async function reconcileOrphans(deps: Deps, report: SweepReport): Promise<void> {
  const servers = new Map<string, Target[]>();
  for (const target of deps.policy.policy().targets) {
    const key = serverKeyOf(target);
    servers.set(key, [...(servers.get(key) ?? []), target]);
  }
  const foundOn = new Map<string, Target>();
  for (const targets of servers.values()) {
    // Any target of the server can list its users; the next one is tried if one's admin is refused.
    let listed = false;
    for (const target of targets) {
      try {
        for (const dbUser of await deps.provisioners.for(target).listManagedUsers())
          if (!foundOn.has(dbUser)) foundOn.set(dbUser, target);
        listed = true;
        break;
      } catch {
        // tried with the server's next target
      }
    }
    if (!listed) report.errors++;
  }
  if (foundOn.size === 0) return;
  // APPROVED first: a request moving on to ACTIVE while we list is then seen in one list or the other.
  const live = new Set<string>();
  for (const status of ['APPROVED', 'ACTIVE', 'REVOKE_FAILED'] as const) {
    for (const request of await listAllByStatus(deps, status)) live.add(request.dbUser);
  }
  for (const [dbUser, target] of foundOn) {
    if (live.has(dbUser)) continue;
    const requestId = requestIdOfDbUser(dbUser);
    if (!requestId) continue;
    try {
      // The status index lags: a consistent read by id decides, so a grant that just landed is kept.
      const request = await deps.requests.get(requestId);
      if (request && explainsUser(request, deps.clock.now())) continue;
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
