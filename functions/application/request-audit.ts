import type { AnchorReport } from '../domain/audit-anchor.js';
import type { ChainVerification } from '../domain/audit-chain.js';
import { linkRefusalStream, linkRefusalWindowOfSeq } from '../domain/link-refusals.js';
import type { AuditEvent, Identity } from '../domain/types.js';
import { anchorReport } from './audit-digest.js';
import type { Deps, LinkRefusalCount } from './ports.js';
import { loadViewable } from './refusals.js';

/**
 * The chain check, and the check against the signed digests: `ok` only if both hold. `problem` is the chain's
 * if it is broken, else the anchor's; `anchor` says which events a digest covers and which are not yet anchored.
 */
export type AuditVerification = ChainVerification & { anchor: AnchorReport };

/**
 * A request's audit trail, whether its hash chain still verifies and matches what was anchored, and the tally
 * of refused approval-link attempts that named it (per minute, code, method and source address; kept beside
 * the chain, not on it).
 */
export async function requestAudit(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<{ events: AuditEvent[]; verification: AuditVerification; linkRefusals: LinkRefusalCount[] }> {
  const request = await loadViewable(deps, input.requestId, input.caller);
  const [events, chain, markers] = await Promise.all([
    deps.audit.list(request.id),
    deps.audit.verify(request.id),
    deps.audit.list(linkRefusalStream(request.id)),
  ]);
  const anchor = await anchorReport(request.id, events, deps);
  const problem = chain.problem ?? anchor.problem;
  const windows = markers.map((marker) => linkRefusalWindowOfSeq(marker.seq));
  const linkRefusals = windows.length > 0 ? await deps.requests.linkRefusalCounts(request.id, windows) : [];
  return {
    events,
    verification: { ...chain, ok: chain.ok && anchor.ok, ...(problem ? { problem } : {}), anchor },
    linkRefusals,
  };
}
