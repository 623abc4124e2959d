/**
 * Refused approval-link attempts are tallied, not chained: per (request or `unknown`, UTC minute) window, one
 * counter per (code, method, source address), kept apart from the request item so a flood of forged links
 * cannot contend with a decision. These names are shared by the use case and the store.
 */

/** The scope of attempts whose token names no stored request. */
export const UNKNOWN_SCOPE = 'unknown';

/** The UTC minute an attempt falls in, `YYYY-MM-DDTHH:MM`. */
export function refusalWindowOf(at: Date): string {
  return at.toISOString().slice(0, 16);
}

/** The audit seq of a window's marker: minutes since the epoch, so each window has its own write-once slot. */
export function linkRefusalWindowSeq(window: string): number {
  return Math.floor(Date.parse(`${window}:00.000Z`) / 60_000);
}

/** The window of a marker's seq (inverse of linkRefusalWindowSeq). */
export function linkRefusalWindowOfSeq(seq: number): string {
  return refusalWindowOf(new Date(seq * 60_000));
}

/** The audit partition of a scope's window markers (never a request id: it holds a `#`). */
export function linkRefusalStream(scope: string): string {
  return `link-refusals#${scope}`;
}

/** A source address fit to store: an IPv4/IPv6 literal as API Gateway gives it, else `unknown`. */
export function refusalSourceIp(sourceIp: string | undefined): string {
  return sourceIp !== undefined && /^[0-9A-Fa-f:.]{2,45}$/.test(sourceIp) ? sourceIp : 'unknown';
}
