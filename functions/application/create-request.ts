import { createHash } from 'node:crypto';
import { DomainError, ForbiddenError } from '../domain/errors.js';
import { evaluateNewRequest, findLevel } from '../domain/evaluate.js';
import { assertNewRequestCoherent, NewRequestBody, parseInput } from '../domain/schemas.js';
import type { Identity } from '../domain/types.js';
import { breakGlassEmail } from '../views/emails.js';
import { sendSafely } from './notifications.js';
import type { Deps } from './ports.js';
import { refuseOnSecurityStream } from './refusals.js';
import { factsOf } from './request-lookup.js';
import { type RequestView, viewOf } from './request-view.js';

/** The body's fingerprint, key order ignored, so a re-POST with the same idempotency key can be compared. */
export function bodyHashOf(body: NewRequestBody): string {
  const { idempotencyKey: _key, ...rest } = body;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Eligibility refusals are security events: recorded on the day's security stream (no request is stored). */
const INELIGIBLE = new Set(['NOT_ELIGIBLE', 'BREAK_GLASS_NOT_ELIGIBLE']);

async function auditIneligible<T>(deps: Deps, caller: Identity, body: NewRequestBody, evaluate: () => T) {
  try {
    return evaluate();
  } catch (error) {
    if (error instanceof ForbiddenError && INELIGIBLE.has(error.code)) {
      await refuseOnSecurityStream(deps, caller, error, {
        targetId: body.target,
        level: body.level,
        breakGlass: body.breakGlass === true,
      });
    }
    throw error;
  }
}

/**
 * Evaluates a new request against the policy, stores it with its first audit event and starts its workflow.
 * A re-POST with the same idempotency key returns the first request; the same key with another body is refused.
 */
export async function createRequest(
  input: { body: unknown; caller: Identity },
  deps: Deps,
): Promise<{ request: RequestView; created: boolean }> {
  const body = parseInput(NewRequestBody, input.body);
  assertNewRequestCoherent(body);
  const policy = deps.policy.policy();
  const requestId = deps.ids.requestId();
  const { request, audit } = await auditIneligible(deps, input.caller, body, () =>
    evaluateNewRequest({ body, requester: input.caller, policy, now: deps.clock.now(), requestId }),
  );
  const bodyHash = bodyHashOf(body);
  const stored = await deps.requests.create(request, audit, { bodyHash });
  if (!stored.created && stored.bodyHash !== undefined && stored.bodyHash !== bodyHash) {
    throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for a different request', {
      details: { requestId: stored.request.id },
    });
  }
  // Starting twice is harmless (same name, same input), so a retry after a crash here still starts it.
  await deps.workflow.start(stored.request.id, { requestId: stored.request.id });
  if (stored.created && stored.request.breakGlass) {
    const { target, level } = findLevel(policy, stored.request.targetId, stored.request.level);
    const notify = level.breakGlass?.notify ?? [];
    if (notify.length > 0)
      await sendSafely(deps, breakGlassEmail(factsOf(stored.request, target), notify), requestId);
  }
  return { request: viewOf(stored.request), created: stored.created };
}
