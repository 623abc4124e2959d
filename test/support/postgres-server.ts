import { assertPasswordEnforced, startEmbeddedPostgres } from '../../local/embedded-postgres.js';

/** A PostgreSQL superuser URL for the test run: JITDB_PG_URL if set, else a private embedded server. */
export async function startPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.JITDB_PG_URL;
  if (given) {
    await assertPasswordEnforced(given);
    return { url: given, stop: async () => undefined };
  }
  const server = await startEmbeddedPostgres({ persistent: false });
  return { url: server.url, stop: server.stop };
}
