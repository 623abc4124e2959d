/**
 * Connects to a PostgreSQL-speaking server with the admin connection's TLS settings (driverTls) and prints
 * `connected` or the error code: run as a child process so NODE_EXTRA_CA_CERTS (read at start-up) applies.
 * Usage: tsx tls-probe.ts <mode> <host> <port>
 */
import pg from 'pg';
import { driverTls, type TlsMode } from '../../functions/adapters/connection-uri.js';

const [mode = 'verify-full', host = 'localhost', port = '5432'] = process.argv.slice(2);
const client = new pg.Client({
  host,
  port: Number(port),
  user: 'jit_admin',
  password: 'not-a-real-password',
  database: 'probe',
  ssl: driverTls(mode as TlsMode),
  connectionTimeoutMillis: 5_000,
});
try {
  await client.connect();
  console.log('connected');
} catch (error) {
  console.log((error as { code?: string }).code ?? (error as Error).message);
} finally {
  await client.end().catch(() => undefined);
}
