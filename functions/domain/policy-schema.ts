import * as z from 'zod/mini';
import './zod-locale.js';
import { formatDuration, parseDuration } from './duration.js';
import { Connection, isLoopbackHost, isRdsConnection } from './policy-connection.js';
import { DEFAULT_IDENTITY_TRUST, IdentityTrust, spoofablePattern } from './policy-identity.js';

/**
 * The policy file's schema: the one source of truth for targets, access levels and rules. Validated at
 * synth time (cdk/), at Lambda cold start (functions/shared/config.ts) and by `jitdb policy check`.
 * Everything that ends up in SQL is structured data rendered with the driver's identifier quoting; the
 * schema additionally refuses control characters and over-long names so a policy typo fails early.
 */

/** Hard ceiling on any grant, whatever a policy says. */
export const MAX_GRANT_SECONDS = 12 * 3600;
export const MAX_APPROVAL_WINDOW_SECONDS = 7 * 86400;
/** Ceilings on a level's statement settings (statement requests): run time, result size and retention. */
/** Under Lambda's 15-minute ceiling, with room to make and drop the user (cdk/constructs/workflow.ts). */
export const MAX_STATEMENT_TIMEOUT_SECONDS = 10 * 60;
export const MAX_STATEMENT_RESULT_ROWS = 10_000;
/** A result is one DynamoDB item (400 KB at most), with room for its columns and counts. */
export const MAX_STATEMENT_RESULT_BYTES = 256 * 1024;
export const MAX_RESULT_RETENTION_SECONDS = 7 * 86400;

/** What a level lets people ask for: a time-bound window of access, a statement run once, or both. */
export const REQUEST_KINDS = ['window', 'statement'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

const durationField = (max: number, maxText: string) =>
  z.pipe(
    z.union([z.string(), z.number()]),
    z.transform((value: string | number, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined) {
        ctx.issues.push({
          code: 'custom',
          message: `'${String(value)}' is not a duration (use 30m, 4h, 1h30m)`,
          input: value,
        });
        return z.NEVER;
      }
      if (seconds > max) {
        ctx.issues.push({ code: 'custom', message: `must be ≤ ${maxText}`, input: value });
        return z.NEVER;
      }
      return seconds;
    }),
  );

/** A database identifier (schema, table, database, role): quoted when rendered, so only sanity limits here. */
export const Identifier = z.string().check(
  z.minLength(1),
  // PostgreSQL silently truncates identifiers at 63 bytes (NAMEDATALEN), so a longer name would grant on another one.
  z.refine((s) => Buffer.byteLength(s, 'utf8') <= 63, 'must be at most 63 bytes in UTF-8'),
  z.refine((s) => !hasControlCharacters(s), 'must not contain control characters'),
);

/** True if the text holds a C0 control character or DEL (NUL bytes included). */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export const ID_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
const Id = z
  .string()
  .check(z.regex(ID_PATTERN, 'must be lowercase letters, digits and dashes, starting with a letter'));

export const TablePrivilege = z.enum([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'TRUNCATE',
  'REFERENCES',
  'TRIGGER',
]);
export type TablePrivilege = z.infer<typeof TablePrivilege>;

/** Built-in PostgreSQL roles a level may grant. Anything else must be spelled out as schema privileges. */
export const BuiltInRole = z.enum([
  'pg_read_all_data',
  'pg_write_all_data',
  'pg_read_all_stats',
  'pg_stat_scan_tables',
  'pg_monitor',
  'pg_signal_backend',
]);
export type BuiltInRole = z.infer<typeof BuiltInRole>;

/**
 * Built-in roles that reach past the level's own data: granted only where a level names them again in
 * `allowDangerousRoles`, so nobody gets them by copying an example.
 */
export const DANGEROUS_ROLES: Readonly<Partial<Record<BuiltInRole, string>>> = {
  pg_read_all_data:
    'reads every table, the system catalogs included: pg_authid password hashes on a self-managed server',
  pg_write_all_data: 'writes every table in every schema, including ones the application relies on',
  pg_signal_backend: "can cancel and terminate other roles' sessions: the application's and the admin's",
};

/**
 * Table privileges whose effects outlive the grant or reach past the level's own changes: granted only where a
 * level names them again in `allowDangerousPrivileges`.
 */
export const DANGEROUS_PRIVILEGES: Readonly<Partial<Record<TablePrivilege, string>>> = {
  TRIGGER:
    "lets the user create triggers that run on every later write: on PostgreSQL they outlive the revoke (a trigger has no owner DROP OWNED could find), and on MySQL/MariaDB it may also drop the application's own triggers",
};

