import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { hostPortEndpoints, RdsEndpointResolver } from '../../functions/adapters/rds-endpoint.js';
import { TargetUnavailableError } from '../../functions/domain/errors.js';
import type { PolicyInput, Target } from '../../functions/domain/policy-schema.js';
import { expectCachedFor, ManualClock, rdsTarget } from './support/rds-fixtures.js';

const rds = mockClient(RDSClient);
const clock = new ManualClock();
const regions: (string | undefined)[] = [];
const resolver = () =>
  new RdsEndpointResolver((region) => {
    regions.push(region);
    return new RDSClient({ region: region ?? 'eu-west-1' });
  }, clock);

function target(connection: PolicyInput['targets'][number]['connection']): Target {
  return rdsTarget({ connection });
}

beforeEach(() => {
  rds.reset();
  clock.ms = 0;
  regions.length = 0;
});

describe('RdsEndpointResolver', () => {
  it('resolves an instance with DescribeDBInstances to its endpoint, port and DbiResourceId', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          Endpoint: { Address: 'orders.abc.eu-west-1.rds.amazonaws.com', Port: 5432 },
          DbiResourceId: 'db-ABCDEFGHIJKL',
        },
      ],
    });
    expect(await resolver().resolve(target({ rdsInstanceId: 'orders-db', region: 'eu-central-1' }))).toEqual({
      host: 'orders.abc.eu-west-1.rds.amazonaws.com',
      port: 5432,
      resourceId: 'db-ABCDEFGHIJKL',
    });
    expect(rds.commandCalls(DescribeDBInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { DBInstanceIdentifier: 'orders-db' },
    ]);
    expect(regions).toEqual(['eu-central-1']);
  });

  it('resolves a cluster with DescribeDBClusters to its writer endpoint, port and DbClusterResourceId', async () => {
    rds.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        { Endpoint: 'orders.cluster-abc.rds.amazonaws.com', Port: 3306, DbClusterResourceId: 'cluster-XYZ' },
      ],
    });
    expect(await resolver().resolve(target({ rdsClusterId: 'orders-cluster' }))).toEqual({
      host: 'orders.cluster-abc.rds.amazonaws.com',
      port: 3306,
      resourceId: 'cluster-XYZ',
    });
    expect(rds.commandCalls(DescribeDBClustersCommand).map((c) => c.args[0].input)).toEqual([
      { DBClusterIdentifier: 'orders-cluster' },
    ]);
  });

  it('caches a resolved endpoint for ten minutes', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [{ Endpoint: { Address: 'h', Port: 5432 }, DbiResourceId: 'db-1' }],
    });
    const endpoints = resolver();
    const t = target({ rdsInstanceId: 'orders-db' });
    await expectCachedFor(
      clock,
      600_000,
      () => endpoints.resolve(t),
      () => rds.commandCalls(DescribeDBInstancesCommand).length,
    );
  });

  it('uses host/port targets as given, without calling the RDS API', async () => {
    const t = target({ host: 'localhost', port: 6543, resourceId: 'db-LOCAL' });
    expect(await resolver().resolve(t)).toEqual({ host: 'localhost', port: 6543, resourceId: 'db-LOCAL' });
    expect(await hostPortEndpoints.resolve(t)).toEqual({
      host: 'localhost',
      port: 6543,
      resourceId: 'db-LOCAL',
    });
    expect(rds.calls()).toHaveLength(0);
  });

  it('maps a missing instance to TargetUnavailableError and does not cache the failure', async () => {
    const notFound = Object.assign(new Error('DBInstance orders-db not found.'), {
      name: 'DBInstanceNotFoundFault',
    });
    rds
      .on(DescribeDBInstancesCommand)
      .rejectsOnce(notFound)
      .resolves({
        DBInstances: [{ Endpoint: { Address: 'h', Port: 5432 } }],
      });
    const endpoints = resolver();
    const t = target({ rdsInstanceId: 'orders-db' });
    await expect(endpoints.resolve(t)).rejects.toBeInstanceOf(TargetUnavailableError);
    expect(await endpoints.resolve(t)).toEqual({ host: 'h', port: 5432 });
  });

  it('treats an instance without an endpoint yet (still creating) as unavailable', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'creating' }] });
    await expect(resolver().resolve(target({ rdsInstanceId: 'orders-db' }))).rejects.toMatchObject({
      code: 'TARGET_UNAVAILABLE',
    });
  });

  it('refuses RDS targets in the host/port-only resolver', async () => {
    await expect(hostPortEndpoints.resolve(target({ rdsClusterId: 'c' }))).rejects.toBeInstanceOf(
      TargetUnavailableError,
    );
  });
});
