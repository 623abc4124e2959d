import { ConflictError, TargetMisconfiguredError } from '../domain/errors.js';
import { applyEvent } from '../domain/lifecycle.js';
import { grantExpiry } from '../domain/lifecycle-records.js';
import { retryOnConflict } from './conflict-retry.js';
import type { Deps } from './ports.js';
import { grantSpec, levelOf, loadRequest } from './request-lookup.js';
import type { GrantInput, GrantOutput } from './workflow-io.js';

/**
 * Creates the database user for an approved request and records ACTIVE. Retry-safe: an ACTIVE request
 * answers its expiresAt; a request cancelled meanwhile is SKIPPED (and any user just made is dropped).
 * A lost race (an audited refusal bumped the version) re-reads and grants again, within the shared budget.
 */
export async function grant(input: GrantInput, deps: Deps): Promise<GrantOutput> {
  return retryOnConflict(async (): Promise<GrantOutput> => {
    const request = await loadRequest(deps, input.requestId);
    if (request.status === 'ACTIVE' && request.expiresAt)
      return { status: 'ACTIVE', expiresAt: request.expiresAt };
    if (request.status !== 'APPROVED') return { status: 'SKIPPED' };
    const { target, level } = levelOf(deps, request);
    const now = deps.clock.now();
    const expiresAt = grantExpiry(now, request.durationSeconds);
    const provisioner = deps.provisioners.for(target);
    // An admin that could not revoke (no PROCESS, no CREATEROLE…) is found now, before anything exists.
    const health = await provisioner.check();
    if (!health.ok) throw new TargetMisconfiguredError(target.id, health.problems);
    // Run again on every attempt: it brings an existing user to this attempt's VALID UNTIL.
    const where = await provisioner.grant(grantSpec(request, target, level, expiresAt));
    const { next, audit } = applyEvent(
      request,
      {
        type: 'granted',
        grant: { engine: target.engine, kind: target.credentialKind, ...where },
      },
      { level, now },
    );
    try {
      const saved = await deps.requests.transition(request, next, audit);
      return { status: 'ACTIVE', expiresAt: saved.expiresAt ?? expiresAt.toISOString() };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const current = await loadRequest(deps, input.requestId);
      if (current.status !== 'APPROVED' && current.status !== 'ACTIVE') {
        // Cancelled while we were creating the user: leave nothing behind.
        await provisioner.revoke({ requestId: request.id, dbUser: request.dbUser, target });
        return { status: 'SKIPPED' };
      }
      throw error;
    }
  });
}
