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

/**
 * The revoke as ordered, individually re-runnable steps: block logins → end sessions (and check none is
 * left) → DROP OWNED in every database where the role owns or holds something → drop the role. Never
 * REASSIGN OWNED to the admin: the user's views and SECURITY DEFINER functions would become admin-owned
 * objects that outlive it. What DROP OWNED cannot remove (an object another role's object depends on, a
 * database it owns, anything in a database that takes no connections) makes a step throw
 * RevokeIncompleteError instead of reporting success.
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
  const steps: RevokeStep[] = [
    {
      name: 'block-logins',
      run: () =>
        withClient(target.database, async (client) => {
          const [, , membership] = await client
            .query<{ member: boolean }>(
              `${databaseLockStatement(target.database)}; ALTER ROLE ${user} NOLOGIN; SELECT pg_catalog.pg_has_role(current_user, ${pg.escapeLiteral(role)}, 'USAGE') AS member`,
            )
            .then((results) => results as unknown as pg.QueryResult<{ member: boolean }>[])
            .catch((error: unknown) => {
              ignoreMissingRole(error);
              return [];
            });
          if (membership?.rows[0]?.member === false) {
            // A non-superuser admin (RDS) may only end the role's sessions and drop its objects as a member.
            await client
              .query(`${databaseLockStatement(target.database)}; GRANT ${user} TO CURRENT_USER`)
              .catch(ignoreMissingRole);
          }
        }),
    },
    {
      name: 'terminate-sessions',
      run: () =>
        withClient(target.database, async (client) => {
          // pg_stat_activity covers every database of the server; the timeout waits until each backend is gone.
          const result = await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM (
               SELECT pg_catalog.pg_terminate_backend(pid, 5000) AS ended FROM pg_catalog.pg_stat_activity
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
