import mysql from 'mysql2/promise';
import type { GrantSpec } from '../application/ports.js';
import { RevokeIncompleteError } from '../domain/errors.js';
import {
  ER_CANNOT_USER_REFERENCED_AS_DEFINER,
  ER_KILL_DENIED,
  ER_NO_SUCH_THREAD,
  errno,
  hasProcessPrivilege,
  sessionIds,
  withoutSql,
} from './mysql-sql.js';
import type { RevokePlan, RevokeStep } from './provisioner-common.js';
import { mysqlAccount } from './sql-privileges-mysql.js';

/** Runs `work` on a pooled admin connection to the target (the provisioner's withConnection). */
export type WithAdminConnection = <T>(
  work: (connection: mysql.PoolConnection) => Promise<T>,
) => Promise<unknown>;

/** The target a revoke runs against: its id (for errors) and whether sessions end by mysql.rds_kill. */
export interface MysqlRevokeTarget {
  id: string;
  rds: boolean;
}

/** How long revoke waits for killed sessions to leave the process list. */
const SESSION_EXIT_WAIT_MS = 5_000;

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
export async function definerObjects(
  connection: mysql.Connection,
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
 * Ordered, individually re-runnable: lock the account → kill its connections (and check none is left) →
 * drop the triggers, routines, events and views it is the definer of → drop it. A session the admin cannot
 * see or kill, or an object left behind, throws RevokeIncompleteError instead of reporting success.
 */
export function mysqlRevokePlan(
  target: MysqlRevokeTarget,
  withConnection: WithAdminConnection,
  spec: Pick<GrantSpec, 'dbUser'>,
): RevokePlan {
  const account = mysqlAccount(spec.dbUser);
  let sessionsTerminated = 0;
  let dropped = false;
  const incomplete = (problem: string, cause?: unknown) =>
    new RevokeIncompleteError(target.id, spec.dbUser, problem, cause);
  const steps: RevokeStep[] = [
    {
      name: 'block-logins',
      run: async () => {
        await withConnection((connection) =>
          connection.query(`ALTER USER IF EXISTS ${account} ACCOUNT LOCK`),
        );
      },
    },
    {
      name: 'terminate-sessions',
      run: async () => {
        await withConnection(async (connection) => {
          // Without PROCESS the process list shows only the admin's own sessions: "none found" would mean nothing.
          if (!(await hasProcessPrivilege(connection))) {
            throw incomplete('the admin lacks the PROCESS privilege, so it cannot see the user’s sessions');
          }
          const kill = target.rds ? 'CALL mysql.rds_kill(?)' : 'KILL CONNECTION ?';
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
        await withConnection(async (connection) => {
          // MariaDB keeps them with a dangling definer (every later write to a trigger's table fails);
          // MySQL 8.0.22+ refuses DROP USER. Their names were chosen by the user: always quoted by escapeId.
          const found = await definerObjects(connection, spec.dbUser);
          // None found: nothing can add one now (logins are blocked and every session has left), so the
          // catalog, the costliest read of a revoke (information_schema.VIEWS opens every view), is read once.
          if (found.length === 0) return;
          for (const object of found) {
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
        await withConnection(async (connection) => {
          try {
            // IF EXISTS answers with a warning, not an error, when there was no such user.
            const [result] = await connection.query<mysql.ResultSetHeader>(`DROP USER IF EXISTS ${account}`);
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
