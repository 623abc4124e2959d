import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { SignerConfig } from '@aws-sdk/rds-signer';
import pg from 'pg';
import {
  DomainError,
  RevokeIncompleteError,
  TargetNotConfiguredForIamError,
  TargetUnavailableError,
} from '../domain/errors.js';
import type { Target } from '../domain/policy-schema.js';
import type {
  CredentialProvisioner,
  Credentials,
  GrantSpec,
  ProvisionerHealth,
  RevokeReport,
} from '../ports.js';
import { driverTls, grantCredentials, randomPassword } from './connection-uri.js';
import type { Endpoint, EndpointResolver } from './rds-endpoint.js';
import { mintGrantIamToken } from './rds-iam-token.js';
import type { AdminCredentials, AdminCredentialsSource } from './secrets-admin.js';
import { postgresGrantStatements } from './sql-privileges-postgres.js';

const pbkdf2Async = promisify(pbkdf2);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What every provisioner is built from: admin credentials and endpoints are injected, never read from env. */
export interface ProvisionerDeps {
  admin: AdminCredentialsSource;
  endpoints: EndpointResolver;
  /** Region for IAM tokens when the target's connection names none. */
  region?: string;
  /** Signs IAM tokens; defaults to the SDK provider chain (the Lambda role). */
  awsCredentials?: SignerConfig['credentials'];
  now?: () => Date;
  /** Admin connections kept open per database. */
  poolSize?: number;
  connectTimeoutMs?: number;
}

/** One step of a revoke; each is safe to run again after a crash at any point. */
export interface RevokeStep {
  name: string;
  run(): Promise<void>;
}

/** The ordered steps of one revoke and the report they fill in. */
export interface RevokePlan {
  steps: RevokeStep[];
  report(): RevokeReport;
}

export const IAM_TOKEN_MINUTES = 15;

/** The credential kinds and their refusal when the grant has already ended. */
export function assertGrantCurrent(spec: GrantSpec, now: Date): void {
  if (spec.expiresAt.getTime() <= now.getTime()) {
    throw new DomainError(
      'REQUEST_NOT_ACTIVE',
      `the grant of ${spec.requestId} ended at ${spec.expiresAt.toISOString()}`,
      {
        details: { requestId: spec.requestId },
      },
    );
  }
}

export function missingUserError(spec: Pick<GrantSpec, 'requestId' | 'dbUser'>): DomainError {
  return new DomainError(
    'REQUEST_NOT_ACTIVE',
    `database user ${spec.dbUser} does not exist (never granted, or revoked)`,
    {
      details: { requestId: spec.requestId },
    },
  );
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
]);

/** Errors that mean "the database cannot be used right now", as opposed to a refused statement. */
export function isUnavailableError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // 08: connection exception; 57P0x: shutdown; 53300: too many connections; 28: admin login refused.
    if (/^(08|28)/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /timeout|Connection terminated|connection error|ECONNREFUSED/i.test(message);
}

function isAuthFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '28P01' || code === '28000';
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Refusals that a re-run of the same statements resolves: two sessions updating one catalog row (GRANT,
 * DROP OWNED), a serialization failure or a deadlock.
 */
export function isTransientPostgresError(error: unknown): boolean {
  const code = sqlState(error);
  if (code === '40001' || code === '40P01') return true;
  return code === 'XX000' && /tuple concurrently (updated|deleted)/.test(String((error as Error).message));
}

/** How often a statement refused by a transient conflict is run again, and the pause before each rerun. */
export const TRANSIENT_RETRIES = 6;
export function transientBackoffMs(attempt: number): number {
  // Jittered and growing: 10–20 ms, then up to ~320 ms; about 1 s in all before the error surfaces.
  const base = 10 * 2 ** Math.min(attempt, 5);
  return base + Math.floor(Math.random() * base);
}

/**
 * The advisory lock key that serialises privilege changes in one database: the first 8 bytes of
 * sha256('jitdb:' + database), stable across processes and server versions (unlike hashtext).
 */
export function databaseLockKey(database: string): string {
  return createHash('sha256').update(`jitdb:${database}`).digest().readBigInt64BE(0).toString();
}

/** The statement that takes the database's lock until the end of the current transaction. */
export function databaseLockStatement(database: string): string {
  return `SELECT pg_advisory_xact_lock(${databaseLockKey(database)})`;
}

