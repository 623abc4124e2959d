import pg from 'pg';
import type { GrantSpec, OnceSession, ProvisionerHealth } from '../application/ports.js';
import {
  DomainError,
  ScopeObjectMissingError,
  TargetNotConfiguredForIamError,
  TargetUnavailableError,
} from '../domain/errors.js';
import { driverTls, randomPassword } from './connection-uri.js';
import {
  connectableDatabases,
  ensureSeal,
  ONCE_ROLE_COMMENT,
  ONCE_SESSION_SQL,
  sealRoleSql,
} from './postgres-once.js';
import { postgresRevokePlan } from './postgres-revoke.js';
import { databaseLockStatement, isAuthFailure, isTransientPostgresError, sqlState } from './postgres-sql.js';
import {
  isUnavailableError,
  missingUserError,
  type RevokePlan,
  rerunWhileTransient,
} from './provisioner-common.js';
import type { Endpoint } from './rds-endpoint.js';
import { scramVerifier } from './scram.js';
import type { AdminCredentials } from './secrets-admin.js';
import { postgresGrantStatements } from './sql-privileges-postgres.js';
import { SqlProvisioner } from './sql-provisioner.js';

/**
 * PostgreSQL provisioner for `password` and `iam` targets. One pool of admin connections per database,
 * reused across requests; every identifier is quoted with `pg.escapeIdentifier`, every literal with
 * `pg.escapeLiteral`, and passwords are sent as SCRAM verifiers so the plain text never reaches the server.
 */
export class PostgresProvisioner extends SqlProvisioner {
  protected readonly engine = 'postgres';
  private readonly pools = new Map<string, pg.Pool>();
  private access: Promise<{ admin: AdminCredentials; endpoint: Endpoint }> | undefined;

  async grant(spec: GrantSpec): Promise<{ host: string; port: number; database: string }> {
    const { endpoint } = await this.connectionInfo();
    const user = pg.escapeIdentifier(spec.dbUser);
    const validUntil = pg.escapeLiteral(spec.expiresAt.toISOString());
    const once = spec.once === true;
    const limit = once ? 1 : Math.max(1, Math.trunc(spec.connectionLimit));
    // A use-once role may log in only once every database it can reach is sealed (postgres-once.ts).
    const login = once ? 'NOLOGIN' : 'LOGIN';
    const iam = this.target.credentialKind === 'iam';
    // A password nobody knows: the requester gets one only from credentials(), which rotates it.
    const password = iam ? '' : ` PASSWORD ${pg.escapeLiteral(await scramVerifier(randomPassword()))}`;
    await this.withClient(this.target.database, async (client, admin) => {
      if (once) await ensureSeal(client, this.target.id, this.target.database);
      const privileges = [
        ...(iam ? [`GRANT rds_iam TO ${user}`] : []),
        ...(once ? [`COMMENT ON ROLE ${user} IS ${pg.escapeLiteral(ONCE_ROLE_COMMENT)}`] : []),
        ...postgresGrantStatements(spec.privileges, spec.dbUser, admin.username, this.target.database),
      ];
      // Several statements in one simple query run as one implicit transaction: all or nothing, one round trip.
      // GRANT on a shared schema, database or default ACL rewrites one catalog row: concurrent grants of a
      // level would fail with 'tuple concurrently updated', so they queue on the database's lock instead.
      const lock = databaseLockStatement(this.target.database);
      const create = [
        lock,
        `CREATE ROLE ${user} ${login}${password} VALID UNTIL ${validUntil} CONNECTION LIMIT ${limit}`,
      ];
      const bringToSpec = [
        lock,
        `ALTER ROLE ${user} ${login} VALID UNTIL ${validUntil} CONNECTION LIMIT ${limit}`,
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
        // 42P01 undefined_table, 3F000 invalid_schema_name: a scope named what the database does not have.
        if (sqlState(error) === '42P01' || sqlState(error) === '3F000') {
          throw new ScopeObjectMissingError(
            this.target.id,
            this.target.database,
            String((error as Error).message),
            error,
          );
        }
        throw error;
      }
      if (!once) return;
      for (const database of await connectableDatabases(client, spec.dbUser, this.target.database)) {
        try {
          await this.withOneShotClient(database, (other) => ensureSeal(other, this.target.id, database));
        } catch (error) {
          // Dropped since the listing (3D000): nobody can log in to it, so there is nothing to seal.
          if (error instanceof TargetUnavailableError && sqlState(error.cause) === '3D000') continue;
          throw error;
        }
      }
      await client.query(`ALTER ROLE ${user} LOGIN`);
    });
    return { host: endpoint.host, port: endpoint.port, database: this.target.database };
  }

