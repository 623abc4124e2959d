import { requestIdOfDbUser } from '../../domain/naming.js';
import type { Target } from '../../domain/policy-schema.js';
import { type AccessRequest, type AuditDraft, SYSTEM } from '../../domain/types.js';
import { listAllByStatus } from '../list-requests.js';
import type { Deps } from '../ports.js';
import { securityStream } from '../refusals.js';
import type { SweepReport } from './report.js';

/** A PENDING or APPROVED request this young may have a grant in flight whose user is already made. */
export const GRANT_IN_FLIGHT_SECONDS = 5 * 60;

/** One key per database server: `jit_` users are server-wide, so targets sharing one are listed once. */
export function serverKeyOf(target: Target): string {
  const connection = target.connection;
  if ('rdsInstanceId' in connection)
    return `${target.engine}|rds-instance|${connection.region ?? ''}|${connection.rdsInstanceId}`;
  if ('rdsClusterId' in connection)
    return `${target.engine}|rds-cluster|${connection.region ?? ''}|${connection.rdsClusterId}`;
  return `${target.engine}|${connection.host.toLowerCase()}:${connection.port}`;
}

/** Whether a request accounts for its `jit_` user existing now (granted, revoke pending, or grant in flight). */
export function explainsUser(request: AccessRequest, now: Date): boolean {
  if (request.status === 'ACTIVE' || request.status === 'REVOKE_FAILED' || request.status === 'APPROVED')
    return true;
  const ageSeconds = (now.getTime() - Date.parse(request.createdAt)) / 1000;
  return request.status === 'PENDING' && ageSeconds < GRANT_IN_FLIGHT_SECONDS;
}

/**
 * Every `jit_` user on every database server, minus those a live request owns, is dropped (through the target
 * it was found on) and recorded. A user name is `jit_` + its request id and ids are unique, so a request on
 * any target explains it: two targets on one server see the same users and must not drop each other's.
 */
export async function reconcileOrphans(deps: Deps, report: SweepReport): Promise<void> {
  const servers = new Map<string, Target[]>();
  for (const target of deps.policy.policy().targets) {
    const key = serverKeyOf(target);
    servers.set(key, [...(servers.get(key) ?? []), target]);
  }
  const foundOn = new Map<string, Target>();
  for (const targets of servers.values()) {
    // Any target of the server can list its users; the next one is tried if one's admin is refused.
    let listed = false;
    for (const target of targets) {
      try {
        for (const dbUser of await deps.provisioners.for(target).listManagedUsers())
          if (!foundOn.has(dbUser)) foundOn.set(dbUser, target);
        listed = true;
        break;
      } catch {
        // tried with the server's next target
      }
    }
    if (!listed) report.errors++;
  }
  if (foundOn.size === 0) return;
  // APPROVED first: a request moving on to ACTIVE while we list is then seen in one list or the other.
  const live = new Set<string>();
  for (const status of ['APPROVED', 'ACTIVE', 'REVOKE_FAILED'] as const) {
    for (const request of await listAllByStatus(deps, status)) live.add(request.dbUser);
  }
  for (const [dbUser, target] of foundOn) {
    if (live.has(dbUser)) continue;
    const requestId = requestIdOfDbUser(dbUser);
    if (!requestId) continue;
    try {
      // The status index lags: a consistent read by id decides, so a grant that just landed is kept.
      const request = await deps.requests.get(requestId);
      if (request && explainsUser(request, deps.clock.now())) continue;
      const result = await deps.provisioners.for(target).revoke({ requestId, dbUser, target });
      report.orphansDropped++;
      const audit: AuditDraft = {
        at: deps.clock.now().toISOString(),
        actor: SYSTEM.principal,
        via: SYSTEM.via,
        action: 'orphan-dropped',
        details: { targetId: target.id, dbUser, requestId, sessionsTerminated: result.sessionsTerminated },
      };
      await deps.audit.appendLoose(securityStream(deps.clock.now()), audit);
    } catch {
      report.errors++;
    }
  }
}
