import { isFlagged } from '../domain/lifecycle-records.js';
import type { AccessRequest } from '../domain/types.js';

/** What the API returns for a request: no task token, no link hashes, no idempotency internals. */
export type RequestView = Omit<AccessRequest, 'taskToken' | 'approvalLinks' | 'auditHead'> & {
  approvalLinksOpen: number;
  /**
   * Who was asked to decide what is waiting now (the request while PENDING, else a pending extension): the
   * approvers mailed a link for it, in the order they were asked (escalation adds to the end).
   */
  asked: string[];
  /** Break-glass and not yet acknowledged by a reviewer. */
  flagged: boolean;
};

export function viewOf(request: AccessRequest): RequestView {
  const { taskToken: _token, approvalLinks, auditHead: _head, ...rest } = request;
  return {
    ...rest,
    approvalLinksOpen: approvalLinks.filter((l) => l.usedAt === undefined && l.retiredAt === undefined)
      .length,
    asked: askedFor(request),
    flagged: isFlagged(request),
  };
}

/** The approvers mailed for the decision now waiting (none when nothing waits). */
function askedFor(request: AccessRequest): string[] {
  const extension = request.extension;
  const current =
    request.status === 'PENDING'
      ? request.approvalLinks.filter((l) => l.purpose === 'request')
      : extension
        ? // Earlier extensions' links were all used or retired before this one was asked for.
          request.approvalLinks.filter(
            (l) =>
              l.purpose === 'extension' &&
              (l.usedAt === undefined ? l.retiredAt === undefined : l.usedAt >= extension.requestedAt),
          )
        : [];
  return [...new Set(current.map((l) => l.approver))];
}
