import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import {
  AUDIT_TABLE,
  DIGESTS_TABLE,
  type KeySpec,
  REQUESTS_TABLE,
  type TableSpec,
} from '../functions/adapters/dynamodb-tables.js';

/** The data that must outlive any redeploy: requests, the append-only audit log and its signed digests. */
export class StatefulStack extends Stack {
  public readonly requestsTable: dynamodb.Table;
  public readonly auditTable: dynamodb.Table;
  /** Written by the audit-digest function only (cdk/constructs/audit-anchor.ts). */
  public readonly digestsTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    this.requestsTable = tableFromSpec(this, 'RequestsTable', REQUESTS_TABLE);
    this.auditTable = tableFromSpec(this, 'AuditTable', AUDIT_TABLE);
    this.digestsTable = tableFromSpec(this, 'DigestsTable', DIGESTS_TABLE);
  }
}

function attribute(key: KeySpec): dynamodb.Attribute {
  return {
    name: key.name,
    type: key.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
  };
}

/** On-demand, encrypted, point-in-time recoverable, protected from deletion and retained with the stack gone. */
function tableFromSpec(scope: Construct, id: string, spec: TableSpec): dynamodb.Table {
  const table = new dynamodb.Table(scope, id, {
    partitionKey: attribute(spec.partitionKey),
    ...(spec.sortKey ? { sortKey: attribute(spec.sortKey) } : {}),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
    ...(spec.timeToLiveAttribute ? { timeToLiveAttribute: spec.timeToLiveAttribute } : {}),
  });
  for (const index of spec.globalSecondaryIndexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: attribute(index.partitionKey),
      sortKey: attribute(index.sortKey),
      projectionType:
        index.projection === 'KEYS_ONLY' ? dynamodb.ProjectionType.KEYS_ONLY : dynamodb.ProjectionType.ALL,
    });
  }
  return table;
}