/** Relations, functions, schemas and types in the current database owned by the role named $1. */
const OBJECTS_OWNED_SQL = `SELECT (
  (SELECT count(*) FROM pg_class WHERE relowner = r.oid) + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid) +
  (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) + (SELECT count(*) FROM pg_type WHERE typowner = r.oid)
)::int AS n FROM pg_roles r WHERE r.rolname = $1`;

/** The server's list of what depends on what (its DETAIL), or its message. */
function dependencyText(error: unknown): string {
  const { detail, message } = error as { detail?: unknown; message?: unknown };
  return String(typeof detail === 'string' && detail !== '' ? detail : message).replaceAll('\n', '; ');
}

/**
 * PostgreSQL provisioner for `password` and `iam` targets. One pool of admin connections per database,
 * reused across requests; every identifier is quoted with `pg.escapeIdentifier`, every literal with
 * `pg.escapeLiteral`, and passwords are sent as SCRAM verifiers so the plain text never reaches the server.
 */
export class PostgresProvisioner implements CredentialProvisioner {
  private readonly pools = new Map<string, pg.Pool>();
  private access: Promise<{ admin: AdminCredentials; endpoint: Endpoint }> | undefined;

  constructor(
    readonly target: Target,
    private readonly deps: ProvisionerDeps,
  ) {}

  async grant(spec: GrantSpec): Promise<{ host: string; port: number; database: string }> {
    const { endpoint } = await this.connectionInfo();
    const user = pg.escapeIdentifier(spec.dbUser);
    const validUntil = pg.escapeLiteral(spec.expiresAt.toISOString());
    const limit = Math.max(1, Math.trunc(spec.connectionLimit));
    const iam = this.target.credentialKind === 'iam';
    // A password nobody knows: the requester gets one only from credentials(), which rotates it.
    const password = iam ? '' : ` PASSWORD ${pg.escapeLiteral(await scramVerifier(randomPassword()))}`;
    await this.withClient(this.target.database, async (client, admin) => {
      const privileges = [
        ...(iam ? [`GRANT rds_iam TO ${user}`] : []),
        ...postgresGrantStatements(spec.privileges, spec.dbUser, admin.username, this.target.database),
      ];
      // Several statements in one simple query run as one implicit transaction: all or nothing, one round trip.
      // GRANT on a shared schema, database or default ACL rewrites one catalog row: concurrent grants of a
      // level would fail with 'tuple concurrently updated', so they queue on the database's lock instead.
      const lock = databaseLockStatement(this.target.database);
      const create = [
        lock,
        `CREATE ROLE ${user} LOGIN${password} VALID UNTIL ${validUntil} CONNECTION LIMIT ${limit}`,
      ];
      const bringToSpec = [
        lock,
        `ALTER ROLE ${user} LOGIN VALID UNTIL ${validUntil} CONNECTION LIMIT ${limit}`,
      ];
      try {
        try {
          await client.query([...create, ...privileges].join(';\n'));
        } catch (error) {
          // 42710: the role exists (a retried grant, or a concurrent one): bring it to the spec instead.
          if (sqlState(error) !== '42710') throw error;
          await client.query([...bringToSpec, ...privileges].join(';\n'));
        }
      } catch (error) {
        if (iam && sqlState(error) === '42704' && String((error as Error).message).includes('"rds_iam"')) {
          throw new TargetNotConfiguredForIamError(this.target.id, error);
        }
        throw error;
      }
    });
    return { host: endpoint.host, port: endpoint.port, database: this.target.database };
  }

