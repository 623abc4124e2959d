import type { Target } from '../domain/policy-schema.js';
import type { Provisioners } from '../ports.js';
import { awsProvisionerDeps } from './aws-provisioner-deps.js';
import { targetConnectionKey } from './lazy-provisioners.js';
import { MysqlProvisioner } from './mysql-provisioner.js';
import { PostgresProvisioner, type ProvisionerDeps } from './postgres-provisioner.js';

export { type LazyProvisionerFactory, lazyProvisioners } from './lazy-provisioners.js';
export type { ProvisionerDeps, RevokePlan, RevokeStep } from './postgres-provisioner.js';

/** A provisioner of either engine, with the ordered revoke steps and pool shutdown exposed. */
export type EngineProvisioner = PostgresProvisioner | MysqlProvisioner;

export interface ProvisionerFactory extends Provisioners {
  for(target: Target): EngineProvisioner;
  /** Closes every admin pool (tests, local shutdown). */
  close(): Promise<void>;
}

export function provisionerFor(target: Target, deps: ProvisionerDeps): EngineProvisioner {
  return target.engine === 'postgres'
    ? new PostgresProvisioner(target, deps)
    : new MysqlProvisioner(target, deps);
}

/**
 * One provisioner (and so one admin pool) per target, kept across invocations of a warm Lambda. A target
 * whose connection settings change (policy reload) gets a fresh provisioner.
 */
export function createProvisioners(deps: ProvisionerDeps): ProvisionerFactory {
  const cache = new Map<string, { key: string; provisioner: EngineProvisioner }>();
  return {
    for(target: Target): EngineProvisioner {
      const key = targetConnectionKey(target);
      const cached = cache.get(target.id);
      if (cached && cached.key === key) return cached.provisioner;
      if (cached) void cached.provisioner.close();
      const provisioner = provisionerFor(target, deps);
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

/** The AWS wiring: admin credentials from Secrets Manager, endpoints from the RDS API, in `region`. */
export function awsProvisioners(options: { region?: string } = {}): ProvisionerFactory {
  return createProvisioners(awsProvisionerDeps(options));
}
