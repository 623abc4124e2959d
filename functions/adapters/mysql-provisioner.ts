import mysql from 'mysql2/promise';
import { DomainError, TargetNotConfiguredForIamError, TargetUnavailableError } from '../domain/errors.js';
import type { Target } from '../domain/policy-schema.js';
import type { CredentialProvisioner, Credentials, GrantSpec, RevokeReport } from '../ports.js';
import { driverTls, grantCredentials, randomPassword } from './connection-uri.js';
import {
  assertGrantCurrent,
  isUnavailableError,
  missingUserError,
  type ProvisionerDeps,
  type RevokePlan,
  type RevokeStep,
  TRANSIENT_RETRIES,
  transientBackoffMs,
} from './postgres-provisioner.js';
import type { Endpoint } from './rds-endpoint.js';
import { mintGrantIamToken } from './rds-iam-token.js';
import type { AdminCredentials } from './secrets-admin.js';
import { mysqlAccount, mysqlGrantStatements } from './sql-privileges-mysql.js';

const ER_ACCESS_DENIED = 1045;
const ER_CANNOT_USER = 1396;
const ER_NO_SUCH_THREAD = 1094;
const ER_PLUGIN_IS_NOT_LOADED = 1524;
/** InnoDB picked this statement as a deadlock victim (its transaction was rolled back): run it again. */
const ER_LOCK_DEADLOCK = 1213;

function errno(error: unknown): number | undefined {
  const value = (error as { errno?: unknown } | undefined)?.errno;
  return typeof value === 'number' ? value : undefined;
}

/**
 * A copy of a mysql2 error without its `sql` property: that holds the statement text, which for CREATE USER
 * and ALTER USER carries the password.
 */
function withoutSql(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  const source = error as Error & { code?: unknown; errno?: unknown; sqlState?: unknown };
  Object.assign(copy, { code: source.code, errno: source.errno, sqlState: source.sqlState });
  return copy;
}

/**
 * MySQL and MariaDB provisioner for `password` and `iam` targets. There is no VALID UNTIL: the password is
 * rotated by credentials() and expiry is enforced by revoke (lock, kill, drop). Identifiers are quoted with
 * mysql2's escapeId, values with its escape, on one pool of admin connections per target.
 */
export class MysqlProvisioner implements CredentialProvisioner {
  private poolPromise: Promise<{ pool: mysql.Pool; admin: AdminCredentials; endpoint: Endpoint }> | undefined;

  constructor(
    readonly target: Target,
    private readonly deps: ProvisionerDeps,
  ) {}

  async grant(spec: GrantSpec): Promise<{ host: string; port: number; database: string }> {
    const account = mysqlAccount(spec.dbUser);
    const requireSsl = this.target.tls === 'disable' ? 'REQUIRE NONE' : 'REQUIRE SSL';
    const limit = Math.max(1, Math.trunc(spec.connectionLimit));
    const identified =
      this.target.credentialKind === 'iam'
        ? "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"
        : // A password nobody knows: the requester gets one only from credentials(), which rotates it.
          `IDENTIFIED BY ${mysql.escape(randomPassword())}`;
    const grants = mysqlGrantStatements(spec.privileges, spec.dbUser);
    const endpoint = await this.withConnection(async (connection) => {
      let created: mysql.ResultSetHeader;
      try {
        [created] = await connection.query<mysql.ResultSetHeader>(
          `CREATE USER IF NOT EXISTS ${account} ${identified} ${requireSsl} WITH MAX_USER_CONNECTIONS ${limit}`,
        );
      } catch (error) {
        if (errno(error) === ER_PLUGIN_IS_NOT_LOADED) {
          throw new TargetNotConfiguredForIamError(this.target.id, withoutSql(error));
        }
        throw withoutSql(error);
      }
      if (created.warningStatus > 0) {
        // IF NOT EXISTS warned: the user exists (a retried grant), so bring it to the spec.
        await connection.query(
          `ALTER USER ${account} ${requireSsl} WITH MAX_USER_CONNECTIONS ${limit} ACCOUNT UNLOCK`,
        );
      }
      for (const grant of grants) await connection.query(grant);
    });
    return { host: endpoint.host, port: endpoint.port, database: this.target.database };
  }

