import type {
  CredentialProvisioner,
  Credentials,
  GrantSpec,
  OnceSession,
  ProvisionerHealth,
  Provisioners,
  RevokeReport,
} from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import { lazyOnce } from './lazy-once.js';
import type { MysqlProvisioner } from './mysql-provisioner.js';
import type { PostgresProvisioner } from './postgres-provisioner.js';
import type { ProvisionerDeps } from './provisioner-common.js';

/**
 * Provisioners whose engine modules (and database drivers) are imported on first use, not at cold start: a
 * Lambda pays for pg or mysql2 only when a request actually reaches a target of that engine.
 */

type Engine = PostgresProvisioner | MysqlProvisioner;

/**
 * One provisioner (and so one admin pool) per target, kept across invocations of a warm Lambda. A target
 * whose connection settings change (policy reload) gets a fresh one, and the old one is closed.
 */
export function perTarget<P extends CredentialProvisioner & { close(): Promise<void> }>(
  make: (target: Target) => P,
): { for(target: Target): P; close(): Promise<void> } {
  const cache = new Map<string, { key: string; provisioner: P }>();
  return {
    for(target: Target): P {
      const key = targetConnectionKey(target);
      const cached = cache.get(target.id);
      if (cached && cached.key === key) return cached.provisioner;
      if (cached) void cached.provisioner.close();
      const provisioner = make(target);
      cache.set(target.id, { key, provisioner });
      return provisioner;
    },
    async close() {
      const all = [...cache.values()];
      cache.clear();
      await Promise.allSettled(all.map(({ provisioner }) => provisioner.close()));
    },
  };
}

/** What identifies a target's connection: a provisioner is rebuilt when any of it changes (policy reload). */
export function targetConnectionKey(target: Target): string {
  return JSON.stringify([
    target.engine,
    target.connection,
    target.database,
    target.credentialKind,
    target.tls,
    target.adminSecretArn,
    target.rds,
  ]);
}

async function loadEngine(target: Target, deps: ProvisionerDeps): Promise<Engine> {
  if (target.engine === 'postgres') {
    const { PostgresProvisioner } = await import('./postgres-provisioner.js');
    return new PostgresProvisioner(target, deps);
  }
  const { MysqlProvisioner } = await import('./mysql-provisioner.js');
  return new MysqlProvisioner(target, deps);
}

/** One target's provisioner, built on its first call. */
class LazyProvisioner implements CredentialProvisioner {
  private engine: Promise<Engine> | undefined;

  constructor(
    private readonly target: Target,
    private readonly deps: () => Promise<ProvisionerDeps>,
  ) {}

  private load(): Promise<Engine> {
    this.engine ??= this.deps()
      .then((deps) => loadEngine(this.target, deps))
      .catch((error: unknown) => {
        this.engine = undefined; // a failed load is retried by the next call
        throw error;
      });
    return this.engine;
  }

  async grant(spec: GrantSpec): Promise<{ host: string; port: number; database: string }> {
    return (await this.load()).grant(spec);
  }

  async credentials(spec: GrantSpec): Promise<Credentials> {
    return (await this.load()).credentials(spec);
  }

  async extend(spec: GrantSpec, expiresAt: Date): Promise<void> {
    return (await this.load()).extend(spec, expiresAt);
  }

  async revoke(spec: Pick<GrantSpec, 'requestId' | 'dbUser' | 'target'>): Promise<RevokeReport> {
    return (await this.load()).revoke(spec);
  }

  async listManagedUsers(): Promise<string[]> {
    return (await this.load()).listManagedUsers();
  }

  async check(): Promise<ProvisionerHealth> {
    return (await this.load()).check();
  }

  async onceSession(spec: Pick<GrantSpec, 'dbUser'>): Promise<OnceSession> {
    return (await this.load()).onceSession(spec);
  }

  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    if (engine) await (await engine).close();
  }
}

export interface LazyProvisionerFactory extends Provisioners {
  for(target: Target): CredentialProvisioner;
  /** Closes every admin pool that was opened. */
  close(): Promise<void>;
}

/**
 * One lazily built provisioner per target, kept across invocations of a warm Lambda; `deps` is called once,
 * on the first database call, so its SDK clients load only then too.
 */
export function lazyProvisioners(deps: () => Promise<ProvisionerDeps>): LazyProvisionerFactory {
  const once = lazyOnce(deps);
  return perTarget((target) => new LazyProvisioner(target, once));
}