export const SchemaGrant = z
  .strictObject({
    /** PostgreSQL schema, or MySQL database. */
    name: Identifier,
    /** `'*'` means every table in the schema (and, with defaultPrivileges, future ones). */
    tables: z._default(z.union([z.literal('*'), z.array(Identifier).check(z.minLength(1))]), '*'),
    privileges: z.array(TablePrivilege).check(z.minLength(1)),
    /** PostgreSQL: also `ALTER DEFAULT PRIVILEGES` so tables created during the grant are covered. */
    defaultPrivileges: z._default(z.boolean(), false),
  })
  .check(
    z.refine((g) => !(g.defaultPrivileges && g.tables !== '*'), {
      path: ['defaultPrivileges'],
      // Default privileges cover tables created later, which a fixed table list would not include.
      message: "needs tables: '*'",
    }),
  );
export type SchemaGrant = z.infer<typeof SchemaGrant>;

export const Privileges = z
  .strictObject({
    roles: z._default(z.array(BuiltInRole), []),
    schemas: z._default(z.array(SchemaGrant), []),
  })
  .check(
    z.refine(
      (p) => p.roles.length + p.schemas.length > 0,
      'an access level must grant at least one role or schema',
    ),
  );
export type Privileges = z.infer<typeof Privileges>;

/**
 * Who a rule names (approver, requester, reviewer): an email address, matched only against an email the
 * trust model vouches for, or an IAM principal ARN pattern where `*` matches any run of characters.
 */
export const ApproverPattern = z.string().check(
  z.minLength(3),
  z.maxLength(256),
  z.refine(
    (s) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s) || s.startsWith('arn:'),
    'must be an email address or an IAM principal ARN pattern (arn:aws:…)',
  ),
);

