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
const SEAL_VERSION = 'jitdb seal v3';
/** The SQLSTATE the install raises when the seal's objects are not the admin's (see SEAL_PROBLEMS_SQL). */
const FOREIGN_SEAL_STATE = 'JDB01';
/** Login event triggers arrived in PostgreSQL 17. */
const LOGIN_TRIGGERS_FROM = 170000;

/**
 * Runs at every login to the database; for anyone but a use-once `jit_` role it returns at once. It must never
 * fail for other roles (a failing login trigger refuses every login), so it reads only the catalog. For a
 * use-once role it seals the role; if sealing fails, this login fails too (closed, not open).
 */
const SEAL_FUNCTION_SQL = `CREATE OR REPLACE FUNCTION ${FUNCTION}() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $seal$
-- ${SEAL_VERSION}
BEGIN
  IF session_user::text LIKE 'jit\\_%' AND pg_catalog.shobj_description(
       (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = session_user), 'pg_authid') = ${pg.escapeLiteral(ONCE_ROLE_COMMENT)} THEN
    EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', session_user);
    EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', session_user, ${pg.escapeLiteral(ONCE_USED_COMMENT)});
  END IF;
END
$seal$`;

/** The statements that seal a role by hand, as its first login would have (a session the trigger did not see). */
export function sealRoleSql(role: string): string {
  const user = pg.escapeIdentifier(role);
  return `ALTER ROLE ${user} NOLOGIN; COMMENT ON ROLE ${user} IS ${pg.escapeLiteral(ONCE_USED_COMMENT)}`;
}

/**
 * What makes the seal's objects someone else's: the schema, the function or the event trigger owned by a role
 * other than the admin (current_user) or a superuser, another role that may create in the schema, or the event
 * trigger running some other function. CREATE SCHEMA IF NOT EXISTS and CREATE OR REPLACE FUNCTION keep an
 * existing object's owner, so a role with CREATE on the database (often the application's own user) could
 * pre-create them: the admin's login trigger would then run that role's code at every login, the admin's
 * included (a SECURITY INVOKER body runs as whoever logs in), or do nothing at all. A superuser owner is
 * accepted: only superusers may change what one owns. One text per problem; empty when the seal is the admin's.
 */
const SEAL_PROBLEMS_SQL = `WITH trusted AS (
    SELECT oid FROM pg_catalog.pg_roles WHERE rolsuper OR rolname = current_user),
  ns AS (SELECT oid, nspowner, nspacl FROM pg_catalog.pg_namespace WHERE nspname = '${SCHEMA}'),
  fn AS (SELECT p.oid, p.proowner FROM pg_catalog.pg_proc p JOIN ns ON p.pronamespace = ns.oid
         WHERE p.proname = 'seal_once_login' AND p.pronargs = 0),
  trg AS (SELECT evtowner, evtfoid FROM pg_catalog.pg_event_trigger WHERE evtname = '${TRIGGER}')
SELECT ARRAY(
  SELECT format('schema ${SCHEMA} is owned by %s', nspowner::regrole) FROM ns
   WHERE nspowner NOT IN (SELECT oid FROM trusted)
  UNION ALL
  SELECT format('%s may create objects in schema ${SCHEMA}',
                CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
    FROM ns, aclexplode(ns.nspacl) a
   WHERE a.privilege_type = 'CREATE' AND a.grantee NOT IN (SELECT oid FROM trusted)
  UNION ALL
  SELECT format('function ${FUNCTION}() is owned by %s', proowner::regrole) FROM fn
   WHERE proowner NOT IN (SELECT oid FROM trusted)
  UNION ALL
  SELECT format('event trigger ${TRIGGER} is owned by %s', evtowner::regrole) FROM trg
   WHERE evtowner NOT IN (SELECT oid FROM trusted)
  UNION ALL
  SELECT format('event trigger ${TRIGGER} runs %s, not ${FUNCTION}()', evtfoid::regprocedure) FROM trg
   WHERE evtfoid IS DISTINCT FROM (SELECT oid FROM fn))`;

/**
 * The statements that install the seal in one database; idempotent, serialised by the database's lock. The
 * ownership check runs in the same transaction, after the schema exists and before anything is replaced: once
 * the schema is the admin's and nobody else may create in it, nobody else can change what follows.
 */
export function sealInstallSql(database: string): string {
  return [
    databaseLockStatement(database),
    `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`,
    `DO $check$ DECLARE problems text[]; BEGIN
       problems := (${SEAL_PROBLEMS_SQL});
       IF cardinality(problems) > 0 THEN
         RAISE EXCEPTION USING ERRCODE = '${FOREIGN_SEAL_STATE}', MESSAGE = array_to_string(problems, '; ');
       END IF;
     END $check$`,
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

/** Whether the seal is installed and enabled in the database the client is connected to, and whose it is. */
const SEAL_PRESENT_SQL = `SELECT current_setting('server_version_num')::int AS version,
  coalesce(current_setting('event_triggers', true), 'on') = 'on' AS enabled,
  (${SEAL_PROBLEMS_SQL}) AS problems,
  EXISTS (SELECT 1 FROM pg_event_trigger t JOIN pg_proc p ON p.oid = t.evtfoid
          WHERE t.evtname = '${TRIGGER}' AND t.evtevent = 'login' AND t.evtenabled = 'A'
            AND p.prosrc LIKE '%${SEAL_VERSION}%') AS present`;

/** The refusal when the seal's objects are not the admin's alone: what is wrong, and how to start over. */
function foreignSealError(targetId: string, database: string, problems: string): TargetMisconfiguredError {
  return new TargetMisconfiguredError(targetId, [
    `use-once credentials need the login seal in ${database} to be the admin's alone, but ${problems}: ` +
      "that role could run its own code at every login, the admin's included, or switch the seal off. " +
      `Check what schema ${SCHEMA} holds, then as the admin DROP EVENT TRIGGER IF EXISTS ${TRIGGER} and ` +
      `DROP SCHEMA ${SCHEMA} CASCADE; the next use-once grant installs the seal afresh`,
  ]);
}

/**
 * Installs the seal in the client's database unless present; refuses a server or admin that cannot have it, and
 * a seal whose schema, function or trigger another role owns or may change.
 */
export async function ensureSeal(client: pg.ClientBase, targetId: string, database: string): Promise<void> {
  const found = await client.query<{
    version: number;
    enabled: boolean;
    problems: string[];
    present: boolean;
  }>(SEAL_PRESENT_SQL);
  const { version = 0, enabled = false, problems = [], present = false } = found.rows[0] ?? {};
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
  if (problems.length > 0) throw foreignSealError(targetId, database, problems.join('; '));
  if (present) return;
  try {
    await client.query(sealInstallSql(database));
  } catch (error) {
    // Made someone else's between the look above and the install's lock.
    if (sqlState(error) === FOREIGN_SEAL_STATE) {
      throw foreignSealError(targetId, database, String((error as Error).message));
    }
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
