import { assertMayFetchCredentials } from '../domain/authz.js';
import { DomainError } from '../domain/errors.js';
import type { AuditDraft, Identity } from '../domain/types.js';
import type { Credentials, Deps } from './ports.js';
import { loadAuthorised, recordOnRequest } from './refusals.js';
import { grantSpec, levelOf } from './request-lookup.js';

/**
 * Fresh credentials for the requester's active grant (a rotated password or a new IAM token). The audit
 * event says who fetched what kind, and until when — never the secret.
 */
export async function fetchCredentials(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<Credentials> {
  const request = await loadAuthorised(deps, input.requestId, input.caller, assertMayFetchCredentials);
  if (request.status === 'ACTIVE' && request.once?.usedAt !== undefined) {
    throw new DomainError(
      'ONCE_ALREADY_USED',
      'these use-once credentials were used: their one session has begun',
      {
        details: { usedAt: request.once.usedAt },
      },
    );
  }
  const { target, level } = levelOf(deps, request);
  const expiresAt = new Date(request.expiresAt ?? request.grant?.expiresAt ?? deps.clock.now().toISOString());
  const credentials = await deps.provisioners
    .for(target)
    .credentials(grantSpec(request, target, level, expiresAt));
  const audit: AuditDraft = {
    at: deps.clock.now().toISOString(),
    actor: input.caller.principal,
    via: input.caller.via,
    action: 'credentials-issued',
    fromStatus: request.status,
    toStatus: request.status,
    details: {
      username: credentials.username,
      kind: credentials.kind,
      credentialExpiresAt: credentials.credentialExpiresAt,
    },
  };
  await recordOnRequest(deps, request, audit);
  return credentials;
}
