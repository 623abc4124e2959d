import { createHash } from 'node:crypto';

/** PostgreSQL facts the provisioner's modules share: what a SQLSTATE means, and the per-database advisory lock. */

/** The admin login was refused: the secret may have rotated since it was read. */
export function isAuthFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '28P01' || code === '28000';
}

/** The SQLSTATE of a driver error, if it carries one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Refusals that a re-run of the same statements resolves: two sessions updating one catalog row (GRANT,
 * DROP OWNED), a serialization failure or a deadlock.
 */
export function isTransientPostgresError(error: unknown): boolean {
  const code = sqlState(error);
  if (code === '40001' || code === '40P01') return true;
  return code === 'XX000' && /tuple concurrently (updated|deleted)/.test(String((error as Error).message));
}

/**
 * The advisory lock key that serialises privilege changes in one database: the first 8 bytes of
 * sha256('jitdb:' + database), stable across processes and server versions (unlike hashtext).
 */
export function databaseLockKey(database: string): string {
  return createHash('sha256').update(`jitdb:${database}`).digest().readBigInt64BE(0).toString();
}

/** The statement that takes the database's lock until the end of the current transaction. */
export function databaseLockStatement(database: string): string {
  return `SELECT pg_catalog.pg_advisory_xact_lock(${databaseLockKey(database)})`;
}
