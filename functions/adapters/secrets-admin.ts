import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { TargetUnavailableError } from '../domain/errors.js';
import type { Target } from '../domain/policy-schema.js';

/** The admin login a provisioner uses on a target (RDS master or a dedicated CREATEROLE user). A secret. */
export interface AdminCredentials {
  username: string;
  password: string;
  /** Present in RDS-managed secrets; the provisioner still prefers the target's own connection. */
  host?: string;
  port?: number;
  /** Database to connect to, when the source names one (a URL path, a secret's dbname). */
  database?: string;
}

/** Where a provisioner gets a target's admin credentials; injected, never read from env inside an adapter. */
export interface AdminCredentialsSource {
  /** `refresh: true` skips any cache: the cached password was refused (the secret rotated). */
  get(target: Target, options?: { refresh?: boolean }): Promise<AdminCredentials>;
}

const DEFAULT_TTL_MS = 5 * 60_000;

/**
 * Reads `target.adminSecretArn` from Secrets Manager (RDS-managed secret JSON `{username, password, host?,
 * port?, engine?, dbname?}`), cached for a few minutes so a burst of grants costs one call.
 */
export class SecretsManagerAdminCredentials implements AdminCredentialsSource {
  private readonly cache = new Map<string, { credentials: AdminCredentials; fetchedAt: number }>();

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly options: { ttlMs?: number; now?: () => number } = {},
  ) {}

  async get(target: Target, options: { refresh?: boolean } = {}): Promise<AdminCredentials> {
    const secretId = target.adminSecretArn;
    if (secretId === undefined) {
      throw new TargetUnavailableError(target.id, new Error('the target has no adminSecretArn'));
    }
    const now = this.options.now?.() ?? Date.now();
    const cached = this.cache.get(secretId);
    if (!options.refresh && cached && now - cached.fetchedAt < (this.options.ttlMs ?? DEFAULT_TTL_MS)) {
      return cached.credentials;
    }
    let secretString: string | undefined;
    try {
      const output = await this.client.send(new GetSecretValueCommand({ SecretId: secretId }));
      secretString = output.SecretString;
    } catch (error) {
      this.cache.delete(secretId);
      throw new TargetUnavailableError(
        target.id,
        new Error(`cannot read the admin secret: ${errorName(error)}`),
      );
    }
    const credentials = parseAdminSecret(secretString);
    if (credentials === undefined) {
      throw new TargetUnavailableError(
        target.id,
        new Error('the admin secret is not JSON with string username and password'),
      );
    }
    this.cache.set(secretId, { credentials, fetchedAt: now });
    return credentials;
  }
}

/** Admin credentials from a URL (`postgres://admin:pw@host:port/db`), for local runs and tests. */
export class StaticAdminCredentials implements AdminCredentialsSource {
  private readonly credentials: AdminCredentials;

  constructor(url: string) {
    const parsed = new URL(url);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    this.credentials = {
      username: decodeURIComponent(parsed.username),
      password: decodeURIComponent(parsed.password),
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      ...(parsed.port === '' ? {} : { port: Number(parsed.port) }),
      ...(database === '' ? {} : { database }),
    };
  }

  async get(): Promise<AdminCredentials> {
    return this.credentials;
  }
}

/** Parses an RDS-style secret; undefined when it is not usable. Never includes the secret in an error. */
export function parseAdminSecret(secretString: string | undefined): AdminCredentials | undefined {
  if (secretString === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const { username, password, host, port, dbname } = record;
  if (typeof username !== 'string' || typeof password !== 'string' || username === '') return undefined;
  const numericPort = typeof port === 'number' ? port : typeof port === 'string' ? Number(port) : Number.NaN;
  return {
    username,
    password,
    ...(typeof host === 'string' && host !== '' ? { host } : {}),
    ...(Number.isInteger(numericPort) && numericPort > 0 ? { port: numericPort } : {}),
    ...(typeof dbname === 'string' && dbname !== '' ? { database: dbname } : {}),
  };
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'UnknownError';
}
