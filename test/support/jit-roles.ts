import pg from 'pg';

/**
 * Every `jit_` role on the server at `adminUrl`, sorted: for suites and benches that own their server (on the
 * shared one, other suites' roles would show). No vitest here: the benches import it too.
 */
export async function jitRoles(adminUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const result = await client.query<{ rolname: string }>(
      "SELECT rolname FROM pg_roles WHERE rolname LIKE 'jit\\_%' ORDER BY rolname",
    );
    return result.rows.map((r) => r.rolname);
  } finally {
    await client.end();
  }
}
