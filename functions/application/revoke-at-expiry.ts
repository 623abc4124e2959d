import type { AccessRequest } from '../domain/types.js';
import { retryOnConflict } from './conflict-retry.js';
import type { Deps } from './ports.js';
import { grantSpec, levelOf, loadRequest } from './request-lookup.js';
import { revokeGrant } from './revoke-grant.js';
import type { RevokeInput, RevokeOutput } from './workflow-io.js';

/**
 * The workflow's Revoke step. At expiry, an extension that moved expiresAt into the future means "wait again"
 * ({revoked:false, expiresAt}); otherwise the user is dropped. Already REVOKED, or never granted: nothing to do.
 */
export async function revokeTask(input: RevokeInput, deps: Deps): Promise<RevokeOutput> {
  return retryOnConflict(async () => {
    const request = await loadRequest(deps, input.requestId);
    if (request.status !== 'ACTIVE' && request.status !== 'REVOKE_FAILED') return { revoked: true };
    if (
      input.reason === 'expired' &&
      request.expiresAt !== undefined &&
      Date.parse(request.expiresAt) > deps.clock.now().getTime()
    ) {
      await moveDatabaseExpiry(deps, request);
      return { revoked: false, expiresAt: request.expiresAt };
    }
    const now = deps.clock.now();
    const saved = await revokeGrant(
      deps,
      request.id,
      input.reason,
      input.by,
      input.reason === 'expired' ? { dueBy: now } : {},
    );
    // An extension landed between the read above and the revoke: wait again.
    if (saved.status === 'ACTIVE' && saved.expiresAt) {
      await moveDatabaseExpiry(deps, saved);
      return { revoked: false, expiresAt: saved.expiresAt };
    }
    return { revoked: true };
  });
}

/**
 * An extension moved expiresAt: bring the in-database guard (PostgreSQL VALID UNTIL) to it, at the latest now,
 * at the old expiry (the API that approved it reaches no database; a credentials fetch moves it sooner).
 * Best effort: the record is what revokes, and the next Revoke at the new expiry tries again.
 */
async function moveDatabaseExpiry(deps: Deps, request: AccessRequest): Promise<void> {
  if (!request.expiresAt) return;
  try {
    const { target, level } = levelOf(deps, request);
    const expiresAt = new Date(request.expiresAt);
    await deps.provisioners.for(target).extend(grantSpec(request, target, level, expiresAt), expiresAt);
  } catch (error) {
    deps.log.warn('extension recorded but the in-database expiry was not moved', {
      requestId: request.id,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}
