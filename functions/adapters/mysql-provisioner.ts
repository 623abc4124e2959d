import mysql from 'mysql2/promise';
import type { GrantSpec, OnceSession, ProvisionerHealth } from '../application/ports.js';
import {
  DomainError,
  ScopeObjectMissingError,
  TargetMisconfiguredError,
  TargetNotConfiguredForIamError,
  TargetUnavailableError,
} from '../domain/errors.js';
import { driverTls, randomPassword } from './connection-uri.js';
import { mysqlRevokePlan } from './mysql-revoke.js';
import {
  adminPrivileges,
  connectionCounter,
  connectionsCounted,
  ER_ACCESS_DENIED,
  ER_BAD_DB_ERROR,
  ER_CANNOT_USER,
  ER_LOCK_DEADLOCK,
  ER_NO_SUCH_TABLE,
  ER_PLUGIN_IS_NOT_LOADED,
  errno,
  hasProcessPrivilege,
  isRdsTarget,
  sessionIds,
  withoutSql,
} from './mysql-sql.js';
import {
  isUnavailableError,
  missingUserError,
  type RevokePlan,
  rerunWhileTransient,
} from './provisioner-common.js';
import type { Endpoint } from './rds-endpoint.js';
import type { AdminCredentials } from './secrets-admin.js';
import { mysqlAccount, mysqlGrantStatements } from './sql-privileges-mysql.js';
import { SqlProvisioner } from './sql-provisioner.js';

/**
 * MySQL and MariaDB provisioner for `password` and `iam` targets. There is no VALID UNTIL: the password is
 * rotated by credentials() and expiry is enforced by revoke (lock, kill, drop). Identifiers are quoted with
 * mysql2's escapeId, values with its escape, on one pool of admin connections per target.
 */
export class MysqlProvisioner extends SqlProvisioner {
  protected readonly engine = 'mysql';
  private poolPromise: Promise<{ pool: mysql.Pool; admin: AdminCredentials; endpoint: Endpoint }> | undefined;

  async grant(spec: GrantSpec): Promise<{ host: string; port: number; database: string }> {
    const account = mysqlAccount(spec.dbUser);
    const requireSsl = this.target.tls === 'disable' ? 'REQUIRE NONE' : 'REQUIRE SSL';
    const once = spec.once === true;
    // Use-once: one connection at a time, and one per hour, so the server itself refuses a second login; the
    // sweeper then locks the account for good once it sees the connection counted (onceSession).
    const limits = once
      ? 'MAX_USER_CONNECTIONS 1 MAX_CONNECTIONS_PER_HOUR 1'
      : `MAX_USER_CONNECTIONS ${Math.max(1, Math.trunc(spec.connectionLimit))} MAX_CONNECTIONS_PER_HOUR 0`;
    const identified =
      this.target.credentialKind === 'iam'
        ? "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"
        : // A password nobody knows: the requester gets one only from credentials(), which rotates it.
          `IDENTIFIED BY ${mysql.escape(randomPassword())}`;
    const grants = mysqlGrantStatements(spec.privileges, spec.dbUser);
    const endpoint = await this.withConnection(async (connection) => {
      if (once && (await connectionCounter(connection)) === undefined) {
        throw new TargetMisconfiguredError(this.target.id, [
          'use-once credentials need the server to count connections per user: MariaDB userstat=ON, or performance_schema=ON',
        ]);
      }
      let created: mysql.ResultSetHeader;
      try {
        [created] = await connection.query<mysql.ResultSetHeader>(
          `CREATE USER IF NOT EXISTS ${account} ${identified} ${requireSsl} WITH ${limits}`,
        );
      } catch (error) {
        if (errno(error) === ER_PLUGIN_IS_NOT_LOADED) {
          throw new TargetNotConfiguredForIamError(this.target.id, withoutSql(error));
        }
        throw withoutSql(error);
      }
      if (created.warningStatus > 0) {
        // IF NOT EXISTS warned: the user exists (a retried grant), so bring it to the spec.
        await connection.query(`ALTER USER ${account} ${requireSsl} WITH ${limits} ACCOUNT UNLOCK`);
      }
      for (const grant of grants) {
        try {
          await connection.query(grant);
        } catch (error) {
          // A scope named a table (1146) or schema (1049) the server does not have.
          if (errno(error) === ER_NO_SUCH_TABLE || errno(error) === ER_BAD_DB_ERROR) {
            const message = error instanceof Error ? error.message : String(error);
            throw new ScopeObjectMissingError(
              this.target.id,
              this.target.database,
              message,
              withoutSql(error),
            );
          }
          throw error;
        }
      }
    });
    return { host: endpoint.host, port: endpoint.port, database: this.target.database };
  }

