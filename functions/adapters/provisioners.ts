import type { Provisioners } from '../application/ports.js';
import type { Target } from '../domain/policy-schema.js';
import { awsProvisionerDeps } from './aws-provisioner-deps.js';
import { perTarget } from './lazy-provisioners.js';
import { MysqlProvisioner } from './mysql-provisioner.js';
import { PostgresProvisioner } from './postgres-provisioner.js';
import type { ProvisionerDeps } from './provisioner-common.js';

export { type LazyProvisionerFactory, lazyProvisioners } from './lazy-provisioners.js';
export type { ProvisionerDeps, RevokePlan, RevokeStep } from './provisioner-common.js';

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

/** Eager engines (local runs, tests): one provisioner per target, see perTarget. */
export function createProvisioners(deps: ProvisionerDeps): ProvisionerFactory {
  return perTarget((target) => provisionerFor(target, deps));
}

/** The AWS wiring: admin credentials from Secrets Manager, endpoints from the RDS API, in `region`. */
export function awsProvisioners(options: { region?: string } = {}): ProvisionerFactory {
  return createProvisioners(awsProvisionerDeps(options));
}
