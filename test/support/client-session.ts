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
 * Logs in with the credentials' ready-to-use URI on their engine; rejects with the server's own error when the
 * login is refused. A session the server ends later (a revoke) does not crash the process.
 */
export async function openSession(c: Pick<Credentials, 'engine' | 'uri'>): Promise<ClientSession> {
  if (c.engine === 'postgres') {
    const client = new pg.Client({ connectionString: c.uri, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    await client.connect();
    return { query: async (sql) => (await client.query(sql)).rows, end: () => client.end() };
  }
  const connection = await mysql.createConnection({ uri: c.uri, connectTimeout: 5_000 });
  connection.on('error', () => undefined);
  return {
    query: async (sql) => (await connection.query<mysql.RowDataPacket[]>(sql))[0],
    end: () => connection.end(),
  };
}