export const AccessLevel = z
  .strictObject({
    description: z.optional(z.string().check(z.maxLength(500))),
    privileges: Privileges,
    /** The dangerous built-in roles (DANGEROUS_ROLES) this level may grant, named again on purpose. */
    allowDangerousRoles: z._default(z.array(BuiltInRole), []),
    /** The dangerous table privileges (DANGEROUS_PRIVILEGES) this level may grant, named again on purpose. */
    allowDangerousPrivileges: z._default(z.array(TablePrivilege), []),
    maxDuration: durationField(MAX_GRANT_SECONDS, '12h'),
    approvers: z._default(z.array(ApproverPattern), []),
    /** Who may ask for this level at all. Absent: any caller the trust model accepts. */
    requesters: z.optional(z.array(ApproverPattern).check(z.minLength(1))),
    /** Email approvers get a one-time link; false: they decide through the API only (signed callers). */
    approvalLinks: z._default(z.boolean(), true),
    /** How long an approval link works: a bearer token, so shorter than the window it may decide in. */
    linkLifetime: z._default(durationField(MAX_APPROVAL_WINDOW_SECONDS, '7d'), 24 * 3600),
    approvalsRequired: z._default(z.int().check(z.gte(1), z.lte(10)), 1),
    allowSelfApproval: z._default(z.boolean(), false),
    approvalWindow: z._default(durationField(MAX_APPROVAL_WINDOW_SECONDS, '7d'), 3600),
    /** Requests matching every condition here skip approval. Absent: never auto-approved. */
    autoApprove: z.optional(
      z.strictObject({
        maxDuration: z.optional(durationField(MAX_GRANT_SECONDS, '12h')),
        requesters: z.optional(z.array(ApproverPattern)),
      }),
    ),
    /** A regular expression the request's ticket must match; absent: no ticket required. */
    ticketPattern: z.optional(
      z.string().check(
        z.maxLength(200),
        z.refine((p) => {
          try {
            new RegExp(p);
            return true;
          } catch {
            return false;
          }
        }, 'must be a valid regular expression'),
      ),
    ),
    requireReason: z._default(z.boolean(), true),
    /** Break-glass: the requester may skip approval; the named people are told and the request is flagged for review. */
    breakGlass: z.optional(
      z.strictObject({
        allowed: z._default(z.boolean(), false),
        /** Who may use break-glass on this level: required when allowed (never "anyone who may ask"). */
        requesters: z._default(z.array(ApproverPattern), []),
        /** Told at once; they are reviewers of the level's requests too. */
        notify: z._default(z.array(z.email()), []),
        maxDuration: z.optional(durationField(MAX_GRANT_SECONDS, '12h')),
      }),
    ),
    /** After `after` without a decision, `approvers` are told too and may decide. */
    escalation: z.optional(
      z.strictObject({
        after: durationField(MAX_APPROVAL_WINDOW_SECONDS, '7d'),
        approvers: z.array(ApproverPattern).check(z.minLength(1)),
      }),
    ),
    /** Extensions within `autoApproveUpTo` in total are approved without asking; beyond, approvers decide. */
    extension: z._default(
      z.strictObject({
        allowed: z._default(z.boolean(), true),
        autoApproveUpTo: z._default(durationField(MAX_GRANT_SECONDS, '12h'), 0),
        /** Total time from grant to final expiry, extensions included. Defaults to maxDuration. */
        maxTotal: z.optional(durationField(MAX_GRANT_SECONDS, '12h')),
      }),
      { allowed: true, autoApproveUpTo: 0 },
    ),
    connectionLimit: z._default(z.int().check(z.gte(1), z.lte(100)), 5),
    /** Which kinds of request the level takes: `window` (the default), `statement` (run once on approval), or both. */
    requests: z._default(
      z.array(z.enum(REQUEST_KINDS)).check(
        z.minLength(1),
        z.refine((kinds) => new Set(kinds).size === kinds.length, 'must not repeat a kind'),
      ),
      ['window'],
    ),
    /** How a statement request runs: its timeout, how much of a query's result is kept, and for how long. */
    statement: z._default(
      z.strictObject({
        timeout: z._default(durationField(MAX_STATEMENT_TIMEOUT_SECONDS, '10m'), 30),
        maxRows: z._default(z.int().check(z.gte(0), z.lte(MAX_STATEMENT_RESULT_ROWS)), 1000),
        maxBytes: z._default(z.int().check(z.gte(1024), z.lte(MAX_STATEMENT_RESULT_BYTES)), 64 * 1024),
        retention: z._default(durationField(MAX_RESULT_RETENTION_SECONDS, '7d'), 24 * 3600),
      }),
      { timeout: 30, maxRows: 1000, maxBytes: 64 * 1024, retention: 24 * 3600 },
    ),
  })
  .check(
    z.superRefine((rule, ctx) => {
      rule.privileges.roles.forEach((role, i) => {
        const danger = DANGEROUS_ROLES[role];
        if (danger && !rule.allowDangerousRoles.includes(role)) {
          ctx.addIssue({
            code: 'custom',
            path: ['privileges', 'roles', i],
            message: `${role} ${danger}; name it in allowDangerousRoles to grant it anyway`,
          });
        }
      });
      rule.privileges.schemas.forEach((schema, i) => {
        schema.privileges.forEach((privilege, j) => {
          const danger = DANGEROUS_PRIVILEGES[privilege];
          if (danger && !rule.allowDangerousPrivileges.includes(privilege)) {
            ctx.addIssue({
              code: 'custom',
              path: ['privileges', 'schemas', i, 'privileges', j],
              message: `${privilege} ${danger}; name it in allowDangerousPrivileges to grant it anyway`,
            });
          }
        });
      });
      const autoApproves = rule.autoApprove !== undefined || rule.breakGlass?.allowed === true;
      if (rule.approvers.length === 0 && !autoApproves) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvers'],
          message: 'a rule without auto-approve needs approvers',
        });
      }
      if (
        rule.approvers.length > 0 &&
        rule.approvalsRequired > rule.approvers.length + (rule.escalation?.approvers.length ?? 0)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvalsRequired'],
          message: `needs ${rule.approvalsRequired} approvals but only ${rule.approvers.length} approvers are listed`,
        });
      }
      if (rule.autoApprove?.maxDuration !== undefined && rule.autoApprove.maxDuration > rule.maxDuration) {
        ctx.addIssue({
          code: 'custom',
          path: ['autoApprove', 'maxDuration'],
          message: `must be ≤ the level's maxDuration (${formatDuration(rule.maxDuration)}): auto-approve cannot grant longer than the level allows`,
        });
      }
      if (rule.extension.maxTotal !== undefined && rule.extension.maxTotal < rule.maxDuration) {
        ctx.addIssue({ code: 'custom', path: ['extension', 'maxTotal'], message: 'must be ≥ maxDuration' });
      }
      if (rule.breakGlass?.allowed === true && rule.breakGlass.requesters.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['breakGlass', 'requesters'],
          message: 'break-glass needs its own list of who may use it',
        });
      }
      if (rule.breakGlass?.maxDuration !== undefined && rule.breakGlass.maxDuration > rule.maxDuration) {
        ctx.addIssue({
          code: 'custom',
          path: ['breakGlass', 'maxDuration'],
          message: `must be ≤ the level's maxDuration (${formatDuration(rule.maxDuration)})`,
        });
      }
      if (rule.requests.includes('statement') && rule.statement.timeout > rule.maxDuration) {
        ctx.addIssue({
          code: 'custom',
          path: ['statement', 'timeout'],
          message: 'must be ≤ the rule maxDuration (the statement user lives that long at most)',
        });
      }
      // An escalation due after the window closes would never happen: the request has EXPIRED by then.
      if (rule.escalation !== undefined && rule.escalation.after >= rule.approvalWindow) {
        ctx.addIssue({
          code: 'custom',
          path: ['escalation', 'after'],
          message: 'must be shorter than approvalWindow',
        });
      }
    }),
  );
