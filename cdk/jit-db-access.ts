import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  AUDIT_TABLE,
  DIGESTS_TABLE,
  type KeySpec,
  REQUESTS_TABLE,
  type TableSpec,
} from '../functions/adapters/dynamodb-tables.js';
import type { Policy, PolicyInput } from '../functions/domain/policy-schema.js';
import { loadPolicyFile, PolicyFileError, validatePolicyData } from '../functions/shared/config.js';
import { acknowledgeFindings } from './acknowledgements.js';
import { ApiConstruct } from './constructs/api.js';
import { AuditAnchorConstruct } from './constructs/audit-anchor.js';
import { ExpiryConstruct } from './constructs/expiry.js';
import type { DatabaseNetwork, JitFunction } from './constructs/jit-function.js';
import { encryptLogGroups } from './constructs/log-encryption.js';
import { NotificationsConstruct } from './constructs/notifications.js';
import { WorkflowConstruct } from './constructs/workflow.js';
import { DATABASE_HANDLERS, FUNCTION_NEEDS } from './function-needs.js';
import { targetFacts } from './policy-facts.js';

/** The three tables jit-db-access keeps its state in. */
export interface JitDbAccessTableSet {
  /** Requests, their state and (TTL'd) statement results. */
  readonly requests: dynamodb.ITable;
  /** The append-only, hash-chained audit log. */
  readonly audit: dynamodb.ITable;
  /** Signed digests of the audit chains' heads; written by the audit-digest function only. */
  readonly digests: dynamodb.ITable;
}

/** Whether a construct applies jit-db-access's reviewed cdk-nag acknowledgements to its own resources. */
export interface ComplianceProps {
  /**
   * Acknowledge, on this construct's resources only and each with its written reason, the cdk-nag findings
   * jit-db-access leaves as they are by design (cdk/acknowledgements.ts), so your own run of the AwsSolutions,
   * Serverless, NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 packs reports only what you did.
   * @default true
   */
  readonly acknowledgeComplianceFindings?: boolean;
}

export interface JitDbAccessTablesProps extends ComplianceProps {
  /**
   * Daily AWS Backup recovery points of the three tables, kept this many days, in a vault of their own.
   * @default - no backup plan (each table still has point-in-time recovery, 35 days)
   */
  readonly backupRetentionDays?: number;
}

/**
 * The state of jit-db-access: the requests, audit and digests tables (on-demand, encrypted, point-in-time
 * recoverable, deletion-protected, retained when the stack goes). Put it in a stack of its own with
 * termination protection and pass it to `JitDbAccess` as `tables`, so the stateless part can be torn down
 * and redeployed freely; or let `JitDbAccess` create one for you.
 */
export class JitDbAccessTables extends Construct implements JitDbAccessTableSet {
  public readonly requests: dynamodb.Table;
  public readonly audit: dynamodb.Table;
  public readonly digests: dynamodb.Table;
  /** The backup plan, when `backupRetentionDays` asks for one. */
  public readonly backupPlan: backup.BackupPlan | undefined;

  constructor(scope: Construct, id: string, props: JitDbAccessTablesProps = {}) {
    super(scope, id);
    this.requests = tableFromSpec(this, 'RequestsTable', REQUESTS_TABLE);
    this.audit = tableFromSpec(this, 'AuditTable', AUDIT_TABLE);
    this.digests = tableFromSpec(this, 'DigestsTable', DIGESTS_TABLE);
    this.backupPlan =
      props.backupRetentionDays === undefined
        ? undefined
        : backupPlan(this, [this.requests, this.audit, this.digests], props.backupRetentionDays);
    if (props.acknowledgeComplianceFindings ?? true) acknowledgeFindings(this);
  }
}

