import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from './config.js';
import { JitDbAccess, type JitDbAccessTableSet } from './jit-db-access.js';

export interface StatelessStackProps extends StackProps {
  readonly config: DeploymentConfig;
  readonly tables: JitDbAccessTableSet;
  /** @default true */
  readonly acknowledgeComplianceFindings?: boolean;
}

/**
 * Everything that can be torn down and redeployed freely: this repository's own stack for `JitDbAccess`,
 * configured from the app's context (cdk/config.ts) exactly as a consumer would configure the construct.
 * The construct's id `Default` keeps every logical id that of the stack.
 */
export class StatelessStack extends Stack {
  public readonly access: JitDbAccess;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config } = props;
    const vpc = config.vpc
      ? ec2.Vpc.fromVpcAttributes(this, 'TargetsVpc', {
          vpcId: config.vpc.vpcId,
          availabilityZones: config.vpc.availabilityZones ?? this.availabilityZones,
        })
      : undefined;
    this.access = new JitDbAccess(this, 'Default', {
      policy: config.policyFile,
      senderEmail: config.senderEmail,
      tables: props.tables,
      ...(config.linkBaseUrl ? { linkBaseUrl: config.linkBaseUrl } : {}),
      ...(vpc && config.vpc
        ? {
            vpc,
            vpcSubnets: config.vpc.subnetIds.map((subnetId, i) =>
              ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId),
            ),
            targetSecurityGroups: config.targetSecurityGroupIds.map((groupId, i) =>
              ec2.SecurityGroup.fromSecurityGroupId(this, `TargetSecurityGroup${i}`, groupId),
            ),
            ...(config.vpc.endpoints
              ? { vpcEndpoints: { routeTableIds: config.vpc.endpoints.routeTableIds } }
              : {}),
          }
        : {}),
      targetResourceIds: config.targetResourceIds,
      adminSecretKeys: config.adminSecretKeyArns.map((arn, i) =>
        kms.Key.fromKeyArn(this, `AdminSecretKey${i}`, arn),
      ),
      digestEvery: Duration.minutes(config.digestEveryMinutes),
      ...(config.wafRateLimit !== undefined ? { wafRateLimit: config.wafRateLimit } : {}),
      databaseConcurrency: config.databaseConcurrency,
      acknowledgeComplianceFindings: props.acknowledgeComplianceFindings ?? true,
    });
  }
}
