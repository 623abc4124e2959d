import { ForbiddenError, PolicyRefusedError } from './errors.js';
import { globMatches, roleOfPrincipal, samePerson } from './identity.js';
import type { AccessLevel, Policy, Privileges } from './policy-schema.js';
import { privilegeNames } from './scope.js';
import type { AccessRequest, Decision, Identity } from './types.js';

/**
 * Who may do what to a request. Pure: the caller passes the identity (already authenticated), the request,
 * its level from the current policy and the clock.
 */

/**
 * True if `pattern` names `identity`. An email pattern matches only an email the trust model vouches for
 * (identity.email), case-insensitively. An ARN pattern matches the principal, or for a role session the role
 * (`arn:aws:iam::<account>:role/<name>`), anchored, where `*` is any run of characters and everything else is
 * literal (no regex syntax leaks in from the policy file).
 */
export function matchesPrincipal(pattern: string, identity: Identity): boolean {
  if (pattern.startsWith('arn:')) {
    if (globMatches(pattern, identity.principal)) return true;
    const role = roleOfPrincipal(identity.principal);
    return role !== undefined && globMatches(pattern, role);
  }
  return identity.email !== undefined && identity.email.toLowerCase() === pattern.toLowerCase();
}

/** True if the identity is the request's requester as a person (see personOf: all sessions of a role are one). */
export function isRequester(identity: Identity, request: AccessRequest): boolean {
  return samePerson(identity, { principal: request.requester, email: request.requesterEmail });
}

/** True if the decision was made by this identity as a person. */
export function isDecisionBy(decision: Decision, identity: Identity): boolean {
  return samePerson(identity, { principal: decision.by, email: decision.email });
}

/** Two decisions by the same person (so they count as one approval). */
export function sameDecider(a: Decision, b: Decision): boolean {
  return samePerson({ principal: a.by, email: a.email }, { principal: b.by, email: b.email });
}

/** Whether escalation approvers have joined: escalateAt has passed, or the escalation was recorded. */
export function isEscalated(request: AccessRequest, now: Date): boolean {
  if (request.escalated === true) return true;
  return request.escalateAt !== undefined && now.getTime() >= Date.parse(request.escalateAt);
}

/** The approver patterns that may decide the request now: the rule's, plus escalation's once it is due. */
export function approversOf(request: AccessRequest, level: AccessLevel, now: Date): string[] {
  const approvers = [...level.approvers];
  if (level.escalation && isEscalated(request, now)) approvers.push(...level.escalation.approvers);
  return [...new Set(approvers)];
}

export function isApprover(
  identity: Identity,
  request: AccessRequest,
  level: AccessLevel,
  now: Date,
): boolean {
  return approversOf(request, level, now).some((pattern) => matchesPrincipal(pattern, identity));
}

/**
 * Refuses unless the identity may approve (or deny) the request — or its pending extension, when the
 * request is ACTIVE with one. Self-approval is checked first so it is recorded as such.
 */
export function assertMayApprove(
  identity: Identity,
  request: AccessRequest,
  level: AccessLevel,
  now: Date,
): void {
  assertMayDecide(identity, request, level, now, 'approve');
  const extension = request.status === 'ACTIVE' ? request.extension : undefined;
  const decisions = extension ? extension.approvals : request.approvals;
  if (decisions.some((d) => isDecisionBy(d, identity))) {
    throw new ForbiddenError(
      'ALREADY_APPROVED_BY_YOU',
      `you already approved this ${extension ? 'extension' : 'request'}`,
    );
  }
}

/** Denying needs the same standing as approving, except that an earlier approval does not stop a deny. */
export function assertMayDeny(
  identity: Identity,
  request: AccessRequest,
  level: AccessLevel,
  now: Date,
): void {
  assertMayDecide(identity, request, level, now, 'decide');
}

/** The standing to decide at all: never on your own request (unless the rule allows), only as an approver. */
function assertMayDecide(
  identity: Identity,
  request: AccessRequest,
  level: AccessLevel,
  now: Date,
  verb: 'approve' | 'decide',
): void {
  if (!level.allowSelfApproval && isRequester(identity, request)) {
    throw new ForbiddenError('SELF_APPROVAL_FORBIDDEN', `you cannot ${verb} your own request`);
  }
  if (!isApprover(identity, request, level, now)) {
    throw new ForbiddenError('NOT_AN_APPROVER', 'you are not an approver of this request');
  }
}

