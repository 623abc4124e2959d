import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from './config.js';
import { ApiConstruct } from './constructs/api.js';
import { AuditAnchorConstruct } from './constructs/audit-anchor.js';
import { ExpiryConstruct } from './constructs/expiry.js';
import type { DatabaseNetwork, JitFunction } from './constructs/jit-function.js';
import { encryptLogGroups } from './constructs/log-encryption.js';
import { NotificationsConstruct } from './constructs/notifications.js';
import { WorkflowConstruct } from './constructs/workflow.js';
import { DATABASE_HANDLERS, FUNCTION_NEEDS } from './function-needs.js';
import { targetFacts } from './policy-facts.js';

export interface StatelessStackProps extends StackProps {
  readonly config: DeploymentConfig;
  readonly requestsTable: dynamodb.ITable;
  readonly auditTable: dynamodb.ITable;
  readonly digestsTable: dynamodb.ITable;
}

/** Everything that can be torn down and redeployed freely: functions, API, workflow, schedules, alarms. */
export class StatelessStack extends Stack {
  public readonly notifications: NotificationsConstruct;
  public readonly workflow: WorkflowConstruct;
  public readonly api: ApiConstruct;
  public readonly expiry: ExpiryConstruct;
  public readonly auditAnchor: AuditAnchorConstruct;
  /** The database functions' security group, when they run in a VPC. */
  public readonly databaseClientSecurityGroup: ec2.SecurityGroup | undefined;
  /** The security group of the VPC endpoints, when context `vpcEndpoints` asks for them. */
  public readonly serviceEndpointSecurityGroup: ec2.SecurityGroup | undefined;
  /** The key every log group of the stack is encrypted with (cdk/constructs/log-encryption.ts). */
  public readonly logsKey: kms.Key;
  /** All eleven functions. */
  public readonly functions: JitFunction[];

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config } = props;
    const tables = { requests: props.requestsTable, audit: props.auditTable };
    const facts = targetFacts(config.policy, config.targetResourceIds, config.adminSecretKeyArns);
    const network = config.vpc ? this.databaseNetwork(config, facts.ports) : undefined;
    this.databaseClientSecurityGroup = network?.securityGroups[0] as ec2.SecurityGroup | undefined;
    const endpoints = config.vpc?.endpoints;
    this.serviceEndpointSecurityGroup =
      network && endpoints ? this.serviceEndpoints(network, endpoints.routeTableIds) : undefined;
    const shared = {
      tables,
      policyFile: config.policyFile,
      targets: facts,
      databaseConcurrency: config.databaseConcurrency,
      ...(network ? { network } : {}),
    };
    this.logsKey = encryptLogGroups(this);

    this.notifications = new NotificationsConstruct(this, 'Notifications', {
      senderEmail: config.senderEmail,
    });
    this.workflow = new WorkflowConstruct(this, 'Workflow', { ...shared, notifications: this.notifications });
    this.auditAnchor = new AuditAnchorConstruct(this, 'AuditAnchor', {
      tables,
      digestsTable: props.digestsTable,
      policyFile: config.policyFile,
      targets: facts,
      notifications: this.notifications,
      alarmTopic: this.notifications.alarmTopic,
      digestEvery: Duration.minutes(config.digestEveryMinutes),
    });
    this.api = new ApiConstruct(this, 'Api', {
      ...shared,
      anchoring: this.auditAnchor.anchoring,
      stateMachine: this.workflow.stateMachine,
      revokeFunction: this.workflow.revokeFunction,
      notifications: this.notifications,
      ...(config.linkBaseUrl ? { linkBaseUrl: config.linkBaseUrl } : {}),
      ...(config.wafRateLimit !== undefined ? { wafRateLimit: config.wafRateLimit } : {}),
    });
    this.expiry = new ExpiryConstruct(this, 'Expiry', {
      ...shared,
      stateMachine: this.workflow.stateMachine,
      notifications: this.notifications,
      alarmTopic: this.notifications.alarmTopic,
    });
    // Mail with approval links is sent from these too; the API's URL is only known once it exists.
    for (const fn of [...this.workflow.functions.values(), this.expiry.sweeper]) {
      if (FUNCTION_NEEDS[fn.handlerName].approvalLinks) {
        fn.addEnvironment('PUBLIC_BASE_URL', this.api.publicBaseUrl);
      }
    }
    this.functions = [
      ...this.api.functions.values(),
      ...this.workflow.functions.values(),
      this.expiry.sweeper,
      this.expiry.executionStatusChange,
      this.auditAnchor.digestFunction,
    ];
  }

  /** The targets' VPC, imported without lookups, and a security group the targets admit on their ports. */
  private databaseNetwork(config: DeploymentConfig, ports: number[]): DatabaseNetwork {
    const vpcConfig = config.vpc;
    if (!vpcConfig) throw new Error('no vpc configured');
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'TargetsVpc', {
      vpcId: vpcConfig.vpcId,
      availabilityZones: vpcConfig.availabilityZones ?? this.availabilityZones,
    });
    const subnets = vpcConfig.subnetIds.map((subnetId, i) =>
      ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId),
    );
    const clients = new ec2.SecurityGroup(this, 'DatabaseClients', {
      vpc,
      description: 'jit-db-access functions that connect to target databases',
      allowAllOutbound: true,
    });
    config.targetSecurityGroupIds.forEach((groupId, i) => {
      const target = ec2.SecurityGroup.fromSecurityGroupId(this, `TargetSecurityGroup${i}`, groupId);
      for (const port of ports) {
        target.addIngressRule(clients, ec2.Port.tcp(port), `jit-db-access functions to target port ${port}`);
      }
    });
    return { vpc, subnets, securityGroups: [clients] };
  }

  /**
   * Private routes from the functions' subnets to every AWS API the VPC functions call, for subnets without
   * NAT: DynamoDB through a gateway endpoint on the subnets' route tables, the rest through interface
   * endpoints with private DNS (so the SDK's default endpoints resolve to them), reachable on 443 from the
   * functions' security group only. Which services follows cdk/function-needs.ts.
   */
  private serviceEndpoints(network: DatabaseNetwork, routeTableIds: string[]): ec2.SecurityGroup {
    const { vpc, subnets, securityGroups: clients } = network;
    new ec2.CfnVPCEndpoint(this, 'DynamoDbEndpoint', {
      vpcId: vpc.vpcId,
      serviceName: ec2.GatewayVpcEndpointAwsService.DYNAMODB.name,
      vpcEndpointType: 'Gateway',
      routeTableIds,
    });
    const endpoints = new ec2.SecurityGroup(this, 'ServiceEndpoints', {
      vpc,
      description: 'AWS API endpoints of the jit-db-access database functions',
      allowAllOutbound: false,
    });
    for (const group of clients) {
      endpoints.addIngressRule(group, ec2.Port.tcp(443), 'jit-db-access functions to AWS APIs');
    }
    for (const [id, service] of vpcServices()) {
      new ec2.InterfaceVpcEndpoint(this, `${id}Endpoint`, {
        vpc,
        service,
        subnets: { subnets },
        securityGroups: [endpoints],
        privateDnsEnabled: true,
        open: false,
      });
    }
    return endpoints;
  }
}

/**
 * The interface endpoints the VPC (database) functions need, from what they do: Secrets Manager and RDS for
 * every one (admin credentials, endpoints), SES when one mails, Step Functions when one drives the workflow,
 * X-Ray for their traces.
 */
export function vpcServices(): [string, ec2.InterfaceVpcEndpointAwsService][] {
  const needs = DATABASE_HANDLERS.map((name) => FUNCTION_NEEDS[name]);
  const aws = ec2.InterfaceVpcEndpointAwsService;
  const services: [string, ec2.InterfaceVpcEndpointAwsService][] = [
    ['SecretsManager', aws.SECRETS_MANAGER],
    ['Rds', aws.RDS],
  ];
  if (needs.some((n) => n.mailer)) services.push(['Ses', aws.EMAIL]);
  if (needs.some((n) => n.workflow)) services.push(['StepFunctions', aws.STEP_FUNCTIONS]);
  services.push(['XRay', aws.XRAY]);
  return services;
}