  async credentials(spec: GrantSpec): Promise<Credentials> {
    const now = this.now();
    assertGrantCurrent(spec, now);
    const { endpoint } = await this.connectionInfo();
    let password: string;
    let credentialExpiresAt: Date;
    if (this.target.credentialKind === 'iam') {
      ({ password, credentialExpiresAt } = await mintGrantIamToken(
        this.target,
        endpoint,
        { username: spec.dbUser, expiresAt: spec.expiresAt },
        this.deps,
        now,
      ));
    } else {
      password = randomPassword();
      const verifier = pg.escapeLiteral(await scramVerifier(password));
      await this.withClient(this.target.database, async (client) => {
        try {
          // VALID UNTIL too: an extension approved since the grant moves the in-database guard here.
          const validUntil = pg.escapeLiteral(spec.expiresAt.toISOString());
          await client.query(
            `ALTER ROLE ${pg.escapeIdentifier(spec.dbUser)} PASSWORD ${verifier} VALID UNTIL ${validUntil}`,
          );
        } catch (error) {
          if (sqlState(error) === '42704') throw missingUserError(spec);
          throw error;
        }
      });
      credentialExpiresAt = spec.expiresAt;
    }
    return grantCredentials({
      engine: 'postgres',
      kind: this.target.credentialKind,
      host: endpoint.host,
      port: endpoint.port,
      database: this.target.database,
      username: spec.dbUser,
      password,
      tls: this.target.tls,
      expiresAt: spec.expiresAt,
      credentialExpiresAt,
    });
  }

  async extend(spec: GrantSpec, expiresAt: Date): Promise<void> {
    await this.withClient(this.target.database, async (client) => {
      try {
        await client.query(
          `ALTER ROLE ${pg.escapeIdentifier(spec.dbUser)} VALID UNTIL ${pg.escapeLiteral(expiresAt.toISOString())}`,
        );
      } catch (error) {
        if (sqlState(error) === '42704') throw missingUserError(spec);
        throw error;
      }
    });
  }

  async revoke(spec: Pick<GrantSpec, 'requestId' | 'dbUser' | 'target'>): Promise<RevokeReport> {
    const plan = this.revokePlan(spec);
    for (const step of plan.steps) await step.run();
    return plan.report();
  }

