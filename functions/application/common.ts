import { assertMayView } from '../domain/authz.js';
import { ConflictError, type DomainError, ForbiddenError, RequestNotFoundError } from '../domain/errors.js';
import { findLevel } from '../domain/evaluate.js';
import { isFlagged, refusalAudit } from '../domain/lifecycle-records.js';
import type { AccessLevel, Target } from '../domain/policy-schema.js';
import type { AccessRequest, ApprovalLink, Identity } from '../domain/types.js';
import { approvalRequestEmail, decidedEmail } from '../views/emails.js';
import type { RequestFacts } from '../views/render.js';
import type { Deps, GrantSpec } from './ports.js';
import { WorkflowTaskClosedError } from './workflow-io.js';

/**
 * How long a use case keeps re-reading and retrying after losing conditional writes. Time, not a count:
 * a burst of audited refusals can bump a request's version many times in a second, and each lost race is
 * cheap, so the bound that matters is how long the caller (a Lambda, an HTTP client) may wait.
 */
export const CONFLICT_RETRY_BUDGET_MS = 10_000;
/** The first pause after a lost race, doubled on each further loss up to CONFLICT_BACKOFF_CAP_MS. */
export const CONFLICT_BACKOFF_BASE_MS = 5;
export const CONFLICT_BACKOFF_CAP_MS = 250;

export interface ConflictRetryOptions {
  /** Default CONFLICT_RETRY_BUDGET_MS. */
  budgetMs?: number;
  /** Elapsed-time source; the wall clock by default (never Deps.clock, which tests freeze). */
  elapsedMs?: () => number;
  /** Pause between attempts; setTimeout by default. */
  sleep?: (ms: number) => Promise<void>;
}

/** The pause before retry `i` (0-based): full jitter over a doubling window, so racers spread out. */
export function conflictBackoffMs(i: number, random: () => number = Math.random): number {
  const window = Math.min(CONFLICT_BACKOFF_CAP_MS, CONFLICT_BACKOFF_BASE_MS * 2 ** Math.min(i, 16));
  return Math.floor(random() * window) + 1;
}

/**
 * Runs `attempt` again (it re-reads) whenever a conditional write lost a race, with jittered backoff, until
 * it succeeds, throws something else, or CONFLICT_RETRY_BUDGET_MS has passed (then the ConflictError surfaces).
 */
export async function retryOnConflict<T>(
  attempt: () => Promise<T>,
  options: ConflictRetryOptions = {},
): Promise<T> {
  const budgetMs = options.budgetMs ?? CONFLICT_RETRY_BUDGET_MS;
  const started = performance.now();
  const elapsedMs = options.elapsedMs ?? (() => performance.now() - started);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const pause = conflictBackoffMs(i);
      if (elapsedMs() + pause > budgetMs) throw error;
      await sleep(pause);
    }
  }
}

export async function loadRequest(deps: Deps, requestId: string): Promise<AccessRequest> {
  const request = await deps.requests.get(requestId);
  if (!request) throw new RequestNotFoundError(requestId);
  return request;
}

/** The request's target and level in the current policy; UNKNOWN_TARGET / UNKNOWN_LEVEL if either left it. */
export function levelOf(deps: Deps, request: AccessRequest): { target: Target; level: AccessLevel } {
  return findLevel(deps.policy.policy(), request.targetId, request.level);
}

/**
 * The request's level in the current policy, or undefined when it left the policy: only the requester (and
 * past deciders, reviewers) still see it or revoke it, and the lifecycle refuses a decision without it.
 */
export function levelOrUndefined(deps: Deps, request: AccessRequest): AccessLevel | undefined {
  try {
    return levelOf(deps, request).level;
  } catch {
    return undefined;
  }
}

/** The request's target if the policy still names it (a level may have been removed since). */
export function targetOf(deps: Deps, request: AccessRequest): Target | undefined {
  return deps.policy.policy().targets.find((t) => t.id === request.targetId);
}

export function grantSpec(
  request: AccessRequest,
  target: Target,
  level: AccessLevel,
  expiresAt: Date,
): GrantSpec {
  return {
    requestId: request.id,
    dbUser: request.dbUser,
    target,
    privileges: request.privileges,
    expiresAt,
    connectionLimit: request.once ? 1 : level.connectionLimit,
    ...(request.once ? { once: true } : {}),
  };
}

export function factsOf(request: AccessRequest, target: Target): RequestFacts {
  return { request, target: { id: target.id, environment: target.environment, engine: target.engine } };
}

/** Refusals worth an audit event: someone tried to decide who must not. */
const AUDITED_REFUSALS = new Set([
  'SELF_APPROVAL_FORBIDDEN',
  'ALREADY_APPROVED_BY_YOU',
  'NOT_AN_APPROVER',
  'NOT_ALLOWED',
  'NOT_REQUESTER',
  'NOT_A_REVIEWER',
  'SELF_REVIEW_FORBIDDEN',
  'NOT_ELIGIBLE',
  'BREAK_GLASS_NOT_ELIGIBLE',
]);

/**
 * Records a refused attempt on the request (no status change, same transaction as the audit event) and
 * rethrows it. If the request keeps changing under us, the refusal still stands; the event goes best-effort.
 */
export async function refuse(
  deps: Deps,
  request: AccessRequest,
  actor: Identity,
  error: DomainError,
): Promise<never> {
  if (error instanceof ForbiddenError && AUDITED_REFUSALS.has(error.code)) {
    await recordOnRequest(deps, request, refusalAudit(request, actor, error, deps.clock.now()));
  }
  throw error;
}

