import { randomBytes } from 'node:crypto';
import { PostgresProvisioner } from '../../functions/adapters/postgres-provisioner.js';
import type { ProvisionerDeps } from '../../functions/adapters/provisioner-common.js';
import { hostPortEndpoints } from '../../functions/adapters/rds-endpoint.js';
import { StaticAdminCredentials } from '../../functions/adapters/secrets-admin.js';
import type { GrantSpec } from '../../functions/application/ports.js';
import { type PolicyInput, Privileges, Target } from '../../functions/domain/policy-schema.js';

/**
 * What the PostgreSQL and MariaDB provisioner suites build alike: request users, one-level targets on the
 * local server, grant specs, and the error code of a refused login or statement.
 */

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/** `jit_` + a fresh 26-character lowercase base32 id, as the domain names request users. */
export function newDbUser(): { requestId: string; dbUser: string } {
  const requestId = [...randomBytes(26)].map((b) => CROCKFORD[b % 32]).join('');
  return { requestId, dbUser: `jit_${requestId}` };
}

export type TargetOverrides = Partial<{ credentialKind: 'iam' | 'password'; port: number; database: string }>;

type TargetInput = PolicyInput['targets'][number];

/**
 * A target's input whose one level `read` may SELECT in `schema`, by password unless `credentialKind` says
 * otherwise; where it is (connection) and its TLS mode are the caller's to add.
 */
export function readTargetInput(
  engine: 'postgres' | 'mysql',
  id: string,
  place: { database: string; schema: string },
  credentialKind: TargetInput['credentialKind'] = 'password',
): Omit<TargetInput, 'connection'> {
  return {
    id,
    engine,
    database: place.database,
    credentialKind,
    levels: {
      read: {
        privileges: { schemas: [{ name: place.schema, privileges: ['SELECT'] }] },
        maxDuration: '1h',
        autoApprove: {},
      },
    },
  };
}

/** A target on 127.0.0.1 (no TLS, password unless overridden) whose one level `read` SELECTs in `schema`. */
export function provisionerTarget(
  engine: 'postgres' | 'mysql',
  id: string,
  defaults: { port: number; database: string; schema: string },
  overrides: TargetOverrides = {},
): Target {
  const place = { database: overrides.database ?? defaults.database, schema: defaults.schema };
  return Target.parse({
    ...readTargetInput(engine, id, place, overrides.credentialKind),
    connection: { host: '127.0.0.1', port: overrides.port ?? defaults.port, region: 'eu-west-1' },
    tls: 'disable',
  });
}

/** AWS's documented example key pair: signs IAM tokens locally without reaching for real credentials. */
export const FAKE_AWS_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/**
 * The provisioners a suite builds, all closed by `closeAll` in its afterAll. `create` gives one static admin
 * credentials at `adminUrl`, host/port endpoints and a 3 s connect timeout, then `defaults` and `extra`.
 */
export function provisionerPool<P extends { close(): Promise<void> }>(
  make: (t: Target, deps: ProvisionerDeps) => P,
  defaults: Partial<ProvisionerDeps> = {},
) {
  const made: P[] = [];
  /** Keeps a provisioner, built here or some other way, for closeAll. */
  const track = (created: P): P => {
    made.push(created);
    return created;
  };
  return {
    track,
    create(t: Target, adminUrl: string, extra: Partial<ProvisionerDeps> = {}): P {
      const deps = { admin: new StaticAdminCredentials(adminUrl), endpoints: hostPortEndpoints };
      return track(make(t, { ...deps, connectTimeoutMs: 3_000, ...defaults, ...extra }));
    },
    async closeAll(): Promise<void> {
      await Promise.allSettled(made.map((p) => p.close()));
    },
  };
}

/** A suite's PostgreSQL provisioners: they sign IAM tokens with FAKE_AWS_CREDENTIALS where a target asks. */
export function postgresProvisionerPool() {
  return provisionerPool((t, deps) => new PostgresProvisioner(t, deps), {
    awsCredentials: FAKE_AWS_CREDENTIALS,
  });
}

/** A grant of `privileges` on `t` for a fresh user, ending in `expiresInSeconds`, at most 3 connections. */
export function grantSpec(t: Target, privileges: unknown, expiresInSeconds = 3600): GrantSpec {
  return {
    ...newDbUser(),
    target: t,
    privileges: Privileges.parse(privileges),
    expiresAt: new Date(Date.now() + expiresInSeconds * 1000),
    connectionLimit: 3,
  };
}

/**
 * A fresh target from `target`, a provisioner on it from `provisioner`, and the spec of a grant of
 * `privileges` it has made: what a provisioner suite's tests start from.
 */
export async function grantedWith<P extends { grant(spec: GrantSpec): Promise<unknown> }>(
  target: () => Target,
  provisioner: (t: Target) => P,
  privileges: unknown,
): Promise<{ t: Target; p: P; s: GrantSpec }> {
  const t = target();
  const p = provisioner(t);
  const s = grantSpec(t, privileges);
  await p.grant(s);
  return { t, p, s };
}

/** The driver's error code when `action` is refused; undefined when it succeeds. */
export async function errorCode(action: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await action();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/** Polls `check` every 50 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('condition not met in time');
}
