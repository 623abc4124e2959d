import { ForbiddenError } from './errors.js';
import type { IdentityTrust } from './policy-identity.js';
import type { Identity } from './types.js';

/**
 * Who a signed caller is, from what API Gateway's AWS_IAM auth verified: the principal's ARN. A caller chooses
 * a role session name (AssumeRole's RoleSessionName, CI OIDC roles included), so a session name is read as an
 * email only for roles whose session names an identity provider sets (the trust model's emailSessionRoles).
 * Every other caller is its principal, and all sessions of one such role are one person. Pure.
 */

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const MAX_EMAIL = 254;

export type ParsedPrincipal =
  | { kind: 'role-session'; partition: string; account: string; role: string; session: string }
  | { kind: 'user'; partition: string; account: string; arn: string }
  | { kind: 'root'; partition: string; account: string; arn: string }
  | { kind: 'other'; partition: string; account: string; arn: string };

/** The parts of a signed principal's ARN, or undefined for anything that is not one. */
export function parsePrincipalArn(arn: string): ParsedPrincipal | undefined {
  if (arn.length > 2048) return undefined;
  const head = /^arn:(aws|aws-cn|aws-us-gov|aws-iso[a-z-]*):(sts|iam)::(\d{12}):(.+)$/.exec(arn);
  if (!head) return undefined;
  const [, partition = '', service, account = '', resource = ''] = head;
  if (service === 'sts') {
    const session = /^assumed-role\/([\w+=,.@-]{1,64})\/([\w+=,.@-]{2,64})$/.exec(resource);
    if (session) {
      return { kind: 'role-session', partition, account, role: session[1] ?? '', session: session[2] ?? '' };
    }
    // federated-user/<name>: GetFederationToken's caller names it freely, and the ARN does not say who that was.
    return { kind: 'other', partition, account, arn };
  }
  if (resource === 'root') return { kind: 'root', partition, account, arn };
  if (/^user\/[\w+=,.@/-]{1,576}$/.test(resource)) return { kind: 'user', partition, account, arn };
  return { kind: 'other', partition, account, arn };
}

/** `arn:aws:iam::<account>:role/<name>`: the role behind a session, the key of the directory and of "same person". */
export function roleArnOf(parsed: { partition: string; account: string; role: string }): string {
  return `arn:${parsed.partition}:iam::${parsed.account}:role/${parsed.role}`;
}

/** The role ARN behind a role-session principal, or undefined for any other principal. */
export function roleOfPrincipal(principal: string): string | undefined {
  const parsed = principal.startsWith('arn:') ? parsePrincipalArn(principal) : undefined;
  return parsed?.kind === 'role-session' ? roleArnOf(parsed) : undefined;
}

/** True if `pattern` (a glob where `*` is any run of characters, all else literal) matches `value`. */
export function globMatches(pattern: string, value: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's').test(value);
}

export interface SignedCaller {
  /** `requestContext.identity.userArn`: the principal API Gateway verified the signature of. */
  userArn: string;
  /** `requestContext.identity.accountId`, when API Gateway sets it: must agree with the ARN. */
  accountId?: string | undefined;
}

/**
 * The identity of a signed caller under the trust model, or a ForbiddenError: ACCOUNT_NOT_TRUSTED for an
 * account outside `trust.accounts` (`self` = `homeAccount`, the account the functions run in), and
 * UNSUPPORTED_PRINCIPAL for an ARN that names nobody we can hold to account (a federated user, or a session of
 * an identity provider's role whose name is not an email and that the directory does not map).
 */
export function identityOfSignedCaller(
  caller: SignedCaller,
  trust: IdentityTrust,
  homeAccount: string | undefined,
): Identity {
  const parsed = parsePrincipalArn(caller.userArn);
  if (!parsed || parsed.kind === 'other') {
    throw new ForbiddenError(
      'UNSUPPORTED_PRINCIPAL',
      'callers must be IAM users or role sessions (federated users and other principals are not accepted)',
    );
  }
  const accounts = new Set(trust.accounts.map((a) => (a === 'self' ? homeAccount : a)));
  const agrees = caller.accountId === undefined || caller.accountId === parsed.account;
  if (!agrees || !accounts.has(parsed.account)) {
    throw new ForbiddenError(
      'ACCOUNT_NOT_TRUSTED',
      `account ${parsed.account} is not trusted by the policy`,
      {
        details: { account: parsed.account },
      },
    );
  }
  const email = trustedEmail(parsed, trust);
  if (email === undefined && parsed.kind === 'role-session' && setsSessionName(trust, parsed.role)) {
    // The identity provider named the session, but not with an email: taken as the role, every user of the
    // permission set would be one person (each another's requester), and one user under two permission sets
    // two people (their own approver). Refused instead of guessed.
    throw new ForbiddenError(
      'UNSUPPORTED_PRINCIPAL',
      `sessions of ${parsed.role} must be named with the user's email (set by the identity provider); this one is not`,
      { details: { role: parsed.role } },
    );
  }
  return { principal: caller.userArn, ...(email ? { email } : {}), via: 'iam' };
}

/** The email the trust model vouches for: a directory entry, else an IdP-set session name; never a caller's choice. */
function trustedEmail(parsed: ParsedPrincipal, trust: IdentityTrust): string | undefined {
  const key = parsed.kind === 'role-session' ? roleArnOf(parsed) : parsed.arn;
  const listed = Object.hasOwn(trust.people, key) ? trust.people[key] : undefined;
  if (listed) return listed.toLowerCase();
  if (parsed.kind !== 'role-session') return undefined;
  if (!setsSessionName(trust, parsed.role)) return undefined;
  return isEmail(parsed.session) ? parsed.session.toLowerCase() : undefined;
}

/** Whether an identity provider, not the caller, names this role's sessions (`emailSessionRoles`). */
function setsSessionName(trust: IdentityTrust, role: string): boolean {
  return trust.emailSessionRoles.some((pattern) => globMatches(pattern, role));
}

export function isEmail(text: string): boolean {
  return text.length <= MAX_EMAIL && EMAIL.test(text);
}

/**
 * The person behind an identity, for every "same person" rule (self-approval, distinct approvers, the
 * requester): the trusted email when there is one; else the role for a role session (a caller picks the
 * session name, so every session of the role is one person); else the principal.
 */
export function personOf(identity: { principal: string; email?: string | undefined }): string {
  if (identity.email) return identity.email.toLowerCase();
  return roleOfPrincipal(identity.principal) ?? identity.principal;
}

export function samePerson(
  a: { principal: string; email?: string | undefined },
  b: { principal: string; email?: string | undefined },
): boolean {
  return a.principal === b.principal || personOf(a) === personOf(b);
}
