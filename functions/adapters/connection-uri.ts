import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import type { Credentials } from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';

/** How clients and the admin connection use TLS to a target (the policy's `tls` field). */
export type TlsMode = 'require' | 'verify-full' | 'disable';

export interface ConnectionUriParts {
  engine: 'postgres' | 'mysql';
  host: string;
  port: number;
  database: string;
  username: string;
  /** A password or an IAM token (which holds `&`, `=`, `%`, `/`, `:`): always percent-encoded. */
  password: string;
  tls: TlsMode;
}

const PG_SSLMODE: Record<TlsMode, string> = {
  require: 'require',
  'verify-full': 'verify-full',
  disable: 'disable',
};
const MYSQL_SSL_MODE: Record<TlsMode, string | undefined> = {
  require: 'REQUIRED',
  'verify-full': 'VERIFY_IDENTITY',
  disable: undefined,
};

/** `postgres://user:pass@host:port/db?sslmode=…` or `mysql://user:pass@host:port/db[?ssl-mode=…]`. */
export function connectionUri(parts: ConnectionUriParts): string {
  const userInfo = `${encodeURIComponent(parts.username)}:${encodeURIComponent(parts.password)}`;
  const host = parts.host.includes(':') && !parts.host.startsWith('[') ? `[${parts.host}]` : parts.host;
  const base = `${parts.engine}://${userInfo}@${host}:${parts.port}/${encodeURIComponent(parts.database)}`;
  if (parts.engine === 'postgres') return `${base}?sslmode=${PG_SSLMODE[parts.tls]}`;
  const sslMode = MYSQL_SSL_MODE[parts.tls];
  return sslMode === undefined ? base : `${base}?ssl-mode=${sslMode}`;
}

/**
 * The Credentials a provisioner returns for one grant: its user on the target's database at `endpoint`, with the
 * secret just set or minted; the fields, the ready-to-use URI, and both expiries.
 */
export function grantCredentials(
  engine: ConnectionUriParts['engine'],
  target: Pick<Target, 'credentialKind' | 'database' | 'tls'>,
  endpoint: { host: string; port: number },
  grant: { dbUser: string; expiresAt: Date },
  secret: { password: string; credentialExpiresAt: Date },
): Credentials {
  const fields = {
    engine,
    host: endpoint.host,
    port: endpoint.port,
    database: target.database,
    username: grant.dbUser,
    password: secret.password,
  };
  return {
    ...fields,
    kind: target.credentialKind,
    uri: connectionUri({ ...fields, tls: target.tls }),
    expiresAt: grant.expiresAt.toISOString(),
    credentialExpiresAt: secret.credentialExpiresAt.toISOString(),
  };
}

/**
 * TLS settings for the admin connection (pg and mysql2 take the same shape). `require` encrypts only;
 * `verify-full` checks the certificate chain and the host name against Node's default store (the bundled
 * Mozilla list plus NODE_EXTRA_CA_CERTS, which the CDK points at Lambda's RDS CA bundle) and the system store.
 */
export function driverTls(mode: TlsMode): false | { rejectUnauthorized: boolean; ca?: string[] } {
  if (mode === 'disable') return false;
  if (mode === 'require') return { rejectUnauthorized: false };
  return {
    rejectUnauthorized: true,
    ca: [...new Set([...tls.getCACertificates('default'), ...tls.getCACertificates('system')])],
  };
}

/** A fresh password: 32 random bytes as base64url (43 URL-safe characters). */
export function randomPassword(): string {
  return randomBytes(32).toString('base64url');
}