  async credentials(spec: GrantSpec): Promise<Credentials> {
    const now = this.deps.now?.() ?? new Date();
    assertGrantCurrent(spec, now);
    let password: string;
    let credentialExpiresAt = spec.expiresAt;
    let endpoint: Endpoint;
    if (this.target.credentialKind === 'iam') {
      endpoint = await this.deps.endpoints.resolve(this.target);
      ({ password, credentialExpiresAt } = await mintGrantIamToken(
        this.target,
        endpoint,
        { username: spec.dbUser, expiresAt: spec.expiresAt },
        this.deps,
        now,
      ));
    } else {
      const fresh = randomPassword();
      endpoint = await this.withConnection(async (connection) => {
        try {
          await connection.query(
            `ALTER USER ${mysqlAccount(spec.dbUser)} IDENTIFIED BY ${mysql.escape(fresh)}`,
          );
        } catch (error) {
          if (errno(error) === ER_CANNOT_USER) throw missingUserError(spec);
          throw withoutSql(error);
        }
      });
      password = fresh;
    }
    return grantCredentials({
      engine: 'mysql',
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

  /** MySQL has no in-database expiry: revoke at the new expiresAt is the only guard, so nothing to move. */
  async extend(spec: GrantSpec): Promise<void> {
    const exists = await this.withConnection(async (connection) => this.userExists(connection, spec.dbUser));
    if (!exists.value) throw missingUserError(spec);
  }

  async revoke(spec: Pick<GrantSpec, 'requestId' | 'dbUser' | 'target'>): Promise<RevokeReport> {
    const plan = this.revokePlan(spec);
    for (const step of plan.steps) await step.run();
    return plan.report();
  }

  /** Ordered, individually re-runnable: lock the account → kill its connections → drop it. */
  revokePlan(spec: Pick<GrantSpec, 'dbUser'>): RevokePlan {
    const account = mysqlAccount(spec.dbUser);
    let sessionsTerminated = 0;
    let dropped = false;
    const steps: RevokeStep[] = [
      {
        name: 'block-logins',
        run: async () => {
          await this.withConnection((connection) =>
            connection.query(`ALTER USER IF EXISTS ${account} ACCOUNT LOCK`),
          );
        },
      },
      {
        name: 'terminate-sessions',
        run: async () => {
          await this.withConnection(async (connection) => {
            const [rows] = await connection.query<mysql.RowDataPacket[]>(
              'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()',
              [spec.dbUser],
            );
            for (const row of rows) {
              const id = Number(row.id);
              try {
                // DROP USER and ACCOUNT LOCK end no session: each one is killed by id.
                await connection.query(this.target.rds ? 'CALL mysql.rds_kill(?)' : 'KILL CONNECTION ?', [
                  id,
                ]);
                sessionsTerminated += 1;
              } catch (error) {
                // The session ended on its own between the listing and the kill.
                if (errno(error) !== ER_NO_SUCH_THREAD) throw error;
              }
            }
          });
        },
      },
      {
        name: 'drop-user',
        run: async () => {
          await this.withConnection(async (connection) => {
            // IF EXISTS answers with a warning, not an error, when there was no such user.
            const [result] = await connection.query<mysql.ResultSetHeader>(`DROP USER IF EXISTS ${account}`);
            if (result.warningStatus === 0) dropped = true;
          });
        },
      },
    ];
    return { steps, report: () => ({ dropped, sessionsTerminated }) };
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
        for (let rerun = 0; ; rerun++) {
          try {
            const value = await work(connection);
            return { ...endpoint, value };
          } catch (error) {
            // Every unit of work is idempotent (IF [NOT] EXISTS, GRANT, KILL by id): a rerun is safe.
            if (errno(error) !== ER_LOCK_DEADLOCK || rerun >= TRANSIENT_RETRIES) throw error;
            await new Promise<void>((resolve) => setTimeout(resolve, transientBackoffMs(rerun)));
          }
        }
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
