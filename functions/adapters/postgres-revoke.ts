import pg from 'pg';
import type { GrantSpec } from '../application/ports.js';
import { RevokeIncompleteError } from '../domain/errors.js';
import { databaseLockStatement, sqlState } from './postgres-sql.js';
import type { RevokePlan, RevokeStep } from './provisioner-common.js';

/** Runs `work` on a pooled admin connection to `database` (the provisioner's withClient). */
export type WithAdminClient = <T>(
  database: string,
  work: (client: pg.PoolClient) => Promise<T>,
) => Promise<T>;

/** The target a revoke runs against: its id (for errors) and the database its grants were made in. */
export interface RevokeTarget {
  id: string;
  database: string;
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

/** How long one try to set NOLOGIN waits for the role's catalog row before its sessions are ended again. */
const ROLE_ROW_LOCK_TIMEOUT = '500ms';
/** Tries at NOLOGIN, each after ending the role's sessions: a lock still held after all is not the user's. */
const BLOCK_LOGINS_TRIES = 8;

/** Ends every backend of `role` in every database of the server, waiting until each is gone; counts them. */
function terminateSql(role: string): string {
  return `SELECT count(*)::int AS n FROM (
  SELECT pg_catalog.pg_terminate_backend(pid, 5000) AS ended FROM pg_catalog.pg_stat_activity
  WHERE usename = ${pg.escapeLiteral(role)} AND pid <> pg_catalog.pg_backend_pid()) AS t
WHERE ended`;
}

/**
 * With the role's name in the transaction-local setting jitdb.revoke_role: signals every backend of the role
 * and looks again (2 ms apart, at most 2000 times) until none is left, then sets NOLOGIN with no round trip in
 * between, so a session that logged in again has no time to take the role's row first. Signalling all at once
 * rather than waiting for each in turn leaves no moment where the first ended has logged in again while the
 * last is still exiting. The number of backends ended goes to the transaction-local setting
 * jitdb.sessions_ended. The body holds no name: one would have to be quoted for the dollar quote too.
 */
const END_SESSIONS_THEN_NOLOGIN = `DO $jitdb$
DECLARE
  target_role text := pg_catalog.current_setting('jitdb.revoke_role');
  live int[];
  ended int[] := '{}';
BEGIN
  FOR look IN 1..2000 LOOP
    -- pg_stat_activity is read once per transaction unless this drops that copy: each round must look again.
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    SELECT pg_catalog.array_agg(a.pid) INTO live FROM pg_catalog.pg_stat_activity a
    WHERE a.usename = target_role AND a.pid <> pg_catalog.pg_backend_pid();
    EXIT WHEN live IS NULL;
    PERFORM pg_catalog.pg_terminate_backend(p) FROM pg_catalog.unnest(live) AS p;
    ended := ended || live;
    PERFORM pg_catalog.pg_sleep(0.002);
  END LOOP;
  PERFORM pg_catalog.set_config('jitdb.sessions_ended',
    (SELECT count(DISTINCT p) FROM pg_catalog.unnest(ended) AS p)::text, true);
  EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', target_role);
END
$jitdb$`;

/** The role's open backends and prepared transactions: what can still hold a lock or run a statement. */
const LEFT_SQL = `SELECT
  (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid())::int AS sessions,
  (SELECT count(*) FROM pg_catalog.pg_prepared_xacts WHERE owner = $1)::int AS prepared`;

/**
 * The revoke as ordered, individually re-runnable steps: block logins → end sessions (and check none is
 * left) → DROP OWNED in every database where the role owns or holds something → drop the role. Never
 * REASSIGN OWNED to the admin: the user's views and SECURITY DEFINER functions would become admin-owned
 * objects that outlive it. What DROP OWNED cannot remove (an object another role's object depends on, a
 * database it owns, anything in a database that takes no connections) makes a step throw
 * RevokeIncompleteError instead of reporting success.
 *
 * Nothing the user holds may make a step wait: its sessions can hold the row of its own role (an open
 * `ALTER ROLE CURRENT_USER PASSWORD …`) and any advisory lock, the database lock included, and a prepared
 * transaction keeps both after its session is gone. So every step that takes a lock first ends the role's
 * sessions and rolls back its prepared transactions: block-logins sets NOLOGIN right after its sessions are gone
 * (END_SESSIONS_THEN_NOLOGIN), under a short lock_timeout, and tries again if the row was taken back; it takes
 * no database lock (a single-row update of the role; a
 * concurrent grant's ALTER ROLE on the same row is waited for or retried as transient). The database lock is
 * taken only from drop-owned on, after terminate-sessions has shown that no session or prepared transaction of
 * the role is left and logins are blocked.
 */
export function postgresRevokePlan(
  target: RevokeTarget,
  withClient: WithAdminClient,
  spec: Pick<GrantSpec, 'dbUser'>,
): RevokePlan {
  const role = spec.dbUser;
  const user = pg.escapeIdentifier(role);
  let sessionsTerminated = 0;
  let dropped = false;
  const incomplete = (problem: string, cause?: unknown) =>
    new RevokeIncompleteError(target.id, role, problem, cause);
  const ignoreMissingRole = (error: unknown) => {
    if (sqlState(error) !== '42704') throw error;
  };

  /**
   * Rolls back the role's prepared transactions, in their databases, as the role: only the role that prepared
   * one or a superuser may finish it. `client` is connected to the target's database, and a non-superuser admin
   * must already be a member of the role.
   */
  const rollbackPrepared = async (client: pg.PoolClient): Promise<void> => {
    const prepared = await client.query<{ gid: string; database: string }>(
      'SELECT gid, database FROM pg_catalog.pg_prepared_xacts WHERE owner = $1 ORDER BY database, gid',
      [role],
    );
    for (const database of new Set(prepared.rows.map((row) => row.database))) {
      // The target's own database on this connection: a second one from the same pool could wait on itself.
      const inDatabase: WithAdminClient = (name, work) =>
        name === target.database ? work(client) : withClient(name, work);
      await inDatabase(database, async (other) => {
        try {
          await other.query(`SET ROLE ${user}`);
        } catch (error) {
          ignoreMissingRole(error);
          return;
        }
        try {
          for (const { gid } of prepared.rows.filter((row) => row.database === database)) {
            // 42704: finished meanwhile (another revoke, or its own COMMIT PREPARED before logins were blocked).
            await other.query(`ROLLBACK PREPARED ${pg.escapeLiteral(gid)}`).catch(ignoreMissingRole);
          }
        } finally {
          await other.query('RESET ROLE');
        }
      });
    }
  };

  const steps: RevokeStep[] = [
    {
      name: 'block-logins',
      run: () =>
        withClient(target.database, async (client) => {
          const found = await client.query<{ member: boolean }>(
            `SELECT pg_catalog.pg_has_role(current_user, oid, 'USAGE') AS member FROM pg_catalog.pg_roles WHERE rolname = $1`,
            [role],
          );
          const membership = found.rows[0];
          if (membership === undefined) return;
          if (!membership.member) {
            // A non-superuser admin (RDS) may only end the role's sessions and drop its objects as a member.
            // 23505: a concurrent revoke of the same role granted it a moment ago.
            await client.query(`GRANT ${user} TO CURRENT_USER`).catch((error: unknown) => {
              if (sqlState(error) !== '23505') ignoreMissingRole(error);
            });
          }
          for (let tries = 1; ; tries++) {
            // Whatever its sessions and prepared transactions hold is released with them. A session that logs
            // in before NOLOGIN commits is ended by terminate-sessions. (A try that times out loses its count
            // of ended sessions: sessionsTerminated can be low, never high.)
            await rollbackPrepared(client);
            try {
              const results = (await client.query(
                `SELECT pg_catalog.set_config('jitdb.revoke_role', ${pg.escapeLiteral(role)}, true);
                 SELECT pg_catalog.set_config('lock_timeout', '${ROLE_ROW_LOCK_TIMEOUT}', true);
                 ${END_SESSIONS_THEN_NOLOGIN};
                 SELECT pg_catalog.current_setting('jitdb.sessions_ended')::int AS n`,
              )) as unknown as pg.QueryResult<{ n: number }>[];
              sessionsTerminated += results.at(-1)?.rows[0]?.n ?? 0;
              return;
            } catch (error) {
              if (sqlState(error) === '42704') return;
              // 55P03 lock_not_available: the role's row is held past lock_timeout.
              if (sqlState(error) !== '55P03') throw error;
              if (tries >= BLOCK_LOGINS_TRIES) {
                throw incomplete(
                  `NOLOGIN waited on its role's row ${tries} times, its sessions ended before each: another role's transaction holds it`,
                  error,
                );
              }
            }
          }
        }),
    },
    {
      name: 'terminate-sessions',
      run: () =>
        withClient(target.database, async (client) => {
          const ended = await client.query<{ n: number }>(terminateSql(role));
          sessionsTerminated += ended.rows[0]?.n ?? 0;
          await rollbackPrepared(client);
          // Logins are blocked: a session still listed is one that did not end, not a new one; and with no
          // session left, no prepared transaction can appear.
          const left = await client.query<{ sessions: number; prepared: number }>(LEFT_SQL, [role]);
          const { sessions = 0, prepared = 0 } = left.rows[0] ?? {};
          if (sessions > 0) throw incomplete(`${sessions} session(s) still open after pg_terminate_backend`);
          if (prepared > 0) {
            throw incomplete(`${prepared} prepared transaction(s) left after ROLLBACK PREPARED`);
          }
        }),
    },
    {
      name: 'drop-owned',
      run: async () => {
        // Databases where pg_shdepend says the role owns or was granted something, plus the target's.
        const databases = await withClient(target.database, async (client) => {
          const result = await client.query<{ datname: string; connectable: boolean; member: boolean }>(
            `SELECT d.datname, d.datallowconn AS connectable, pg_catalog.pg_has_role(current_user, $1, 'USAGE') AS member
             FROM pg_database d
             WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
               AND (d.datname = $2 OR EXISTS (
                 SELECT 1 FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid
                 WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = $1 AND s.dbid = d.oid))
             ORDER BY d.datname = $2 DESC, d.datname`,
            [role, target.database],
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
              .query(`${databaseLockStatement(target.database)}; GRANT ${user} TO CURRENT_USER`)
              .catch(ignoreMissingRole);
          }
          return result.rows.map((row) => row.datname);
        });
        for (const database of databases) {
          await withClient(database, async (client) => {
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
        withClient(target.database, async (client) => {
          try {
            const [existed] = (await client.query(
              `SELECT 1 FROM pg_roles WHERE rolname = ${pg.escapeLiteral(role)};\n${databaseLockStatement(target.database)};\nDROP ROLE IF EXISTS ${user}`,
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
