import mysql from 'mysql2/promise';
import { findMariadb, startMariadb } from '../../local/mariadb.js';

/**
 * A MySQL-compatible admin URL for the test run: JITDB_MYSQL_URL if set; else a private MariaDB server from the
 * OS binaries in a temp dir (local/mariadb.ts: password auth over TCP); else 127.0.0.1:3306 as root without a password.
 */
export async function startMysql(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.JITDB_MYSQL_URL;
  if (given) return { url: given, stop: async () => undefined };
  const binaries = findMariadb();
  if (binaries) return startMariadb({ binaries });
  const fallback = 'mysql://root@127.0.0.1:3306';
  try {
    const connection = await mysql.createConnection({ uri: fallback, connectTimeout: 5_000 });
    await connection.end();
    return { url: fallback, stop: async () => undefined };
  } catch (error) {
    throw new Error(
      'no MySQL/MariaDB for tests: install MariaDB (apt-get install mariadb-server) or set JITDB_MYSQL_URL=mysql://root:pw@host:3306',
      { cause: error },
    );
  }
}