  /** A fresh password for the grant's user; MySQL has no VALID UNTIL, revoke at expiry is the guard. */
  protected async rotatePassword(spec: GrantSpec) {
    const password = randomPassword();
    const endpoint = await this.withConnection(async (connection) => {
      try {
        await connection.query(
          `ALTER USER ${mysqlAccount(spec.dbUser)} IDENTIFIED BY ${mysql.escape(password)}`,
        );
      } catch (error) {
        if (errno(error) === ER_CANNOT_USER) throw missingUserError(spec);
        throw withoutSql(error);
      }
    });
    return { endpoint, password, credentialExpiresAt: spec.expiresAt };
  }

  /** MySQL has no in-database expiry: revoke at the new expiresAt is the only guard, so nothing to move. */
  async extend(spec: GrantSpec): Promise<void> {
    const exists = await this.withConnection(async (connection) => this.userExists(connection, spec.dbUser));
    if (!exists.value) throw missingUserError(spec);
  }

  async onceSession(spec: Pick<GrantSpec, 'dbUser'>): Promise<OnceSession> {
    const { value } = await this.withConnection(async (connection): Promise<OnceSession> => {
      // Gone while ACTIVE: a revoke is in flight; it records the outcome, not this.
      if (!(await this.userExists(connection, spec.dbUser)).value) return { used: false, openSessions: 0 };
      const openSessions = (await sessionIds(connection, spec.dbUser)).length;
      const counter = await connectionCounter(connection);
      const counted = counter === undefined ? 0 : await connectionsCounted(connection, counter, spec.dbUser);
      const used = openSessions > 0 || counted > 0;
      // The hourly limit lapses after an hour (and on FLUSH PRIVILEGES): the lock does not.
      if (used) await connection.query(`ALTER USER IF EXISTS ${mysqlAccount(spec.dbUser)} ACCOUNT LOCK`);
      return { used, openSessions };
    });
    return value;
  }

  revokePlan(spec: Pick<GrantSpec, 'dbUser'>): RevokePlan {
    return mysqlRevokePlan(
      { id: this.target.id, rds: isRdsTarget(this.target) },
      (work) => this.withConnection(work),
      spec,
    );
  }

  /**
   * What grant and revoke need from the admin, checked without changing anything: PROCESS (to see other
   * users' sessions), CONNECTION ADMIN or SUPER (to kill them; on RDS mysql.rds_kill instead), CREATE USER,
   * and GRANT OPTION on the target database. Privileges held through a role are seen only if information_schema
   * shows them to the admin.
   */
  async check(): Promise<ProvisionerHealth> {
    const { value: problems } = await this.withConnection(async (connection) => {
      const found: string[] = [];
      if (!(await hasProcessPrivilege(connection))) {
        found.push(
          'PROCESS: without it the admin sees only its own sessions and revoke cannot end the user’s',
        );
      }
      const { global, grantable } = await adminPrivileges(connection, this.target.database);
      // On RDS the kill is mysql.rds_kill, which the master user may call: no KILL privilege to look for.
      if (
        !isRdsTarget(this.target) &&
        !['CONNECTION ADMIN', 'CONNECTION_ADMIN', 'SUPER'].some((p) => global.has(p))
      ) {
        found.push('CONNECTION ADMIN (or SUPER): needed to KILL the sessions of another user');
      }
      if (!global.has('CREATE USER'))
        found.push('CREATE USER: needed to create, lock and drop the temporary user');
      if (!grantable)
        found.push(`GRANT OPTION on ${this.target.database}: needed to grant a level's privileges`);
      return found;
    });
    return { ok: problems.length === 0, problems };
  }

