import type { AccessRequest } from '../domain/types.js';
import type { Deps } from './ports.js';
import { WorkflowTaskClosedError } from './workflow-io.js';

/** What became of telling the workflow: `closed` = it no longer waits on that token, `failed` = an outage. */
export type Delivery = 'sent' | 'closed' | 'failed' | 'no-token';

/**
 * Tells the workflow that the API closed the approval step. A token already closed is not an error here: the
 * decision is stored, and an APPROVED request the workflow never picks up is converged by record-outcome and
 * the sweeper (see sweeper/approved-requests.ts). The caller learns which it was.
 */
export async function completeApproval(
  deps: Deps,
  request: AccessRequest,
  result: { outcome: 'approved' } | { error: 'Denied' | 'Cancelled'; cause: string },
): Promise<Delivery> {
  if (!request.taskToken) return 'no-token'; // RequestApproval has not stored it yet; it completes the step itself.
  try {
    if ('outcome' in result) await deps.workflow.sendTaskSuccess(request.taskToken, { outcome: 'approved' });
    else await deps.workflow.sendTaskFailure(request.taskToken, result.error, result.cause);
    return 'sent';
  } catch (error) {
    const closed = error instanceof WorkflowTaskClosedError;
    deps.log.warn(
      closed
        ? 'the workflow was no longer waiting for this decision'
        : 'the decision could not be delivered to the workflow; the sweeper retries',
      { requestId: request.id, error: error instanceof Error ? error.name : 'unknown' },
    );
    return closed ? 'closed' : 'failed';
  }
}
