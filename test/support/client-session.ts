import mysql from 'mysql2/promise';
import pg from 'pg';
import type { Credentials } from '../../functions/application/ports.js';

/** One database session opened with issued credentials, as the requester's client would open it. */
export interface ClientSession {
  /** Runs `sql` in the session; resolves to its rows. */
  query(sql: string): Promise<unknown[]>;
  end(): Promise<void>;
}

/**
 * Logs in with `c` on its engine (without TLS, as the local servers take it); rejects with the server's own
 * error when the login is refused. A session the server ends later (a revoke) does not crash the process.
 */
export async function openSession(c: Credentials): Promise<ClientSession> {
  const login = { host: c.host, port: c.port, user: c.username, password: c.password, database: c.database };
  if (c.engine === 'postgres') {
    const client = new pg.Client({ ...login, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    await client.connect();
    return { query: async (sql) => (await client.query(sql)).rows, end: () => client.end() };
  }
  const connection = await mysql.createConnection({ ...login, connectTimeout: 5_000 });
  connection.on('error', () => undefined);
  return {
    query: async (sql) => (await connection.query<mysql.RowDataPacket[]>(sql))[0],
    end: () => connection.end(),
  };
}
