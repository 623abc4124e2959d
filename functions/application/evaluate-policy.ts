import type { Deps } from './ports.js';
import { levelOrUndefined, loadRequest } from './request-lookup.js';
import type { EvaluatePolicyInput, EvaluatePolicyOutput } from './workflow-io.js';

/**
 * The workflow's first step. The request was evaluated and stored by the API; this reads where it stands:
 * approved (auto or break-glass) → grant, pending → wait for approvers until its deadline, anything else → done.
 */
export async function evaluatePolicy(input: EvaluatePolicyInput, deps: Deps): Promise<EvaluatePolicyOutput> {
  const request = await loadRequest(deps, input.requestId);
  const now = deps.clock.now();
  const kind = request.statements ? 'statement' : 'window';
  if (request.status === 'PENDING') {
    const deadline = request.approvalDeadline ? Date.parse(request.approvalDeadline) : now.getTime();
    const remaining = Math.ceil((deadline - now.getTime()) / 1000);
    // Past the deadline (say, run again after the approval step kept failing) it is EXPIRED, not waited on.
    return {
      decision: remaining > 0 ? 'needs-approval' : 'window-closed',
      kind,
      approvalWindowSeconds: Math.max(1, remaining),
    };
  }
  return {
    decision: request.status === 'APPROVED' ? 'auto-approved' : 'closed',
    kind,
    approvalWindowSeconds: levelOrUndefined(deps, request)?.approvalWindow ?? 1,
  };
}
