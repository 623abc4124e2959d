/** MySQL and MariaDB details the provisioner and its revoke share: error numbers, safe errors, catalog probes. */
import type mysql from 'mysql2/promise';
import type { Target } from '../domain/policy-schema.js';

export const ER_ACCESS_DENIED = 1045;
export const ER_CANNOT_USER = 1396;
export const ER_NO_SUCH_TABLE = 1146;
export const ER_BAD_DB_ERROR = 1049;
export const ER_NO_SUCH_THREAD = 1094;
export const ER_PLUGIN_IS_NOT_LOADED = 1524;
/** KILL of another user's thread without CONNECTION ADMIN / SUPER. */
export const ER_KILL_DENIED = 1095;
export const ER_SPECIFIC_ACCESS_DENIED = 1227;
/** MySQL 8.0.22+: DROP USER of an account that is the DEFINER of a stored object. */
export const ER_CANNOT_USER_REFERENCED_AS_DEFINER = 4006;
/** InnoDB picked this statement as a deadlock victim (its transaction was rolled back): run it again. */
export const ER_LOCK_DEADLOCK = 1213;

export function errno(error: unknown): number | undefined {
  const value = (error as { errno?: unknown } | undefined)?.errno;
  return typeof value === 'number' ? value : undefined;
}

/**
 * A copy of a mysql2 error without its `sql` property: that holds the statement text, which for CREATE USER
 * and ALTER USER carries the password.
 */
export function withoutSql(error: unknown): unknown {
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
export async function hasProcessPrivilege(connection: mysql.Connection): Promise<boolean> {
  try {
    await connection.query('SELECT COUNT(*) FROM information_schema.INNODB_TRX');
    return true;
  } catch (error) {
    if (errno(error) === ER_SPECIFIC_ACCESS_DENIED) return false;
    throw error;
  }
}

/** Ids of the user's sessions that the admin can see. */
export async function sessionIds(connection: mysql.Connection, user: string): Promise<number[]> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>(
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()',
    [user],
  );
  return rows.map((row) => Number(row.id));
}

/** Where the server counts each user's connections, if it does: MariaDB's user statistics or the performance schema. */
export async function connectionCounter(
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
export async function connectionsCounted(
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

/**
 * The admin's global privileges, and whether it may grant on `database` (GRANT OPTION globally or on a
 * database-level row whose pattern matches it), from information_schema: the admin's own rows and its
 * enabled roles'.
 */
export async function adminPrivileges(
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