export type AccessLevel = z.infer<typeof AccessLevel>;

const TargetFields = z
  .strictObject({
    id: Id,
    description: z.optional(z.string().check(z.maxLength(500))),
    engine: z.enum(['postgres', 'mysql']),
    /** Free-form label (production, staging, dev) shown to approvers and usable in reviews. */
    environment: z._default(z.string().check(z.maxLength(40)), 'production'),
    connection: Connection,
    database: Identifier,
    credentialKind: z.enum(['iam', 'password']),
    /**
     * TLS from clients and from the admin connection. `verify-full` checks the server certificate and name
     * (the default for RDS targets: the RDS CA is in Lambda's store); `require` encrypts but does not verify, so
     * anyone on the path can relay the admin login (the default for host/port targets only); `disable` only for
     * loopback hosts.
     */
    tls: z.optional(z.enum(['require', 'verify-full', 'disable'])),
    /** Secrets Manager ARN of the admin credentials (RDS-managed master secret or a dedicated CREATEROLE user). */
    adminSecretArn: z.optional(
      z.string().check(z.regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager ARN')),
    ),
    /**
     * Override only: a target addressed by rdsInstanceId/rdsClusterId is RDS already (MySQL sessions are then
     * killed with `CALL mysql.rds_kill`, not `KILL CONNECTION`); set it on a host/port target that is RDS
     * behind a proxy or tunnel.
     */
    rds: z.optional(z.boolean()),
    /** Who may view, audit and acknowledge this target's requests without approving them. */
    reviewers: z._default(z.array(ApproverPattern), []),
    levels: z
      .record(Id, AccessLevel)
      .check(z.refine((l) => Object.keys(l).length > 0, 'a target needs at least one level')),
  })
  .check(
    z.superRefine((target, ctx) => {
      for (const [name, level] of Object.entries(target.levels)) {
        if (target.engine === 'mysql' && level.privileges.roles.length > 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['levels', name, 'privileges', 'roles'],
            message: 'built-in roles are PostgreSQL only; use schemas on MySQL',
          });
        }
      }
      if (
        target.tls === 'disable' &&
        !('host' in target.connection && isLoopbackHost(target.connection.host))
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls'],
          message:
            'disable is only for loopback hosts (127.0.0.1, ::1, localhost): the admin login would cross the network in clear; use verify-full (or require)',
        });
      }
    }),
  );

export const Target = z.pipe(
  TargetFields,
  z.transform((target) => ({
    ...target,
    tls: target.tls ?? (isRdsConnection(target.connection) ? ('verify-full' as const) : ('require' as const)),
  })),
);
export type Target = z.output<typeof Target>;

export const Policy = z
  .strictObject({
    version: z.literal(1),
    identity: z._default(IdentityTrust, () => structuredClone(DEFAULT_IDENTITY_TRUST)),
    /** Who may view, audit and acknowledge every request (a security team), without approving. */
    reviewers: z._default(z.array(ApproverPattern), []),
    targets: z.array(Target).check(z.minLength(1)),
  })
  .check(
    z.superRefine((policy, ctx) => {
      for (const { path, pattern } of principalPatterns(policy)) {
        const problem = spoofablePattern(pattern, policy.identity.emailSessionRoles);
        if (problem) ctx.addIssue({ code: 'custom', path, message: problem });
      }
      const seen = new Set<string>();
      policy.targets.forEach((t, i) => {
        if (seen.has(t.id))
          ctx.addIssue({
            code: 'custom',
            path: ['targets', i, 'id'],
            message: `duplicate target id '${t.id}'`,
          });
        seen.add(t.id);
      });
    }),
  );
export type Policy = z.infer<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;

/** Every principal pattern of a policy with its path, for checks that span the whole file. */
function principalPatterns(policy: Policy): { path: PropertyKey[]; pattern: string }[] {
  const out: { path: PropertyKey[]; pattern: string }[] = [];
  const add = (path: PropertyKey[], patterns: readonly string[] | undefined) =>
    patterns?.forEach((pattern, i) => {
      out.push({ path: [...path, i], pattern });
    });
  add(['reviewers'], policy.reviewers);
  policy.targets.forEach((target, t) => {
    add(['targets', t, 'reviewers'], target.reviewers);
    for (const [name, level] of Object.entries(target.levels)) {
      const at = ['targets', t, 'levels', name];
      add([...at, 'approvers'], level.approvers);
      add([...at, 'requesters'], level.requesters);
      add([...at, 'autoApprove', 'requesters'], level.autoApprove?.requesters);
      add([...at, 'breakGlass', 'requesters'], level.breakGlass?.requesters);
      add([...at, 'escalation', 'approvers'], level.escalation?.approvers);
    }
  });
  return out;
}