export interface JitDbAccessProps extends ComplianceProps {
  /**
   * The access policy: a path to its YAML or JSON file (relative paths from the current directory), or the
   * policy itself as an object. Validated at synth with the same messages `jitdb policy check` prints.
   */
  readonly policy: string | PolicyInput;
  /** The address approval emails come from; SES sends a verification mail to it on deploy. */
  readonly senderEmail: string;
  /**
   * Where the state lives. Pass a `JitDbAccessTables` from a stack with termination protection.
   * @default - a `JitDbAccessTables` named `Tables` inside this construct
   */
  readonly tables?: JitDbAccessTableSet;
  /**
   * Base of the approval links when a custom domain fronts the API (https://…).
   * @default - the API's execute-api URL
   */
  readonly linkBaseUrl?: string;
  /**
   * The targets' VPC. When given, the functions that open database connections run in `vpcSubnets` of it
   * with a security group of their own (`functionsSecurityGroup`); the functions that face callers never do.
   * @default - no VPC (targets reachable from Lambda's network)
   */
  readonly vpc?: ec2.IVpc;
  /** The private subnets the database functions run in. Required with `vpc`. */
  readonly vpcSubnets?: ec2.ISubnet[];
  /**
   * The targets' security groups: each is opened to the functions' security group on the targets' ports.
   * @default - none opened (open them yourself from `functionsSecurityGroup`)
   */
  readonly targetSecurityGroups?: ec2.ISecurityGroup[];
  /**
   * Private routes to the AWS APIs the database functions call, for subnets without NAT: a DynamoDB gateway
   * endpoint on these route tables and interface endpoints (private DNS) for the rest.
   * @default - none (the subnets reach AWS APIs through NAT)
   */
  readonly vpcEndpoints?: { readonly routeTableIds: string[] };
  /**
   * Target id → DbiResourceId (db-…) or DbClusterResourceId (cluster-…), pinning `rds-db:connect` of IAM-auth
   * targets to exactly that database.
   * @default - IAM-auth targets get `rds-db:connect` on any database of the account and region
   */
  readonly targetResourceIds?: Record<string, string>;
  /**
   * Customer-managed keys the admin secrets are encrypted with; the database functions may decrypt with them
   * through Secrets Manager only.
   * @default - none (secrets under the default aws/secretsmanager key need none)
   */
  readonly adminSecretKeys?: kms.IKey[];
  /**
   * Where alarms go.
   * @default - a new topic encrypted with a key of its own (`alarmTopic`); subscribe operators to it
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * How often the audit chains' heads are signed into a digest (1 to 60 minutes).
   * @default Duration.minutes(5)
   */
  readonly digestEvery?: Duration;
  /**
   * A WAF web ACL on the API stage blocking a source address that sends more than this many requests to the
   * unauthenticated link route in 5 minutes (10 or more). WAF is billed per ACL and per request.
   * @default - no WAF
   */
  readonly wafRateLimit?: number;
  /**
   * Reserved concurrency of each function that opens database connections, so a burst cannot exhaust a
   * target's connections; 0 leaves them unreserved (for accounts with a low concurrency limit).
   * @default 10
   */
  readonly databaseConcurrency?: number;
}

/**
 * Just-in-time database access: the HTTP API (IAM-authenticated, plus the unauthenticated approval-link
 * route), the approval workflow, the functions that mint and revoke credentials, the expiry schedules, the
 * signed audit anchor and the alarms, for the targets of one policy. The Lambda code ships prebuilt in the
 * package; a synth needs neither esbuild nor Docker.
 *
 * One per stack (the state machine is named after the stack).
 */
export class JitDbAccess extends Construct {
  /** The REST API (callers sign with SigV4; `/approvals/` is the link route). */
  public readonly api: apigateway.RestApi;
  /** The API's base URL, where `jitdb` points (`JITDB_ENDPOINT`) and approval links lead. */
  public readonly apiUrl: string;
  /** The access-request workflow. */
  public readonly stateMachine: sfn.StateMachine;
  /** The tables in use: `props.tables`, or the ones created here. */
  public readonly tables: JitDbAccessTableSet;
  /** Where the alarms go. */
  public readonly alarmTopic: sns.ITopic;
  /** The database functions' security group, when they run in `vpc`. */
  public readonly functionsSecurityGroup: ec2.ISecurityGroup | undefined;
  /** The security group of the VPC endpoints, when `vpcEndpoints` asks for them. */
  public readonly serviceEndpointSecurityGroup: ec2.ISecurityGroup | undefined;
  /** The key every log group of this construct is encrypted with. */
  public readonly logsKey: kms.IKey;
  /** The validated policy. */
  public readonly policy: Policy;
  /** Every function of the system. */
  public readonly functions: JitFunction[];

  /** The parts, for tests and advanced wiring; their shape may change between minor versions. */
  public readonly notifications: NotificationsConstruct;
  public readonly workflow: WorkflowConstruct;
  public readonly apiConstruct: ApiConstruct;
  public readonly expiry: ExpiryConstruct;
  public readonly auditAnchor: AuditAnchorConstruct;

