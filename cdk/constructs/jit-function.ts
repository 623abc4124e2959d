import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  ESM_REQUIRE_BANNER,
  EXTERNAL_MODULES,
  type HandlerName,
  handlerEntry,
  MAIN_FIELDS,
  NODE_TARGET,
  PROJECT_ROOT,
} from '../bundling.js';

/** Where the policy file sits inside every bundle. */
export const BUNDLED_POLICY_PATH = '/var/task/policy.yaml';
export const SERVICE_NAME = 'jit-db-access';
/** The newest Node.js runtime aws-cdk-lib knows. */
export const JIT_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Network placement of a function that talks to target databases. */
export interface DatabaseNetwork {
  vpc: ec2.IVpc;
  subnets: ec2.ISubnet[];
  securityGroups: ec2.ISecurityGroup[];
}

export interface JitFunctionProps {
  /** Which functions/handlers/<name>.ts this function runs. */
  readonly handlerName: HandlerName;
  /** Absolute path of the validated policy YAML, copied into the bundle as policy.yaml. */
  readonly policyFile: string;
  /**
   * The targets' VPC, for functions that open database connections.
   * @default - not in a VPC
   */
  readonly network?: DatabaseNetwork;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Extra environment variables (table names are bound with the `bind*` helpers instead). */
  readonly environment?: Record<string, string>;
}

/**
 * A NodejsFunction with this project's fixed choices: newest Node runtime, ARM64, local esbuild bundling
 * (never Docker), minified ESM with the SDK bundled, source maps, active tracing, its own log group and
 * role, and the policy file shipped inside the bundle.
 */
export class JitFunction extends NodejsFunction {
  public readonly executionRole: iam.Role;
  public readonly handlerName: HandlerName;

  constructor(scope: Construct, id: string, props: JitFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Own role instead of AWSLambdaBasicExecutionRole: logs only to this function's group, not logs:* on *.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `jit-db-access ${props.handlerName} function`,
    });
    const policyFile = props.policyFile;
    super(scope, id, {
      entry: handlerEntry(props.handlerName),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      runtime: JIT_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      role,
      ...(props.network
        ? {
            vpc: props.network.vpc,
            vpcSubnets: { subnets: props.network.subnets },
            securityGroups: props.network.securityGroups,
          }
        : {}),
      environment: {
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        JITDB_POLICY_FILE: BUNDLED_POLICY_PATH,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: NODE_TARGET,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: MAIN_FIELDS,
        banner: ESM_REQUIRE_BANNER,
        externalModules: EXTERNAL_MODULES,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp ${JSON.stringify(policyFile)} ${JSON.stringify(`${outputDir}/policy.yaml`)}`,
          ],
        },
      },
    });
    this.executionRole = role;
    this.handlerName = props.handlerName;
    logGroup.grantWrite(role);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing grants xray:PutTraceSegments and xray:PutTelemetryRecords, which have no resource-level permissions.',
    });
    if (props.network) {
      // ENI management has no resource-level permissions; AWS's managed policy is the documented minimum.
      role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'ENI create/describe/delete for VPC functions has no resource-level permissions; this AWS policy is exactly those actions.',
      });
    }
  }
}