/** Early revocation: the requester (giving access back) or any approver (taking it away). */
export function assertMayRevoke(
  identity: Identity,
  request: AccessRequest,
  level: AccessLevel | undefined,
  now: Date,
): void {
  if (identity.via === 'system' || isRequester(identity, request)) return;
  if (level && isApprover(identity, request, level, now)) return;
  throw new ForbiddenError('NOT_ALLOWED', 'only the requester or an approver may revoke this request');
}

/** Credentials go to the requester only, and only while the grant is ACTIVE. */
export function assertMayFetchCredentials(identity: Identity, request: AccessRequest): void {
  if (!isRequester(identity, request)) {
    throw new ForbiddenError('NOT_REQUESTER', 'only the requester may fetch credentials');
  }
  if (request.statements) {
    throw new PolicyRefusedError(
      'NO_CREDENTIALS_FOR_STATEMENT',
      'a statement request has no credentials: the workflow runs its statements once approved',
    );
  }
  if (request.status !== 'ACTIVE') {
    throw new PolicyRefusedError('REQUEST_NOT_ACTIVE', `the request is ${request.status}, not ACTIVE`, {
      details: { status: request.status },
    });
  }
}

/** A statement request's result: its requester alone (approvers saw the SQL, never the data it returned). */
export function assertMayReadResult(identity: Identity, request: AccessRequest): void {
  if (!isRequester(identity, request)) {
    throw new ForbiddenError('NOT_REQUESTER', "only the requester may read a statement request's result");
  }
  if (!request.statements) {
    throw new PolicyRefusedError(
      'NOT_A_STATEMENT_REQUEST',
      'this request ran no statements: it has no result',
    );
  }
}

/** Viewing: the requester, anyone who may approve, anyone who already decided it, and its reviewers. */
export function assertMayView(
  identity: Identity,
  request: AccessRequest,
  level: AccessLevel | undefined,
  now: Date,
  policy: Policy,
): void {
  if (identity.via === 'system' || isRequester(identity, request)) return;
  if (level && isApprover(identity, request, level, now)) return;
  if (isReviewer(identity, policy, request)) return;
  const decisions = [...request.approvals, ...(request.denial ? [request.denial] : [])];
  if (decisions.some((d) => isDecisionBy(d, identity))) return;
  throw new ForbiddenError('NOT_ALLOWED', 'you may not view this request');
}

export function assertMayCancel(identity: Identity, request: AccessRequest): void {
  if (!isRequester(identity, request)) {
    throw new ForbiddenError('NOT_REQUESTER', 'only the requester may cancel this request');
  }
}

export function assertMayExtend(identity: Identity, request: AccessRequest): void {
  if (!isRequester(identity, request)) {
    throw new ForbiddenError('NOT_REQUESTER', 'only the requester may extend this request');
  }
}

/** Eligibility: the level names no requesters (anyone the trust model accepts), or names this caller. */
export function mayRequest(level: AccessLevel, identity: Identity): boolean {
  return level.requesters === undefined || level.requesters.some((p) => matchesPrincipal(p, identity));
}

/** Break-glass has its own explicit list; a level without break-glass admits no one. */
export function mayBreakGlass(level: AccessLevel, identity: Identity): boolean {
  const rule = level.breakGlass;
  return rule?.allowed === true && rule.requesters.some((p) => matchesPrincipal(p, identity));
}

/**
 * Refuses a caller who may not ask for the level (NOT_ELIGIBLE) or use its break-glass (BREAK_GLASS_NOT_ELIGIBLE):
 * for a new request, and again for an extension (the policy may have changed since).
 */
export function assertEligible(
  identity: Identity,
  level: AccessLevel,
  ask: { targetId: string; level: string; breakGlass: boolean },
): void {
  const details = { targetId: ask.targetId, level: ask.level };
  // Break-glass has its own list; it is not "anyone who may ask for the level".
  if (ask.breakGlass && !mayBreakGlass(level, identity)) {
    throw new ForbiddenError(
      'BREAK_GLASS_NOT_ELIGIBLE',
      `you are not on the break-glass list of '${ask.level}'`,
      {
        details,
      },
    );
  }
  if (!ask.breakGlass && !mayRequest(level, identity)) {
    throw new ForbiddenError('NOT_ELIGIBLE', `you may not ask for '${ask.level}' on '${ask.targetId}'`, {
      details,
    });
  }
}