  async listManagedUsers(): Promise<string[]> {
    const { value } = await this.withConnection(async (connection) => {
      // `_` is a LIKE wildcard: escaped so only names starting with the literal `jit_` match.
      const [rows] = await connection.query<mysql.RowDataPacket[]>(
        'SELECT DISTINCT User AS user FROM mysql.user WHERE User LIKE ? ORDER BY User',
        ['jit\\_%'],
      );
      return rows.map((row) => String(row.user));
    });
    return value;
  }

  async close(): Promise<void> {
    const opened = this.poolPromise;
    this.poolPromise = undefined;
    if (opened) await opened.then(({ pool }) => pool.end()).catch(() => undefined);
  }

  private async userExists(connection: mysql.PoolConnection, user: string): Promise<{ value: boolean }> {
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      "SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'",
      [user],
    );
    return { value: rows.length > 0 };
  }

  private pool(refresh = false): Promise<{ pool: mysql.Pool; admin: AdminCredentials; endpoint: Endpoint }> {
    if (refresh || this.poolPromise === undefined) {
      const opening = Promise.all([
        this.deps.admin.get(this.target, { refresh }),
        this.deps.endpoints.resolve(this.target),
      ]).then(([admin, endpoint]) => {
        const ssl = driverTls(this.target.tls);
        const pool = mysql.createPool({
          host: endpoint.host,
          port: endpoint.port,
          user: admin.username,
          password: admin.password,
          connectionLimit: this.deps.poolSize ?? 4,
          maxIdle: this.deps.poolSize ?? 4,
          idleTimeout: 60_000,
          connectTimeout: this.deps.connectTimeoutMs ?? 5_000,
          enableKeepAlive: true,
          ...(ssl === false ? {} : { ssl }),
        });
        // Our escaping uses backslashes: make sure the admin session reads them as escapes.
        pool.pool.on('connection', (connection) => {
          connection.query("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')");
        });
        return { pool, admin, endpoint };
      });
      this.poolPromise = opening;
      opening.catch(() => {
        if (this.poolPromise === opening) this.poolPromise = undefined;
      });
    }
    return this.poolPromise;
  }

  private async withConnection<T>(
    work: (connection: mysql.PoolConnection) => Promise<T>,
  ): Promise<Endpoint & { value: T }> {
    for (let attempt = 0; ; attempt++) {
      let connection: mysql.PoolConnection;
      let endpoint: Endpoint;
      try {
        const opened = await this.pool(attempt > 0);
        endpoint = opened.endpoint;
        connection = await opened.pool.getConnection();
      } catch (error) {
        if (error instanceof DomainError) throw error;
        if (attempt === 0 && errno(error) === ER_ACCESS_DENIED) {
          // The admin secret may have rotated: reopen with a fresh copy, once.
          await this.close();
          continue;
        }
        throw new TargetUnavailableError(this.target.id, withoutSql(error));
      }
      let broken = false;
      try {
        // Every unit of work is idempotent (IF [NOT] EXISTS, GRANT, KILL by id): a rerun is safe.
        const value = await rerunWhileTransient(
          () => work(connection),
          (error) => errno(error) === ER_LOCK_DEADLOCK,
        );
        return { ...endpoint, value };
      } catch (error) {
        if (error instanceof DomainError) throw error;
        broken = isUnavailableError(error);
        if (broken) throw new TargetUnavailableError(this.target.id, withoutSql(error));
        throw withoutSql(error);
      } finally {
        if (broken) connection.destroy();
        else connection.release();
      }
    }
  }
}
