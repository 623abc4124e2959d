import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import {
  AUDIT_TABLE,
  DIGESTS_TABLE,
  type KeySpec,
  REQUESTS_TABLE,
  type TableSpec,
} from '../functions/adapters/dynamodb-tables.js';

export interface StatefulStackProps extends StackProps {
  /**
   * Daily AWS Backup recovery points of every table, kept this many days (context `backupRetentionDays`).
   * @default - no backup plan (point-in-time recovery only)
   */
  readonly backupRetentionDays?: number;
}

/** The data that must outlive any redeploy: requests, the append-only audit log and its signed digests. */
export class StatefulStack extends Stack {
  public readonly requestsTable: dynamodb.Table;
  public readonly auditTable: dynamodb.Table;
  /** Written by the audit-digest function only (cdk/constructs/audit-anchor.ts). */
  public readonly digestsTable: dynamodb.Table;
  /** The backup plan, when `backupRetentionDays` asks for one. */
  public readonly backupPlan: backup.BackupPlan | undefined;

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, props);
    this.requestsTable = tableFromSpec(this, 'RequestsTable', REQUESTS_TABLE);
    this.auditTable = tableFromSpec(this, 'AuditTable', AUDIT_TABLE);
    this.digestsTable = tableFromSpec(this, 'DigestsTable', DIGESTS_TABLE);
    this.backupPlan =
      props.backupRetentionDays === undefined ? undefined : backupPlan(this, props.backupRetentionDays);
  }
}

/**
 * Every table of the stack (found in the tree, so a table added later is covered too) in a daily plan whose
 * recovery points sit in their own vault, retained with the stack gone like the tables themselves.
 */
function backupPlan(stack: Stack, retentionDays: number): backup.BackupPlan {
  const vault = new backup.BackupVault(stack, 'BackupVault', { removalPolicy: RemovalPolicy.RETAIN });
  const plan = new backup.BackupPlan(stack, 'BackupPlan', {
    backupVault: vault,
    backupPlanRules: [
      new backup.BackupPlanRule({
        ruleName: 'daily',
        scheduleExpression: backup.BackupPlanRule.daily().props.scheduleExpression,
        deleteAfter: Duration.days(retentionDays),
      }),
    ],
  });
  const tables = stack.node.findAll().filter((c): c is dynamodb.Table => c instanceof dynamodb.Table);
  plan.addSelection('Tables', {
    resources: tables.map((table) => backup.BackupResource.fromDynamoDbTable(table)),
  });
  return plan;
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
