import type { Deps } from '../../ports.js';
import { assertMayView } from '../authz.js';
import type { AuditEvent, Identity } from '../types.js';
import { loadRequest } from './common.js';
import { levelOrUndefined } from './get-request.js';

/** A request's audit trail, and whether its hash chain still verifies. */
export async function requestAudit(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<{ events: AuditEvent[]; verification: Awaited<ReturnType<Deps['audit']['verify']>> }> {
  const request = await loadRequest(deps, input.requestId);
  assertMayView(
    input.caller,
    request,
    levelOrUndefined(deps, request),
    deps.clock.now(),
    deps.policy.policy(),
  );
  const [events, verification] = await Promise.all([
    deps.audit.list(request.id),
    deps.audit.verify(request.id),
  ]);
  return { events, verification };
}