/** True if the level's auto-approve conditions all hold for this requester and duration. */
export function autoApproves(level: AccessLevel, requester: Identity, durationSeconds: number): boolean {
  const rule = level.autoApprove;
  if (!rule) return false;
  if (rule.maxDuration !== undefined && durationSeconds > rule.maxDuration) return false;
  if (rule.requesters !== undefined && !rule.requesters.some((p) => matchesPrincipal(p, requester)))
    return false;
  return true;
}

export interface RequestableLevel {
  name: string;
  description?: string;
  /** Seconds. */
  maxDuration: number;
  approvers: string[];
  approvalsRequired: number;
  /** Auto-approved for this caller up to this many seconds; absent when never. */
  autoApproveUpTo?: number;
  ticketPattern?: string;
  requireReason: boolean;
  breakGlass: boolean;
  extensionAutoApproveUpTo: number;
  privileges: string[];
  schemas: string[];
  /** What may be asked for on it: a window of access, statements run once, or both. */
  requests: AccessLevel['requests'];
}

export interface RequestableTarget {
  id: string;
  description?: string;
  engine: 'postgres' | 'mysql';
  environment: string;
  credentialKind: 'iam' | 'password';
  levels: RequestableLevel[];
}

/**
 * The targets and levels this caller may ask for, with the facts they need to choose (GET /targets): a level
 * the caller is not eligible for is left out, and a target with none left is too. No connection details.
 */
export function requestableTargets(policy: Policy, identity: Identity): RequestableTarget[] {
  return policy.targets.flatMap((target) => {
    const levels = Object.entries(target.levels)
      .filter(([, level]) => mayRequest(level, identity) || mayBreakGlass(level, identity))
      .map(([name, level]) => describeLevel(name, level, identity));
    if (levels.length === 0) return [];
    return [
      {
        id: target.id,
        ...(target.description ? { description: target.description } : {}),
        engine: target.engine,
        environment: target.environment,
        credentialKind: target.credentialKind,
        levels,
      },
    ];
  });
}

function describeLevel(name: string, level: AccessLevel, identity: Identity): RequestableLevel {
  const autoApproveUpTo = autoApproves(level, identity, 1)
    ? (level.autoApprove?.maxDuration ?? level.maxDuration)
    : undefined;
  return {
    name,
    ...(level.description ? { description: level.description } : {}),
    maxDuration: level.maxDuration,
    approvers: level.approvers,
    approvalsRequired: level.approvalsRequired,
    ...(autoApproveUpTo !== undefined ? { autoApproveUpTo } : {}),
    ...(level.ticketPattern ? { ticketPattern: level.ticketPattern } : {}),
    requireReason: level.requireReason,
    /** Whether this caller may use break-glass on it. */
    breakGlass: mayBreakGlass(level, identity),
    extensionAutoApproveUpTo: level.extension.allowed ? level.extension.autoApproveUpTo : 0,
    privileges: privilegeNames(level.privileges),
    schemas: schemaNames(level.privileges),
    requests: level.requests,
  };
}

function schemaNames(privileges: Privileges): string[] {
  return [...new Set(privileges.schemas.map((s) => s.name))];
}

/**
 * Who reviews a level's requests without approving them: the policy's reviewers, the target's, and the
 * level's break-glass `notify` addresses. A target or level the policy no longer names leaves the global list.
 */
export function reviewersOf(
  policy: Policy,
  target: Policy['targets'][number] | undefined,
  level: AccessLevel | undefined,
): string[] {
  const reviewers = [...policy.reviewers];
  if (target && level) reviewers.push(...target.reviewers, ...(level.breakGlass?.notify ?? []));
  return [...new Set(reviewers)];
}

/** True if the identity reviews the request: its target and level are looked up in the current policy. */
export function isReviewer(identity: Identity, policy: Policy, request: AccessRequest): boolean {
  const target = policy.targets.find((t) => t.id === request.targetId);
  const level =
    target && Object.hasOwn(target.levels, request.level) ? target.levels[request.level] : undefined;
  return reviewersOf(policy, target, level).some((pattern) => matchesPrincipal(pattern, identity));
}

/**
 * The standing to acknowledge a request: a reviewer, never of their own request. Self-review is checked first
 * so it is recorded as such. Whether there is anything to acknowledge is the lifecycle's question (applyReview).
 */
export function assertMayReview(identity: Identity, policy: Policy, request: AccessRequest): void {
  if (isRequester(identity, request)) {
    throw new ForbiddenError('SELF_REVIEW_FORBIDDEN', 'you cannot review your own request');
  }
  if (!isReviewer(identity, policy, request)) {
    throw new ForbiddenError('NOT_A_REVIEWER', 'you are not a reviewer of this request');
  }
}