  constructor(scope: Construct, id: string, props: JitDbAccessProps) {
    super(scope, id);
    const { policy, policyFile } = policyOf(props.policy);
    this.policy = policy;
    this.tables = props.tables ?? new JitDbAccessTables(this, 'Tables');
    const tables = { requests: this.tables.requests, audit: this.tables.audit };
    const adminSecretKeyArns = (props.adminSecretKeys ?? []).map((key) => key.keyArn);
    const facts = targetFacts(policy, props.targetResourceIds ?? {}, adminSecretKeyArns);
    const network = props.vpc ? this.databaseNetwork(props, facts.ports) : undefined;
    this.functionsSecurityGroup = network?.securityGroups[0];
    this.serviceEndpointSecurityGroup =
      network && props.vpcEndpoints
        ? this.serviceEndpoints(network, props.vpcEndpoints.routeTableIds)
        : undefined;
    const shared = {
      tables,
      policyFile,
      targets: facts,
      databaseConcurrency: checkedConcurrency(props.databaseConcurrency),
      ...(network ? { network } : {}),
    };
    this.logsKey = encryptLogGroups(this);

    this.notifications = new NotificationsConstruct(this, 'Notifications', {
      senderEmail: props.senderEmail,
      ...(props.alarmTopic ? { alarmTopic: props.alarmTopic } : {}),
    });
    this.alarmTopic = this.notifications.alarmTopic;
    this.workflow = new WorkflowConstruct(this, 'Workflow', { ...shared, notifications: this.notifications });
    this.stateMachine = this.workflow.stateMachine;
    this.auditAnchor = new AuditAnchorConstruct(this, 'AuditAnchor', {
      tables,
      digestsTable: this.tables.digests,
      policyFile,
      targets: facts,
      notifications: this.notifications,
      alarmTopic: this.alarmTopic,
      digestEvery: checkedDigestEvery(props.digestEvery),
    });
    if (props.linkBaseUrl !== undefined && !/^https:\/\/[^\s/]+/.test(props.linkBaseUrl))
      throw new Error(`JitDbAccess: linkBaseUrl must be an https:// URL, got '${props.linkBaseUrl}'`);
    this.apiConstruct = new ApiConstruct(this, 'Api', {
      ...shared,
      anchoring: this.auditAnchor.anchoring,
      stateMachine: this.workflow.stateMachine,
      revokeFunction: this.workflow.revokeFunction,
      notifications: this.notifications,
      ...(props.linkBaseUrl ? { linkBaseUrl: props.linkBaseUrl } : {}),
      ...(props.wafRateLimit !== undefined ? { wafRateLimit: checkedWafRateLimit(props.wafRateLimit) } : {}),
    });
    this.api = this.apiConstruct.restApi;
    this.apiUrl = this.apiConstruct.publicBaseUrl;
    this.expiry = new ExpiryConstruct(this, 'Expiry', {
      ...shared,
      stateMachine: this.workflow.stateMachine,
      notifications: this.notifications,
      alarmTopic: this.alarmTopic,
    });
    // Mail with approval links is sent from these too; the API's URL is only known once it exists.
    for (const fn of [...this.workflow.functions.values(), this.expiry.sweeper]) {
      if (FUNCTION_NEEDS[fn.handlerName].approvalLinks) {
        fn.addEnvironment('PUBLIC_BASE_URL', this.apiUrl);
      }
    }
    this.functions = [
      ...this.apiConstruct.functions.values(),
      ...this.workflow.functions.values(),
      this.expiry.sweeper,
      this.expiry.executionStatusChange,
      this.auditAnchor.digestFunction,
    ];
    if (props.acknowledgeComplianceFindings ?? true) acknowledgeFindings(this);
  }

  /** A security group for the database functions in the targets' VPC, admitted by the targets on their ports. */
  private databaseNetwork(props: JitDbAccessProps, ports: number[]): DatabaseNetwork {
    const { vpc, vpcSubnets } = props;
    if (!vpc) throw new Error('no vpc configured');
    if (!vpcSubnets || vpcSubnets.length === 0)
      throw new Error(
        'JitDbAccess: vpc needs vpcSubnets too (the private subnets the database functions run in)',
      );
    const clients = new ec2.SecurityGroup(this, 'DatabaseClients', {
      vpc,
      description: 'jit-db-access functions that connect to target databases',
      allowAllOutbound: true,
    });
    for (const target of props.targetSecurityGroups ?? []) {
      for (const port of ports) {
        target.addIngressRule(clients, ec2.Port.tcp(port), `jit-db-access functions to target port ${port}`);
      }
    }
    return { vpc, subnets: vpcSubnets, securityGroups: [clients] };
  }

