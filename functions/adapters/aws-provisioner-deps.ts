import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ProvisionerDeps } from './provisioner-common.js';
import { RdsEndpointResolver } from './rds-endpoint.js';
import { SecretsManagerAdminCredentials } from './secrets-admin.js';

/** The AWS side of a provisioner: admin credentials from Secrets Manager, endpoints from the RDS API, in `region`. */
export function awsProvisionerDeps(options: { region?: string } = {}): ProvisionerDeps {
  const rdsClients = new Map<string, RDSClient>();
  const defaultRegion = options.region;
  return {
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
  };
}
