import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Target } from '../domain/policy-schema.js';
import type { Provisioners } from '../ports.js';
import { MysqlProvisioner } from './mysql-provisioner.js';
import { PostgresProvisioner, type ProvisionerDeps } from './postgres-provisioner.js';
import { RdsEndpointResolver } from './rds-endpoint.js';
import { SecretsManagerAdminCredentials } from './secrets-admin.js';

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
      const key = JSON.stringify([
        target.engine,
        target.connection,
        target.database,
        target.credentialKind,
        target.tls,
        target.adminSecretArn,
        target.rds,
      ]);
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
  const rdsClients = new Map<string, RDSClient>();
  const defaultRegion = options.region;
  return createProvisioners({
    admin: new SecretsManagerAdminCredentials(
      new SecretsManagerClient(defaultRegion === undefined ? {} : { region: defaultRegion }),
    ),
    endpoints: new RdsEndpointResolver((region) => {
      const key = region ?? defaultRegion ?? '';
      let client = rdsClients.get(key);
      if (client === undefined) {
        const chosen = region ?? defaultRegion;
        client = new RDSClient(chosen === undefined ? {} : { region: chosen });
        rdsClients.set(key, client);
      }
      return client;
    }),
    ...(defaultRegion === undefined ? {} : { region: defaultRegion }),
  });
}
