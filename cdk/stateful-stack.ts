import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as backup from 'aws-cdk-lib/aws-backup';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { JitDbAccessTables, type JitDbAccessTablesProps } from './jit-db-access.js';

export interface StatefulStackProps extends StackProps, JitDbAccessTablesProps {}

/**
 * The data that must outlive any redeploy: this repository's own stack for `JitDbAccessTables`, exactly as a
 * consumer would hold it (the construct's id `Default` keeps the tables' logical ids those of the stack).
 */
export class StatefulStack extends Stack {
  public readonly tables: JitDbAccessTables;
  public readonly requestsTable: dynamodb.Table;
  public readonly auditTable: dynamodb.Table;
  /** Written by the audit-digest function only (cdk/constructs/audit-anchor.ts). */
  public readonly digestsTable: dynamodb.Table;
  /** The backup plan, when `backupRetentionDays` asks for one. */
  public readonly backupPlan: backup.BackupPlan | undefined;

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, props);
    this.tables = new JitDbAccessTables(this, 'Default', {
      ...(props.backupRetentionDays !== undefined ? { backupRetentionDays: props.backupRetentionDays } : {}),
      ...(props.acknowledgeComplianceFindings !== undefined
        ? { acknowledgeComplianceFindings: props.acknowledgeComplianceFindings }
        : {}),
    });
    this.requestsTable = this.tables.requests;
    this.auditTable = this.tables.audit;
    this.digestsTable = this.tables.digests;
    this.backupPlan = this.tables.backupPlan;
  }
}
