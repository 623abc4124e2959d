/** What one sweep did, job by job; `errors` counts what it could not do (the SweeperErrors metric). */
export interface SweepReport {
  revoked: number;
  /** Use-once grants revoked because their one session ended. */
  onceRevoked: number;
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

export function emptyReport(): SweepReport {
  return {
    revoked: 0,
    onceRevoked: 0,
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
}