  /**
   * Private routes from the functions' subnets to every AWS API the VPC functions call, for subnets without
   * NAT: DynamoDB through a gateway endpoint on the subnets' route tables, the rest through interface
   * endpoints with private DNS (so the SDK's default endpoints resolve to them), reachable on 443 from the
   * functions' security group only. Which services follows cdk/function-needs.ts.
   */
  private serviceEndpoints(network: DatabaseNetwork, routeTableIds: string[]): ec2.SecurityGroup {
    const { vpc, subnets, securityGroups: clients } = network;
    if (routeTableIds.length === 0)
      throw new Error("JitDbAccess: vpcEndpoints needs routeTableIds (the subnets' route tables)");
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

/**
 * The policy and a file holding it: a path is loaded (and validated) as is; an object is validated and
 * written as JSON to a content-addressed temporary file, which the functions' bundles then carry.
 */
function policyOf(given: string | PolicyInput): { policy: Policy; policyFile: string } {
  try {
    if (typeof given === 'string') {
      const policyFile = isAbsolute(given) ? given : resolve(given);
      return { policy: loadPolicyFile(policyFile), policyFile };
    }
    const policy = validatePolicyData(given, 'JitDbAccess policy');
    const json = `${JSON.stringify(given, null, 2)}\n`;
    const hash = createHash('sha256').update(json).digest('hex').slice(0, 16);
    const policyFile = join(tmpdir(), `jitdb-policy-object-${hash}.json`);
    writeFileSync(policyFile, json);
    return { policy, policyFile };
  } catch (error) {
    if (error instanceof PolicyFileError) {
      // Every problem, one per line, as `jitdb policy check` prints them.
      throw new PolicyFileError(error.source, error.problems, error.cause, { listProblems: true });
    }
    throw error;
  }
}

/**
 * The bounds (and defaults) of the numeric props; the repository's `-c` context values (cdk/config.ts) are
 * checked against the same.
 */
export const PROP_BOUNDS = {
  databaseConcurrency: { min: 0, max: 1000, default: 10 },
  /** WAF's rate-based rules take 10 to 2,000,000,000 requests per 5-minute window. */
  wafRateLimit: { min: 10, max: 2_000_000_000 },
  /** AWS Backup keeps a recovery point from 1 day to 100 years. */
  backupRetentionDays: { min: 1, max: 36_500 },
  digestEveryMinutes: { min: 1, max: 60, default: 5 },
} as const;

/** Whether `value` is a whole number within the bounds of `prop`. */
export function withinBounds(prop: keyof typeof PROP_BOUNDS, value: number): boolean {
  const { min, max } = PROP_BOUNDS[prop];
  return Number.isInteger(value) && value >= min && value <= max;
}

function checkedConcurrency(value: number | undefined): number {
  if (value === undefined) return PROP_BOUNDS.databaseConcurrency.default;
  if (!withinBounds('databaseConcurrency', value))
    throw new Error(`JitDbAccess: databaseConcurrency must be a whole number from 0 to 1000, got ${value}`);
  return value;
}

function checkedDigestEvery(value: Duration | undefined): Duration {
  const every = value ?? Duration.minutes(PROP_BOUNDS.digestEveryMinutes.default);
  if (!withinBounds('digestEveryMinutes', every.toMinutes({ integral: false })))
    throw new Error(`JitDbAccess: digestEvery must be a whole number of minutes from 1 to 60`);
  return every;
}

function checkedWafRateLimit(value: number): number {
  if (!withinBounds('wafRateLimit', value))
    throw new Error('JitDbAccess: wafRateLimit must be a whole number of requests per 5 minutes, from 10');
  return value;
}

/** Every table in a daily plan whose recovery points sit in their own vault, retained like the tables. */
function backupPlan(scope: Construct, tables: dynamodb.ITable[], retentionDays: number): backup.BackupPlan {
  if (!withinBounds('backupRetentionDays', retentionDays))
    throw new Error('JitDbAccessTables: backupRetentionDays must be a whole number from 1 to 36500');
  const vault = new backup.BackupVault(scope, 'BackupVault', { removalPolicy: RemovalPolicy.RETAIN });
  const plan = new backup.BackupPlan(scope, 'BackupPlan', {
    backupVault: vault,
    backupPlanRules: [
      new backup.BackupPlanRule({
        ruleName: 'daily',
        scheduleExpression: backup.BackupPlanRule.daily().props.scheduleExpression,
        deleteAfter: Duration.days(retentionDays),
      }),
    ],
  });
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
