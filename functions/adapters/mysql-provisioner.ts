import mysql from 'mysql2/promise';
import type {
  CredentialProvisioner,
  Credentials,
  GrantSpec,
  OnceSession,
  ProvisionerHealth,
  RevokeReport,
} from '../application/ports.js';
import {
  DomainError,
  RevokeIncompleteError,
  ScopeObjectMissingError,
  TargetMisconfiguredError,
  TargetNotConfiguredForIamError,
  TargetUnavailableError,
} from '../domain/errors.js';
import type { Target } from '../domain/policy-schema.js';
import { driverTls, grantCredentials, randomPassword } from './connection-uri.js';
import {
  assertGrantCurrent,
  isUnavailableError,
  missingUserError,
  type ProvisionerDeps,
  type RevokePlan,
  type RevokeStep,
  runRevokePlan,
  TRANSIENT_RETRIES,
  transientBackoffMs,
} from './provisioner-common.js';
import type { Endpoint } from './rds-endpoint.js';
import { mintGrantIamToken } from './rds-iam-token.js';
import type { AdminCredentials } from './secrets-admin.js';
import { mysqlAccount, mysqlGrantStatements } from './sql-privileges-mysql.js';

const ER_ACCESS_DENIED = 1045;
const ER_CANNOT_USER = 1396;
const ER_NO_SUCH_TABLE = 1146;
const ER_BAD_DB_ERROR = 1049;
const ER_NO_SUCH_THREAD = 1094;
const ER_PLUGIN_IS_NOT_LOADED = 1524;
/** KILL of another user's thread without CONNECTION ADMIN / SUPER. */
const ER_KILL_DENIED = 1095;
const ER_SPECIFIC_ACCESS_DENIED = 1227;
/** MySQL 8.0.22+: DROP USER of an account that is the DEFINER of a stored object. */
const ER_CANNOT_USER_REFERENCED_AS_DEFINER = 4006;
/** How long revoke waits for killed sessions to leave the process list. */
const SESSION_EXIT_WAIT_MS = 5_000;
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
 * Whether sessions are ended with `CALL mysql.rds_kill` (the RDS master user has no SUPER to KILL with):
 * a target addressed by RDS instance or cluster is RDS; `rds` overrides that for a host/port target that is
 * RDS behind a proxy or tunnel.
 */
export function isRdsTarget(target: Target): boolean {
  return target.rds ?? ('rdsInstanceId' in target.connection || 'rdsClusterId' in target.connection);
}

/** Whether the admin holds PROCESS, probed with a table that requires it (roles included, nothing changed). */
async function hasProcessPrivilege(connection: mysql.PoolConnection): Promise<boolean> {
  try {
    await connection.query('SELECT COUNT(*) FROM information_schema.INNODB_TRX');
    return true;
  } catch (error) {
    if (errno(error) === ER_SPECIFIC_ACCESS_DENIED) return false;
    throw error;
  }
}

/** Ids of the user's sessions that the admin can see. */
async function sessionIds(connection: mysql.PoolConnection, user: string): Promise<number[]> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>(
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()',
    [user],
  );
  return rows.map((row) => Number(row.id));
}

/** Where the server counts each user's connections, if it does: MariaDB's user statistics or the performance schema. */
async function connectionCounter(
  connection: mysql.PoolConnection,
): Promise<'userstat' | 'performance_schema' | undefined> {
  const [[ps]] = await connection.query<mysql.RowDataPacket[]>('SELECT @@performance_schema AS on_');
  if (Number(ps?.on_) === 1) return 'performance_schema';
  try {
    const [[stat]] = await connection.query<mysql.RowDataPacket[]>('SELECT @@userstat AS on_');
    return Number(stat?.on_) === 1 ? 'userstat' : undefined;
  } catch {
    return undefined; // MySQL has no userstat
  }
}

/** Connections the server counted for `user` (on any host) since it was created. */
async function connectionsCounted(
  connection: mysql.PoolConnection,
  counter: 'userstat' | 'performance_schema',
  user: string,
): Promise<number> {
  const [[row]] = await connection.query<mysql.RowDataPacket[]>(
    counter === 'userstat'
      ? 'SELECT COALESCE(SUM(TOTAL_CONNECTIONS), 0) AS n FROM information_schema.USER_STATISTICS WHERE USER = ?'
      : 'SELECT COALESCE(SUM(TOTAL_CONNECTIONS), 0) AS n FROM performance_schema.accounts WHERE USER = ?',
    [user],
  );
  return Number(row?.n ?? 0);
}