  async onceSession(spec: Pick<GrantSpec, 'dbUser'>): Promise<OnceSession> {
    return this.withClient(this.target.database, async (client) => {
      const found = await client.query<{ sealed: boolean; open: number }>(ONCE_SESSION_SQL, [spec.dbUser]);
      const row = found.rows[0];
      // Gone while ACTIVE: a revoke is in flight; it records the outcome, not this.
      if (row === undefined) return { used: false, openSessions: 0 };
      if (!row.sealed && row.open > 0) {
        // A session the seal did not see (a template database): sealed now, as the first login would have.
        await client.query(sealRoleSql(spec.dbUser)).catch((error: unknown) => {
          if (sqlState(error) !== '42704') throw error;
        });
      }
      return { used: row.sealed || row.open > 0, openSessions: row.open };
    });
  }

  /** A fresh password for the grant's role, and VALID UNTIL the grant's end. */
  protected async rotatePassword(spec: GrantSpec) {
    const { endpoint } = await this.connectionInfo();
    const password = randomPassword();
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
    return { endpoint, password, credentialExpiresAt: spec.expiresAt };
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

  /** The revoke as ordered, individually re-runnable steps (postgres-revoke.ts). */
  revokePlan(spec: Pick<GrantSpec, 'dbUser'>): RevokePlan {
    return postgresRevokePlan(this.target, (database, work) => this.withClient(database, work), spec);
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
                  (SELECT pg_catalog.pg_has_role(current_user, oid, 'MEMBER WITH ADMIN OPTION') FROM pg_roles WHERE rolname = $1) AS admin`,
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

  /**
   * One admin connection to `database`, closed after `work`: for databases other than the target's, where an
   * idle pooled connection would make the owner's DROP DATABASE (or CREATE DATABASE from it) fail.
   */
  private async withOneShotClient<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const { admin, endpoint } = await this.connectionInfo();
    const client = new pg.Client(this.adminLogin(admin, endpoint, database));
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      throw new TargetUnavailableError(this.target.id, error);
    }
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Ends every admin connection; the provisioner reconnects on next use. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.end()));
  }

  /** How every admin connection to `database` logs in, pooled or one-shot: TLS, timeouts, its name in pg_stat_activity. */
  private adminLogin(admin: AdminCredentials, endpoint: Endpoint, database: string): pg.ClientConfig {
    return {
      host: endpoint.host,
      port: endpoint.port,
      user: admin.username,
      password: admin.password,
      database,
      ssl: driverTls(this.target.tls),
      connectionTimeoutMillis: this.deps.connectTimeoutMs ?? 5_000,
      application_name: 'jit-db-access',
      statement_timeout: 30_000,
      // Only the system catalog resolves unqualified names: a function a database user planted in a schema on
      // the default path (public.pg_terminate_backend(int, int), a closer match than the built-in) would
      // otherwise run with the admin's rights.
      options: '-c search_path=pg_catalog,pg_temp',
    };
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
        ...this.adminLogin(admin, endpoint, database),
        max: this.deps.poolSize ?? 4,
        idleTimeoutMillis: 60_000,
        allowExitOnIdle: true,
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
        // Each unit of work is one transaction (or idempotent steps): running it again is safe.
        return await rerunWhileTransient(() => work(client, admin), isTransientPostgresError);
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
