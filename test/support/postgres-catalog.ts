import pg from 'pg';
import { services } from './services.js';

/**
 * What the PostgreSQL provisioner suites read from the catalog as the shared server's superuser: which
 * tables of a name exist, and what a role still owns in any database.
 */

/** `url` pointed at database `db`. */
export function inDatabase(url: string, db: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${db}`;
  return parsed.toString();
}

/** Runs `work` as the superuser in database `db`. */
export async function asSuperuserIn<T>(db: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inDatabase(services().pgAdminUrl, db) });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The schemas in database `db` holding a table named `table`. */
export async function tablesNamed(db: string, table: string): Promise<string[]> {
  return asSuperuserIn(db, async (client) => {
    const result = await client.query('SELECT schemaname FROM pg_tables WHERE tablename = $1', [table]);
    return result.rows.map((row) => String(row.schemaname));
  });
}

/** Per connectable database, the pg_class/pg_proc/pg_namespace/pg_type rows owned by role `oid`, if any. */
export async function objectsOwnedBy(oid: number): Promise<Record<string, number>> {
  const databases = await asSuperuserIn('postgres', (client) =>
    client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datallowconn'),
  );
  const found: Record<string, number> = {};
  for (const { datname } of databases.rows) {
    const n = await asSuperuserIn(datname, async (client) => {
      const result = await client.query<{ n: number }>(
        `SELECT ((SELECT count(*) FROM pg_class WHERE relowner = $1) + (SELECT count(*) FROM pg_proc WHERE proowner = $1)
          + (SELECT count(*) FROM pg_namespace WHERE nspowner = $1) + (SELECT count(*) FROM pg_type WHERE typowner = $1))::int AS n`,
        [oid],
      );
      return result.rows[0]?.n ?? 0;
    }).catch((error: { code?: string }) => {
      // Another suite dropped it between the listing and the visit (invalid_catalog_name): nothing owned there.
      if (error.code === '3D000') return 0;
      throw error;
    });
    if (n > 0) found[datname] = n;
  }
  return found;
}