/** Runs the caller's authorisation check on a request; a ForbiddenError it throws is recorded first (refuse). */
export async function authorise<T>(
  deps: Deps,
  request: AccessRequest,
  caller: Identity,
  check: () => T,
): Promise<T> {
  try {
    return check();
  } catch (error) {
    if (error instanceof ForbiddenError) await refuse(deps, request, caller, error);
    throw error;
  }
}

/** Loads a request the caller may view: its requester, its approvers, whoever already decided it, its reviewers. */
export async function loadViewable(deps: Deps, requestId: string, caller: Identity): Promise<AccessRequest> {
  const request = await loadRequest(deps, requestId);
  assertMayView(caller, request, levelOrUndefined(deps, request), deps.clock.now(), deps.policy.policy());
  return request;
}

/** Appends an audit event to a request without changing it, re-reading on conflicts. */
export async function recordOnRequest(
  deps: Deps,
  request: AccessRequest,
  audit: Parameters<Deps['requests']['recordEvent']>[1],
): Promise<void> {
  let current = request;
  try {
    await retryOnConflict(async () => {
      try {
        await deps.requests.recordEvent(current, audit);
      } catch (error) {
        if (error instanceof ConflictError) current = (await deps.requests.get(request.id)) ?? current;
        throw error;
      }
    });
  } catch (error) {
    deps.log.warn('could not record an audit event on the request; kept on the security stream', {
      requestId: request.id,
      action: audit.action,
      error: error instanceof Error ? error.name : 'unknown',
    });
    await deps.audit.appendLoose(securityStream(deps.clock.now()), {
      ...audit,
      details: { ...(audit.details ?? {}), requestId: request.id },
    });
  }
}

/** Security events not tied to a stored request, one stream per UTC day. */
export function securityStream(now: Date): string {
  return `security#${now.toISOString().slice(0, 10)}`;
}

/** Records a refusal that concerns no stored request (who the caller is, who may ask) on the security stream. */
export async function refuseOnSecurityStream(
  deps: Deps,
  actor: Pick<Identity, 'principal' | 'via'>,
  error: DomainError,
  details: Record<string, string | number | boolean> = {},
): Promise<void> {
  const now = deps.clock.now();
  await deps.audit.appendLoose(securityStream(now), {
    at: now.toISOString(),
    actor: actor.principal,
    via: actor.via,
    action: 'refused',
    comment: error.message,
    details: { code: error.code, ...details },
  });
}

/** Sends an email; a failed send is logged (without content) and does not undo the decision already stored. */
export async function sendSafely(
  deps: Deps,
  email: Parameters<Deps['mailer']['send']>[0],
  requestId: string,
) {
  try {
    await deps.mailer.send(email);
  } catch (error) {
    deps.log.warn('email not sent', {
      requestId,
      recipients: email.to.length,
      error: error instanceof Error ? error.name : 'unknown',
    });
  }
}

/** Approvers whose links this transition retired (they had an open link before, not after). */
export function retiredApprovers(before: readonly ApprovalLink[], after: readonly ApprovalLink[]): string[] {
  const open = (l: ApprovalLink) => l.usedAt === undefined && l.retiredAt === undefined;
  const out = new Set<string>();
  after.forEach((link, i) => {
    const was = before[i];
    if (was && open(was) && link.retiredAt !== undefined && link.usedAt === undefined) out.add(link.approver);
  });
  return [...out];
}

/** Tells approvers with retired links that the request was decided. */
export async function notifyRetired(
  deps: Deps,
  before: AccessRequest,
  after: AccessRequest,
  outcome: string,
  by?: string,
): Promise<void> {
  // Whoever already decided knows; only the others are told.
  const decided = new Set(
    [...after.approvals, ...(after.denial ? [after.denial] : [])].flatMap((d) => [d.by, d.email ?? d.by]),
  );
  const to = retiredApprovers(before.approvalLinks, after.approvalLinks).filter((a) => !decided.has(a));
  const target = targetOf(deps, after);
  if (to.length === 0 || !target) return;
  await sendSafely(
    deps,
    decidedEmail(factsOf(after, target), { to, outcome, ...(by ? { by } : {}) }),
    after.id,
  );
}

/** Emails each recipient their own approval link, or (no token) a notice to decide through the API. */
export async function emailLinks(
  deps: Deps,
  request: AccessRequest,
  target: Target,
  issued: { approver: string; token?: string | undefined }[],
  options: { purpose: ApprovalLink['purpose']; escalation?: boolean },
): Promise<void> {
  const base = deps.publicBaseUrl.replace(/\/+$/, '');
  for (const { approver, token } of issued) {
    const email = approvalRequestEmail(factsOf(request, target), {
      to: approver,
      ...(token ? { link: `${base}/approvals/${token}` } : {}),
      ...(options.purpose === 'extension' && request.extension ? { extension: request.extension } : {}),
      ...(options.escalation ? { escalation: true } : {}),
    });
    await sendSafely(deps, email, request.id);
  }
}

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

/** Shapes of secrets an error text may carry: URI credentials, key=value secrets, SigV4 query parts, long opaque tokens. */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]*:[^\s/@]*@/gi, '$1***@'],
  [
    /\b(password|passwd|pwd|secret|token|tasktoken|authorization|x-amz-signature|x-amz-credential|x-amz-security-token)(["']?\s*[=:]\s*["']?)[^\s"'&,;}]+/gi,
    '$1$2***',
  ],
  [/[A-Za-z0-9+/_=-]{40,}/g, '***'],
];

/** An error text safe to store and log: likely secrets masked, control characters dropped, bounded length. */
export function redactErrorText(text: string, maxLength = 300): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  return out.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, maxLength);
}
