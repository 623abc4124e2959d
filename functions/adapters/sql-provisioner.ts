import type {
  CredentialProvisioner,
  Credentials,
  GrantSpec,
  OnceSession,
  ProvisionerHealth,
  RevokeReport,
} from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import { grantCredentials } from './connection-uri.js';
import {
  assertGrantCurrent,
  type ProvisionerDeps,
  type RevokePlan,
  runRevokePlan,
} from './provisioner-common.js';
import type { Endpoint } from './rds-endpoint.js';
import { mintGrantIamToken } from './rds-iam-token.js';

/**
 * What the PostgreSQL and MySQL provisioners do alike, whatever the engine: credentials for a current grant
 * (a fresh IAM token for an `iam` target, else a password the engine rotates), and a revoke that runs the
 * engine's plan whole. Each engine supplies the rest.
 */
export abstract class SqlProvisioner implements CredentialProvisioner {
  protected abstract readonly engine: 'postgres' | 'mysql';

  constructor(
    readonly target: Target,
    protected readonly deps: ProvisionerDeps,
  ) {}

  abstract grant(spec: GrantSpec): Promise<{ host: string; port: number; database: string }>;
  abstract extend(spec: GrantSpec, expiresAt: Date): Promise<void>;
  abstract onceSession(spec: Pick<GrantSpec, 'dbUser'>): Promise<OnceSession>;
  abstract check(): Promise<ProvisionerHealth>;
  abstract listManagedUsers(): Promise<string[]>;
  /** Ends every admin connection; the provisioner reconnects on next use. */
  abstract close(): Promise<void>;
  /** The revoke as ordered, individually re-runnable steps. */
  abstract revokePlan(spec: Pick<GrantSpec, 'dbUser'>): RevokePlan;
  /** Sets a fresh password on the grant's user, good until the grant ends (missingUserError if the user is gone). */
  protected abstract rotatePassword(
    spec: GrantSpec,
  ): Promise<{ endpoint: Endpoint; password: string; credentialExpiresAt: Date }>;

  async credentials(spec: GrantSpec): Promise<Credentials> {
    const now = this.now();
    assertGrantCurrent(spec, now);
    if (this.target.credentialKind === 'iam') {
      const endpoint = await this.deps.endpoints.resolve(this.target);
      const token = await mintGrantIamToken(
        this.target,
        endpoint,
        { username: spec.dbUser, expiresAt: spec.expiresAt },
        this.deps,
        now,
      );
      return grantCredentials(this.engine, this.target, endpoint, spec, token);
    }
    const { endpoint, ...secret } = await this.rotatePassword(spec);
    return grantCredentials(this.engine, this.target, endpoint, spec, secret);
  }

  async revoke(spec: Pick<GrantSpec, 'requestId' | 'dbUser' | 'target'>): Promise<RevokeReport> {
    return runRevokePlan(this.revokePlan(spec));
  }

  protected now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}
