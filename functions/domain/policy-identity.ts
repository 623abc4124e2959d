import * as z from 'zod/mini';
import './zod-locale.js';

/** The policy's trust model: who a signed caller is, and which principal patterns would trust a name the caller chose. */

const AccountId = z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit AWS account id'));

/** An IAM role name glob: letters, digits, `+=,.@_-` and `*`. */
const RoleNamePattern = z
  .string()
  .check(z.regex(/^[\w+=,.@*-]{1,64}$/, 'must be an IAM role name, where * matches any run of characters'));

/** The IAM user or role a directory entry names: `arn:aws:iam::<account>:user/<path/name>` or `…:role/<name>`. */
const DirectoryPrincipal = z
  .string()
  .check(
    z.regex(
      /^arn:aws[a-z-]*:iam::\d{12}:(user\/[\w+=,.@/-]{1,512}|role\/[\w+=,.@-]{1,64})$/,
      'must be an IAM user ARN or an IAM role ARN (arn:aws:iam::<account>:role/<name>, no path)',
    ),
  );

/**
 * The trust model: who a signed caller is. Nothing here is read from what a caller may choose, except where an
 * identity provider sets it (the session names of `emailSessionRoles`).
 */
export const IdentityTrust = z.strictObject({
  /** Accounts callers may come from; `self` is the account the stack is deployed in. */
  accounts: z._default(z.array(z.union([z.literal('self'), AccountId])).check(z.minLength(1)), ['self']),
  /**
   * Roles whose session name an identity provider sets, not the caller: only their session names count as
   * emails. IAM Identity Center's permission-set roles by default (their trust policy admits only its SAML provider).
   */
  emailSessionRoles: z._default(z.array(RoleNamePattern), ['AWSReservedSSO_*']),
  /** Other principals (IAM users, service roles: every session of the role) mapped to a person's email. */
  people: z._default(z.record(DirectoryPrincipal, z.email()), {}),
});
export type IdentityTrust = z.infer<typeof IdentityTrust>;

export const DEFAULT_IDENTITY_TRUST: IdentityTrust = {
  accounts: ['self'],
  emailSessionRoles: ['AWSReservedSSO_*'],
  people: {},
};

/**
 * Why an ARN pattern would trust a name the caller chose, or undefined. A pattern may name a role session only
 * for roles whose session names an identity provider sets; for any other role, whoever assumes it picks the name.
 * `*` matches any run of characters, `:` and `/` included, so a pattern that can match a role session at all
 * (service sts, or a `*` where the service is) must have the plain shape `…:assumed-role/<role>/<session or *>`,
 * or leave the rest open (end in `/*` or `:*`): anything else could pin a session name through a wildcard.
 */
export function spoofablePattern(pattern: string, emailSessionRoles: readonly string[]): string | undefined {
  if (!pattern.startsWith('arn:')) return undefined; // an email: matched against trusted emails only
  const [, partition = '', service = ''] = pattern.split(':');
  const canMatchSession = service === 'sts' || service.includes('*') || partition.includes('*');
  if (!canMatchSession) return undefined;
  const session = /^arn:[^:*]*\*?[^:*]*:(?:sts|\*):\*?:(?:\d{12}|\*):assumed-role\/([^/]+)\/([^/]+)$/.exec(
    pattern,
  );
  if (!session) {
    const openEnded = /[:/]\*$/.test(pattern) && pattern.indexOf('*') === pattern.length - 1;
    if (openEnded) return undefined;
    return `a pattern that can match role sessions must read arn:aws:sts::<account>:assumed-role/<role>/<session or *>: a * elsewhere can stand for a session name the caller chooses`;
  }
  const [, role = '', name = ''] = session;
  if (name === '*') return undefined;
  if (emailSessionRoles.some((trusted) => globCovers(trusted, role))) return undefined;
  return `the session name of role '${role}' is chosen by whoever assumes it; name the role (assumed-role/${role}/*), list the person's email, or add the role to identity.emailSessionRoles if an identity provider sets its session names`;
}

/** True if every name `inner` matches is matched by `outer` (exact, or `outer` is a literal prefix plus `*`). */
function globCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  const star = outer.indexOf('*');
  return star === outer.length - 1 && inner.startsWith(outer.slice(0, -1));
}
