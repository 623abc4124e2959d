import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { readPolicyInput, validatePolicyData } from '../../functions/shared/config.js';
import {
  bundleAliases,
  ESM_REQUIRE_BANNER,
  EXTERNAL_MODULES,
  type HandlerName,
  handlerEntry,
  MAIN_FIELDS,
  NODE_TARGET,
  PROJECT_ROOT,
  policyEngines,
} from '../bundling.js';

/** Where the policy sits inside every bundle: the synth-validated input as JSON, so Lambda needs no YAML parser. */
export const BUNDLED_POLICY_PATH = '/var/task/policy.json';
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
  /** Absolute path of the policy file (YAML or JSON); validated here and shipped in the bundle as policy.json. */
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
 * role, and the policy shipped inside the bundle as policy.json; drivers of engines the policy does not use
 * are left out (cdk/bundling.ts).
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
    const { policyJsonFile, engines } = stagePolicyJson(props.policyFile);
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
        esbuildArgs: {
          '--alias': Object.entries(bundleAliases(engines)).map(([from, to]) => `${from}=${to}`),
        },
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp ${JSON.stringify(policyJsonFile)} ${JSON.stringify(`${outputDir}/policy.json`)}`,
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

/**
 * Validates the policy file and writes its input form (what the YAML says, before zod's defaults and
 * transforms, so the function validates it again at cold start) as JSON to a content-addressed temp file.
 */
function stagePolicyJson(policyFile: string): {
  policyJsonFile: string;
  engines: ReturnType<typeof policyEngines>;
} {
  const input = readPolicyInput(policyFile);
  const policy = validatePolicyData(input, policyFile);
  const json = `${JSON.stringify(input, null, 2)}\n`;
  const hash = createHash('sha256').update(json).digest('hex').slice(0, 16);
  const policyJsonFile = join(tmpdir(), `jitdb-policy-${hash}.json`);
  writeFileSync(policyJsonFile, json);
  return { policyJsonFile, engines: policyEngines(policy) };
}
