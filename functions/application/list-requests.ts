import { isApprover, isDecisionBy, isRequester, isReviewer } from '../domain/authz.js';
import { type ListQuery, ListQuery as ListQuerySchema, parseInput } from '../domain/schemas.js';
import type { AccessRequest, Identity, RequestStatus } from '../domain/types.js';
import type { Deps } from './ports.js';
import { levelOrUndefined } from './request-lookup.js';
import { type RequestView, viewOf } from './request-view.js';

/** Pages read per status when collecting what an approver may decide (bounded work per call). */
const MAX_PAGES = 20;

/**
 * `mine`: the caller's requests, newest first. `to-approve`: PENDING requests the caller may decide and has
 * not yet approved, plus ACTIVE requests with a pending extension the caller may decide. `flagged`: break-glass
 * requests not yet acknowledged that the caller reviews (and did not make), newest first.
 */
export async function listRequests(
  input: { query: unknown; caller: Identity },
  deps: Deps,
): Promise<{ items: RequestView[]; cursor?: string }> {
  const query: ListQuery = parseInput(ListQuerySchema, input.query);
  if (query.view === 'mine') {
    const page = await deps.requests.listByRequester(input.caller.principal, {
      ...(query.status ? { status: query.status } : {}),
      ...(query.limit ? { limit: query.limit } : {}),
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
    return { items: page.items.map(viewOf), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }
  if (query.view === 'flagged') return listFlagged(deps, input.caller, query);
  const now = deps.clock.now();
  const statuses: RequestStatus[] = query.status ? [query.status] : ['PENDING', 'ACTIVE'];
  const found: AccessRequest[] = [];
  for (const status of statuses) {
    for (const request of await listAll(deps, status)) {
      const deciding =
        request.status === 'ACTIVE' ? request.extension : request.status === 'PENDING' ? request : undefined;
      if (!deciding) continue;
      const level = levelOrUndefined(deps, request);
      if (!level || isRequester(input.caller, request) || !isApprover(input.caller, request, level, now))
        continue;
      if (deciding.approvals.some((d) => isDecisionBy(d, input.caller))) continue;
      found.push(request);
    }
  }
  const limit = query.limit ?? 100;
  return { items: found.slice(0, limit).map(viewOf) };
}

/**
 * Filters the store's flagged requests by reviewer. Each store page asks for no more than the rest of the
 * caller's page, so the store's cursor is exactly where this page ends; bounded work per call.
 */
async function listFlagged(
  deps: Deps,
  caller: Identity,
  query: ListQuery,
): Promise<{ items: RequestView[]; cursor?: string }> {
  const policy = deps.policy.policy();
  const limit = query.limit ?? 100;
  const found: AccessRequest[] = [];
  let cursor = query.cursor;
  for (let i = 0; i < MAX_PAGES && found.length < limit; i++) {
    const page = await deps.requests.listFlagged({
      limit: limit - found.length,
      ...(cursor ? { cursor } : {}),
    });
    for (const request of page.items) {
      if (query.status && request.status !== query.status) continue;
      if (isRequester(caller, request) || !isReviewer(caller, policy, request)) continue;
      found.push(request);
    }
    cursor = page.cursor;
    if (!cursor) break;
  }
  return { items: found.map(viewOf), ...(cursor ? { cursor } : {}) };
}

async function listAll(deps: Deps, status: RequestStatus): Promise<AccessRequest[]> {
  const items: AccessRequest[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await deps.requests.listByStatus(status, { limit: 100, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.cursor;
    if (!cursor) break;
  }
  return items;
}

export { listAll as listAllByStatus };