  /**
   * The revoke as ordered, individually re-runnable steps: block logins → end sessions (and check none is
   * left) → DROP OWNED in every database where the role owns or holds something → drop the role. Never
   * REASSIGN OWNED to the admin: the user's views and SECURITY DEFINER functions would become admin-owned
   * objects that outlive it. What DROP OWNED cannot remove (an object another role's object depends on, a
   * database it owns, anything in a database that takes no connections) makes a step throw
   * RevokeIncompleteError instead of reporting success.
   */
  revokePlan(spec: Pick<GrantSpec, 'dbUser'>): RevokePlan {
    const role = spec.dbUser;
    const user = pg.escapeIdentifier(role);
    let sessionsTerminated = 0;
    let dropped = false;
    const incomplete = (problem: string, cause?: unknown) =>
      new RevokeIncompleteError(this.target.id, role, problem, cause);
    const ignoreMissingRole = (error: unknown) => {
      if (sqlState(error) !== '42704') throw error;
    };
    const steps: RevokeStep[] = [
      {
        name: 'block-logins',
        run: () =>
          this.withClient(this.target.database, async (client) => {
            const [, , membership] = await client
              .query<{ member: boolean }>(
                `${databaseLockStatement(this.target.database)}; ALTER ROLE ${user} NOLOGIN; SELECT pg_has_role(current_user, ${pg.escapeLiteral(role)}, 'USAGE') AS member`,
              )
              .then((results) => results as unknown as pg.QueryResult<{ member: boolean }>[])
              .catch((error: unknown) => {
                ignoreMissingRole(error);
                return [];
              });
            if (membership?.rows[0]?.member === false) {
              // A non-superuser admin (RDS) may only end the role's sessions and drop its objects as a member.
              await client
                .query(`${databaseLockStatement(this.target.database)}; GRANT ${user} TO CURRENT_USER`)
                .catch(ignoreMissingRole);
            }
          }),
      },
      {
        name: 'terminate-sessions',
        run: () =>
          this.withClient(this.target.database, async (client) => {
            // pg_stat_activity covers every database of the server; the timeout waits until each backend is gone.
            const result = await client.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM (
                 SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity
                 WHERE usename = $1 AND pid <> pg_backend_pid()) AS t
               WHERE ended`,
              [role],
            );
            sessionsTerminated += result.rows[0]?.n ?? 0;
            // Logins are blocked: a session still listed is one that did not end, not a new one.
            const left = await client.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
              [role],
            );
            const open = left.rows[0]?.n ?? 0;
            if (open > 0) throw incomplete(`${open} session(s) still open after pg_terminate_backend`);
          }),
      },
      {
        name: 'drop-owned',
        run: async () => {
          // Databases where pg_shdepend says the role owns or was granted something, plus the target's.
          const databases = await this.withClient(this.target.database, async (client) => {
            const result = await client.query<{ datname: string; connectable: boolean; member: boolean }>(
              `SELECT d.datname, d.datallowconn AS connectable, pg_has_role(current_user, $1, 'USAGE') AS member
               FROM pg_database d
               WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
                 AND (d.datname = $2 OR EXISTS (
                   SELECT 1 FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid
                   WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = $1 AND s.dbid = d.oid))
               ORDER BY d.datname = $2 DESC, d.datname`,
              [role, this.target.database],
            );
            const unreachable = result.rows.filter((row) => !row.connectable).map((row) => row.datname);
            if (unreachable.length > 0) {
              throw incomplete(
                `it owns or holds objects in databases that take no connections: ${unreachable.join(', ')}`,
              );
            }
            if (result.rows.some((row) => !row.member)) {
              // Granted in block-logins already unless that ran under another admin: DROP OWNED needs the role's privileges.
              await client
                .query(`${databaseLockStatement(this.target.database)}; GRANT ${user} TO CURRENT_USER`)
                .catch(ignoreMissingRole);
            }
            return result.rows.map((row) => row.datname);
          });
          for (const database of databases) {
            await this.withClient(database, async (client) => {
              // DROP OWNED revokes from the same schema, database and default ACL rows grants write: same lock.
              // RESTRICT (the default): another role's object that depends on one of the user's stops the revoke.
              try {
                await client.query(`${databaseLockStatement(database)};\nDROP OWNED BY ${user}`);
              } catch (error) {
                if (sqlState(error) === '42704') return;
                if (sqlState(error) === '2BP01') {
                  throw incomplete(`DROP OWNED in ${database} refused: ${dependencyText(error)}`, error);
                }
                throw error;
              }
              const left = await client.query<{ n: number }>(OBJECTS_OWNED_SQL, [role]);
              const n = left.rows[0]?.n ?? 0;
              if (n > 0) throw incomplete(`${n} object(s) it owns are left in ${database} after DROP OWNED`);
            });
          }
        },
      },
      {
        name: 'drop-role',
        run: () =>
          this.withClient(this.target.database, async (client) => {
            try {
              const [existed] = (await client.query(
                `SELECT 1 FROM pg_roles WHERE rolname = ${pg.escapeLiteral(role)};\n${databaseLockStatement(this.target.database)};\nDROP ROLE IF EXISTS ${user}`,
              )) as unknown as pg.QueryResult[];
              if ((existed?.rowCount ?? 0) > 0) dropped = true;
            } catch (error) {
              // 2BP01: it still owns or holds something somewhere (a database, a tablespace, another database's object).
              if (sqlState(error) === '2BP01') {
                throw incomplete(`DROP ROLE refused: ${dependencyText(error)}`, error);
              }
              throw error;
            }
          }),
      },
    ];
    return { steps, report: () => ({ dropped, sessionsTerminated }) };
  }

  /**
   * What grant and revoke need from the admin, checked without changing anything: superuser or CREATEROLE,
   * and each role the target grants (rds_iam for IAM, the levels' built-in roles) grantable by it. Ending
   * sessions needs no more: revoke makes the admin a member of the temporary role it created (PostgreSQL 16+
   * gives a CREATEROLE creator ADMIN OPTION on it), and a member may pg_terminate_backend the role's backends.
   */
  async check(): Promise<ProvisionerHealth> {
    const granted = new Set<string>(
      Object.values(this.target.levels).flatMap((level) => level.privileges.roles),
    );
    if (this.target.credentialKind === 'iam') granted.add('rds_iam');
    const problems = await this.withClient(this.target.database, async (client) => {
      const found: string[] = [];
      const self = await client.query<{ rolsuper: boolean; rolcreaterole: boolean; version: number }>(
        `SELECT rolsuper, rolcreaterole, current_setting('server_version_num')::int AS version
         FROM pg_roles WHERE rolname = current_user`,
      );
      const { rolsuper = false, rolcreaterole = false, version = 0 } = self.rows[0] ?? {};
      if (rolsuper) return found;
      if (!rolcreaterole) found.push('CREATEROLE: needed to create, alter and drop the temporary role');
      for (const role of [...granted].sort()) {
        // Up to PostgreSQL 15, CREATEROLE may grant any non-superuser role; from 16 only those it has ADMIN OPTION on.
        const result = await client.query<{ exists: boolean; admin: boolean | null }>(
          `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists,
                  (SELECT pg_has_role(current_user, oid, 'MEMBER WITH ADMIN OPTION') FROM pg_roles WHERE rolname = $1) AS admin`,
          [role],
        );
        const row = result.rows[0];
        if (!row?.exists) found.push(`role ${role} does not exist on the server: grants of it fail`);
        else if (version >= 160000 && !row.admin) found.push(`ADMIN OPTION on ${role}: needed to grant it`);
      }
      return found;
    });
    return { ok: problems.length === 0, problems };
  }

  async listManagedUsers(): Promise<string[]> {
    return this.withClient(this.target.database, async (client) => {
      // `_` is a LIKE wildcard: escaped so only names starting with the literal `jit_` match.
      const result = await client.query<{ rolname: string }>(
        `SELECT rolname FROM pg_roles WHERE rolname LIKE 'jit\\_%' ORDER BY rolname`,
      );
      return result.rows.map((row) => row.rolname);
    });
  }

  /** Ends every admin connection; the provisioner reconnects on next use. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.end()));
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  private connectionInfo(refresh = false): Promise<{ admin: AdminCredentials; endpoint: Endpoint }> {
    if (refresh || this.access === undefined) {
      const loading = Promise.all([
        this.deps.admin.get(this.target, { refresh }),
        this.deps.endpoints.resolve(this.target),
      ]).then(([admin, endpoint]) => ({ admin, endpoint }));
      this.access = loading;
      // A failed lookup is not cached: the next call tries again.
      loading.catch(() => {
        if (this.access === loading) this.access = undefined;
      });
    }
    return this.access;
  }

  private async pool(database: string): Promise<{ pool: pg.Pool; admin: AdminCredentials }> {
    const { admin, endpoint } = await this.connectionInfo();
    let pool = this.pools.get(database);
    if (pool === undefined) {
      pool = new pg.Pool({
        host: endpoint.host,
        port: endpoint.port,
        user: admin.username,
        password: admin.password,
        database,
        ssl: driverTls(this.target.tls),
        max: this.deps.poolSize ?? 4,
        idleTimeoutMillis: 60_000,
        connectionTimeoutMillis: this.deps.connectTimeoutMs ?? 5_000,
        allowExitOnIdle: true,
        application_name: 'jit-db-access',
        statement_timeout: 30_000,
      });
      // An idle admin connection dropped by the server must not crash the process.
      pool.on('error', () => undefined);
      this.pools.set(database, pool);
    }
    return { pool, admin };
  }

  private async withClient<T>(
    database: string,
    work: (client: pg.PoolClient, admin: AdminCredentials) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient;
      let admin: AdminCredentials;
      try {
        const opened = await this.pool(database);
        admin = opened.admin;
        client = await opened.pool.connect();
      } catch (error) {
        if (error instanceof DomainError) throw error;
        if (attempt === 0 && isAuthFailure(error)) {
          // The admin secret may have rotated: drop the cached password and pools, then try once more.
          await this.close();
          await this.connectionInfo(true).catch(() => undefined);
          continue;
        }
        throw new TargetUnavailableError(this.target.id, error);
      }
      let broken = false;
      try {
        for (let rerun = 0; ; rerun++) {
          try {
            return await work(client, admin);
          } catch (error) {
            // Each unit of work is one transaction (or idempotent steps): running it again is safe.
            if (!isTransientPostgresError(error) || rerun >= TRANSIENT_RETRIES) throw error;
            await sleep(transientBackoffMs(rerun));
          }
        }
      } catch (error) {
        if (error instanceof DomainError) throw error;
        broken = isUnavailableError(error);
        if (broken) throw new TargetUnavailableError(this.target.id, error);
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (as `\password` in psql computes it), so
 * `ALTER ROLE … PASSWORD` never carries the plain text into server logs or pg_stat_statements.
 */
export async function scramVerifier(password: string, iterations = 4096): Promise<string> {
  const salt = randomBytes(16);
  const salted = await pbkdf2Async(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
