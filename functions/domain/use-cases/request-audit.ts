import type { Deps, LinkRefusalCount } from '../../ports.js';
import { assertMayView } from '../authz.js';
import { linkRefusalStream, linkRefusalWindowOfSeq } from '../link-refusals.js';
import type { AuditEvent, Identity } from '../types.js';
import { loadRequest } from './common.js';
import { levelOrUndefined } from './get-request.js';

/**
 * A request's audit trail, whether its hash chain still verifies, and the tally of refused approval-link
 * attempts that named it (per minute, code, method and source address; kept beside the chain, not on it).
 */
export async function requestAudit(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<{
  events: AuditEvent[];
  verification: Awaited<ReturnType<Deps['audit']['verify']>>;
  linkRefusals: LinkRefusalCount[];
}> {
  const request = await loadRequest(deps, input.requestId);
  assertMayView(
    input.caller,
    request,
    levelOrUndefined(deps, request),
    deps.clock.now(),
    deps.policy.policy(),
  );
  const [events, verification, markers] = await Promise.all([
    deps.audit.list(request.id),
    deps.audit.verify(request.id),
    deps.audit.list(linkRefusalStream(request.id)),
  ]);
  const windows = markers.map((marker) => linkRefusalWindowOfSeq(marker.seq));
  const linkRefusals = windows.length > 0 ? await deps.requests.linkRefusalCounts(request.id, windows) : [];
  return { events, verification, linkRefusals };
}
