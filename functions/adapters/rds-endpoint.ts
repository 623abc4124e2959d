import { DescribeDBClustersCommand, DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import { TargetUnavailableError } from '../domain/errors.js';
import type { Target } from '../domain/policy-schema.js';

/** Where a target listens, and the resource id its IAM `rds-db:connect` policy is scoped to. */
export interface Endpoint {
  host: string;
  port: number;
  resourceId?: string;
}

export interface EndpointResolver {
  resolve(target: Target): Promise<Endpoint>;
}

const DEFAULT_TTL_MS = 10 * 60_000;

/**
 * Resolves RDS instance and cluster targets with the RDS API (DescribeDBInstances / DescribeDBClusters),
 * cached because endpoints change only on rename or replacement; host/port targets are used as given.
 */
export class RdsEndpointResolver implements EndpointResolver {
  private readonly cache = new Map<string, { endpoint: Endpoint; at: number }>();

  constructor(
    private readonly clientFor: (region: string | undefined) => RDSClient,
    private readonly options: { ttlMs?: number; now?: () => number } = {},
  ) {}

  async resolve(target: Target): Promise<Endpoint> {
    const connection = target.connection;
    if ('host' in connection) {
      return {
        host: connection.host,
        port: connection.port,
        ...(connection.resourceId === undefined ? {} : { resourceId: connection.resourceId }),
      };
    }
    const key =
      'rdsInstanceId' in connection
        ? `instance:${connection.rdsInstanceId}`
        : `cluster:${connection.rdsClusterId}`;
    const cacheKey = `${connection.region ?? ''}/${key}`;
    const now = this.options.now?.() ?? Date.now();
    const cached = this.cache.get(cacheKey);
    if (cached && now - cached.at < (this.options.ttlMs ?? DEFAULT_TTL_MS)) return cached.endpoint;

    const client = this.clientFor(connection.region);
    let endpoint: Endpoint | undefined;
    try {
      if ('rdsInstanceId' in connection) {
        const output = await client.send(
          new DescribeDBInstancesCommand({ DBInstanceIdentifier: connection.rdsInstanceId }),
        );
        const instance = output.DBInstances?.[0];
        const address = instance?.Endpoint?.Address;
        const port = instance?.Endpoint?.Port;
        if (address && port) {
          endpoint = {
            host: address,
            port,
            ...(instance?.DbiResourceId ? { resourceId: instance.DbiResourceId } : {}),
          };
        }
      } else {
        const output = await client.send(
          new DescribeDBClustersCommand({ DBClusterIdentifier: connection.rdsClusterId }),
        );
        const cluster = output.DBClusters?.[0];
        if (cluster?.Endpoint && cluster.Port) {
          endpoint = {
            host: cluster.Endpoint,
            port: cluster.Port,
            ...(cluster.DbClusterResourceId ? { resourceId: cluster.DbClusterResourceId } : {}),
          };
        }
      }
    } catch (error) {
      throw new TargetUnavailableError(target.id, error);
    }
    if (endpoint === undefined) {
      // Creating or modifying instances have no endpoint yet: a later retry may succeed.
      throw new TargetUnavailableError(target.id, new Error(`${key} has no endpoint yet`));
    }
    this.cache.set(cacheKey, { endpoint, at: now });
    return endpoint;
  }
}

/** For local runs and tests: every target must be host/port. */
export const hostPortEndpoints: EndpointResolver = {
  async resolve(target) {
    const connection = target.connection;
    if (!('host' in connection)) {
      throw new TargetUnavailableError(
        target.id,
        new Error('only host/port targets can be reached without the RDS API'),
      );
    }
    return {
      host: connection.host,
      port: connection.port,
      ...(connection.resourceId === undefined ? {} : { resourceId: connection.resourceId }),
    };
  },
};
