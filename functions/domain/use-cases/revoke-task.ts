import type { Deps } from '../../ports.js';
import type { RevokeInput, RevokeOutput } from '../workflow-io.js';
import { loadRequest, retryOnConflict } from './common.js';
import { revokeGrant } from './revoke.js';

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
      return { revoked: false, expiresAt: request.expiresAt };
    }
    const now = deps.clock.now();
    const saved = await revokeGrant(
      deps,
      request.id,
      input.reason,
      undefined,
      input.reason === 'expired' ? { dueBy: now } : {},
    );
    // An extension landed between the read above and the revoke: wait again.
    if (saved.status === 'ACTIVE' && saved.expiresAt) return { revoked: false, expiresAt: saved.expiresAt };
    return { revoked: true };
  });
}
