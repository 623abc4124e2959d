import pg from 'pg';
import { TargetMisconfiguredError } from '../domain/errors.js';
import { databaseLockStatement, sqlState } from './postgres-sql.js';

/**
 * Use-once credentials on PostgreSQL: a `login` event trigger (PostgreSQL 17+) seals a use-once role at its first
 * login — a SECURITY DEFINER function owned by the admin sets the role NOLOGIN — so no second session can start,
 * concurrent or later. The role carries the marker as its comment, which only the admin can set (the role itself
 * holds neither CREATEROLE nor ADMIN OPTION on itself). Event triggers are per database: the trigger is installed
 * in every database the role may connect to, before the role may log in.
 */

/** The comment that marks a role as use-once; the seal function reads it. */
export const ONCE_ROLE_COMMENT = 'jitdb:once';
/**
 * The comment the seal leaves: the session happened. Kept apart from NOLOGIN, which revoke sets too, so a revoke
 * in flight is never read as a use.
 */
export const ONCE_USED_COMMENT = 'jitdb:once-used';
const SCHEMA = 'jitdb';
const FUNCTION = `${SCHEMA}.seal_once_login`;
const TRIGGER = 'jitdb_seal_once_login';
/** In the function's body: an installed seal without it is an older one, replaced by the next grant. */
const SEAL_VERSION = 'jitdb seal v2';
/** Login event triggers arrived in PostgreSQL 17. */
const LOGIN_TRIGGERS_FROM = 170000;

/**
 * Runs at every login to the database; for anyone but a use-once `jit_` role it returns at once. It must never
 * fail for other roles (a failing login trigger refuses every login), so it reads only the catalog. For a
 * use-once role it seals the role; if sealing fails, this login fails too (closed, not open).
 */
const SEAL_FUNCTION_SQL = `CREATE OR REPLACE FUNCTION ${FUNCTION}() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $seal$
-- ${SEAL_VERSION}
BEGIN
  IF session_user::text LIKE 'jit\\_%' AND shobj_description(
       (SELECT oid FROM pg_roles WHERE rolname = session_user), 'pg_authid') = ${pg.escapeLiteral(ONCE_ROLE_COMMENT)} THEN
    EXECUTE format('ALTER ROLE %I NOLOGIN', session_user);
    EXECUTE format('COMMENT ON ROLE %I IS %L', session_user, ${pg.escapeLiteral(ONCE_USED_COMMENT)});
  END IF;
END
$seal$`;

/** The statements that seal a role by hand, as its first login would have (a session the trigger did not see). */
export function sealRoleSql(role: string): string {
  const user = pg.escapeIdentifier(role);
  return `ALTER ROLE ${user} NOLOGIN; COMMENT ON ROLE ${user} IS ${pg.escapeLiteral(ONCE_USED_COMMENT)}`;
}

/** The statements that install the seal in one database; idempotent, serialised by the database's lock. */
export function sealInstallSql(database: string): string {
  return [
    databaseLockStatement(database),
    `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`,
    `REVOKE ALL ON SCHEMA ${SCHEMA} FROM PUBLIC`,
    SEAL_FUNCTION_SQL,
    `REVOKE ALL ON FUNCTION ${FUNCTION}() FROM PUBLIC`,
    `DO $install$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = '${TRIGGER}') THEN
         CREATE EVENT TRIGGER ${TRIGGER} ON login EXECUTE FUNCTION ${FUNCTION}();
       END IF;
       ALTER EVENT TRIGGER ${TRIGGER} ENABLE ALWAYS;
     END $install$`,
  ].join(';\n');
}

/** Whether the seal is installed and enabled in the database the client is connected to. */
const SEAL_PRESENT_SQL = `SELECT current_setting('server_version_num')::int AS version,
  coalesce(current_setting('event_triggers', true), 'on') = 'on' AS enabled,
  EXISTS (SELECT 1 FROM pg_event_trigger t JOIN pg_proc p ON p.oid = t.evtfoid
          WHERE t.evtname = '${TRIGGER}' AND t.evtevent = 'login' AND t.evtenabled = 'A'
            AND p.prosrc LIKE '%${SEAL_VERSION}%') AS present`;

/** Installs the seal in the client's database unless present; refuses a server or admin that cannot have it. */
export async function ensureSeal(client: pg.ClientBase, targetId: string, database: string): Promise<void> {
  const found = await client.query<{ version: number; enabled: boolean; present: boolean }>(SEAL_PRESENT_SQL);
  const { version = 0, enabled = false, present = false } = found.rows[0] ?? {};
  if (version < LOGIN_TRIGGERS_FROM) {
    throw new TargetMisconfiguredError(targetId, [
      'use-once credentials need PostgreSQL 17 or later (login event triggers)',
    ]);
  }
  if (!enabled) {
    throw new TargetMisconfiguredError(targetId, [
      `use-once credentials need event triggers on in ${database} (event_triggers is off)`,
    ]);
  }
  if (present) return;
  try {
    await client.query(sealInstallSql(database));
  } catch (error) {
    if (sqlState(error) === '42501') {
      throw new TargetMisconfiguredError(targetId, [
        `use-once credentials need an admin that may create event triggers in ${database} (a superuser, or the RDS master user)`,
      ]);
    }
    throw error;
  }
}

/** The databases other than `database` where `role` may open a session (templates aside: see ARCHITECTURE.md). */
export async function connectableDatabases(
  client: pg.ClientBase,
  role: string,
  database: string,
): Promise<string[]> {
  const result = await client.query<{ datname: string }>(
    `SELECT datname FROM pg_database
     WHERE datallowconn AND NOT datistemplate AND datname <> $2 AND pg_catalog.has_database_privilege($1, datname, 'CONNECT')
     ORDER BY datname`,
    [role, database],
  );
  return result.rows.map((row) => row.datname);
}

/** Where a use-once role stands: no row when it is gone. */
export const ONCE_SESSION_SQL = `SELECT pg_catalog.shobj_description(r.oid, 'pg_authid') = ${pg.escapeLiteral(ONCE_USED_COMMENT)} AS "sealed",
  (SELECT count(*)::int FROM pg_stat_activity a WHERE a.usename = r.rolname AND a.pid <> pg_backend_pid()) AS "open"
  FROM pg_roles r WHERE r.rolname = $1`;