/** The DROP keyword for each kind of object a definer can leave; anything else is reported, not dropped. */
const DROPPABLE: Record<string, string | undefined> = {
  TRIGGER: 'TRIGGER',
  PROCEDURE: 'PROCEDURE',
  FUNCTION: 'FUNCTION',
  EVENT: 'EVENT',
  VIEW: 'VIEW',
};

/** `user` of a DEFINER `user@host`: everything before the last `@` (a user name may contain one). */
const DEFINER_USER =
  "LEFT(DEFINER, CHAR_LENGTH(DEFINER) - CHAR_LENGTH(SUBSTRING_INDEX(DEFINER, '@', -1)) - 1)";

/** Triggers, routines, events and views whose DEFINER is `user` on any host. */
async function definerObjects(
  connection: mysql.PoolConnection,
  user: string,
): Promise<{ kind: string; schema: string; name: string }[]> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT 'TRIGGER' AS kind, TRIGGER_SCHEMA AS db, TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE ${DEFINER_USER} = ?
     UNION ALL SELECT ROUTINE_TYPE, ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ${DEFINER_USER} = ?
     UNION ALL SELECT 'EVENT', EVENT_SCHEMA, EVENT_NAME FROM information_schema.EVENTS WHERE ${DEFINER_USER} = ?
     UNION ALL SELECT 'VIEW', TABLE_SCHEMA, TABLE_NAME FROM information_schema.VIEWS WHERE ${DEFINER_USER} = ?`,
    [user, user, user, user],
  );
  return rows.map((row) => ({ kind: String(row.kind), schema: String(row.db), name: String(row.name) }));
}

/**
 * The admin's global privileges, and whether it may grant on `database` (GRANT OPTION globally or on a
 * database-level row whose pattern matches it), from information_schema: the admin's own rows and its
 * enabled roles'.
 */
async function adminPrivileges(
  connection: mysql.PoolConnection,
  database: string,
): Promise<{ global: Set<string>; grantable: boolean }> {
  const [[current]] = await connection.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS account');
  const account = String(current?.account ?? '');
  const at = account.lastIndexOf('@');
  const grantees = [`'${account.slice(0, at)}'@'${account.slice(at + 1)}'`];
  const [roles] = await connection.query<mysql.RowDataPacket[]>(
    'SELECT * FROM information_schema.ENABLED_ROLES',
  );
  for (const role of roles) {
    if (role.ROLE_NAME == null) continue;
    grantees.push(`'${role.ROLE_NAME}'`, `'${role.ROLE_NAME}'@'${role.ROLE_HOST ?? '%'}'`);
  }
  const [globalRows] = await connection.query<mysql.RowDataPacket[]>(
    'SELECT PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable FROM information_schema.USER_PRIVILEGES WHERE GRANTEE IN (?)',
    [grantees],
  );
  const [schemaRows] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES
     WHERE GRANTEE IN (?) AND IS_GRANTABLE = 'YES' AND ? LIKE TABLE_SCHEMA LIMIT 1`,
    [grantees, database],
  );
  return {
    global: new Set(globalRows.map((row) => String(row.privilege))),
    grantable: schemaRows.length > 0 || globalRows.some((row) => row.grantable === 'YES'),
  };
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

  async credentials(spec: GrantSpec): Promise<Credentials> {
    const now = this.deps.now?.() ?? new Date();
    assertGrantCurrent(spec, now);
    if (this.target.credentialKind === 'iam') {
      const endpoint = await this.deps.endpoints.resolve(this.target);
      const token = await mintGrantIamToken(
        this.target,
        endpoint,
        { username: spec.dbUser, expiresAt: spec.expiresAt },
        this.deps,
        now,
      );
      return grantCredentials('mysql', this.target, endpoint, spec, token);
    }
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
    return grantCredentials('mysql', this.target, endpoint, spec, {
      password,
      credentialExpiresAt: spec.expiresAt,
    });
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

  async revoke(spec: Pick<GrantSpec, 'requestId' | 'dbUser' | 'target'>): Promise<RevokeReport> {
    return runRevokePlan(this.revokePlan(spec));
  }

  /**
   * Ordered, individually re-runnable: lock the account → kill its connections (and check none is left) →
   * drop the triggers, routines, events and views it is the definer of → drop it. A session the admin cannot
   * see or kill, or an object left behind, throws RevokeIncompleteError instead of reporting success.
   */
  revokePlan(spec: Pick<GrantSpec, 'dbUser'>): RevokePlan {
    const account = mysqlAccount(spec.dbUser);
    let sessionsTerminated = 0;
    let dropped = false;
    const incomplete = (problem: string, cause?: unknown) =>
      new RevokeIncompleteError(this.target.id, spec.dbUser, problem, cause);
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
            // Without PROCESS the process list shows only the admin's own sessions: "none found" would mean nothing.
            if (!(await hasProcessPrivilege(connection))) {
              throw incomplete('the admin lacks the PROCESS privilege, so it cannot see the user’s sessions');
            }
            const kill = isRdsTarget(this.target) ? 'CALL mysql.rds_kill(?)' : 'KILL CONNECTION ?';
            for (const id of await sessionIds(connection, spec.dbUser)) {
              try {
                // DROP USER and ACCOUNT LOCK end no session: each one is killed by id.
                await connection.query(kill, [id]);
                sessionsTerminated += 1;
              } catch (error) {
                // The session ended on its own between the listing and the kill.
                if (errno(error) === ER_NO_SUCH_THREAD) continue;
                if (errno(error) === ER_KILL_DENIED) {
                  throw incomplete(
                    'the admin may not kill the user’s sessions (needs CONNECTION ADMIN or SUPER)',
                    error,
                  );
                }
                throw error;
              }
            }
            // A killed session leaves the list once its thread has noticed: wait a little, then refuse.
            const deadline = Date.now() + SESSION_EXIT_WAIT_MS;
            let left = await sessionIds(connection, spec.dbUser);
            while (left.length > 0 && Date.now() < deadline) {
              await new Promise<void>((resolve) => setTimeout(resolve, 50));
              left = await sessionIds(connection, spec.dbUser);
            }
            if (left.length > 0) throw incomplete(`${left.length} session(s) still open after KILL`);
          });
        },
      },
      {
        name: 'drop-definer-objects',
        run: async () => {
          await this.withConnection(async (connection) => {
            // MariaDB keeps them with a dangling definer (every later write to a trigger's table fails);
            // MySQL 8.0.22+ refuses DROP USER. Their names were chosen by the user: always quoted by escapeId.
            for (const object of await definerObjects(connection, spec.dbUser)) {
              const keyword = DROPPABLE[object.kind];
              if (keyword === undefined) continue; // left for the check below to report
              const name = `${mysql.escapeId(object.schema, true)}.${mysql.escapeId(object.name, true)}`;
              await connection.query(`DROP ${keyword} IF EXISTS ${name}`);
            }
            const left = await definerObjects(connection, spec.dbUser);
            if (left.length > 0) {
              const names = left.map((o) => `${o.kind} ${o.schema}.${o.name}`).join(', ');
              throw incomplete(`objects with it as DEFINER are left: ${names}`);
            }
          });
        },
      },
      {
        name: 'drop-user',
        run: async () => {
          await this.withConnection(async (connection) => {
            try {
              // IF EXISTS answers with a warning, not an error, when there was no such user.
              const [result] = await connection.query<mysql.ResultSetHeader>(
                `DROP USER IF EXISTS ${account}`,
              );
              if (result.warningStatus === 0) dropped = true;
            } catch (error) {
              // MySQL 8.0.22+: a definer the admin could not see in information_schema.
              if (errno(error) === ER_CANNOT_USER_REFERENCED_AS_DEFINER) {
                throw incomplete(
                  'DROP USER refused: it is still the DEFINER of stored objects',
                  withoutSql(error),
                );
              }
              throw error;
            }
          });
        },
      },
    ];
    return { steps, report: () => ({ dropped, sessionsTerminated }) };
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
