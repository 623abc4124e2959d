import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AssetHashType,
  DockerImage,
  Duration,
  type ILocalBundling,
  RemovalPolicy,
  Validations,
} from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { FUNCTIONS } from '../../functions/function-registry.js';
import { readPolicyInput, validatePolicyData } from '../../functions/shared/config.js';
import type { BuildRequest } from '../build-function.js';
import { type Engine, type FunctionName, PROJECT_ROOT, policyEngines } from '../bundling.js';
import { enginesKey } from '../prebuild.js';

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
  readonly handlerName: FunctionName;
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
  /**
   * Reserved concurrency: a ceiling on this function (and a floor the rest of the account cannot take).
   * @default - unreserved
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Where an asynchronous invocation goes once Lambda's retries are spent. Required for the functions the
   * registry says are invoked asynchronously (kind `schedule` or `event`), refused for the others (a
   * synchronous caller gets the error itself, and the queue would never receive anything).
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

/** Function kinds Lambda invokes asynchronously (EventBridge targets): their failures need somewhere to go. */
const ASYNC_KINDS: ReadonlySet<string> = new Set(['schedule', 'event']);

/** Whether this function is invoked asynchronously, from the registry (functions/function-registry.ts). */
export function isAsyncInvoked(handlerName: FunctionName): boolean {
  return ASYNC_KINDS.has(FUNCTIONS[handlerName].kind);
}

/**
 * Running from the compiled package (this file is .js): the functions' bundles were built ahead of time by
 * cdk/prebuild.ts into assets/ beside cdk/, so a consumer's synth needs neither esbuild nor TypeScript.
 * From the sources (.ts, under tsx), every synth builds them with esbuild.
 */
const PREBUILT = !import.meta.url.endsWith('.ts');
const PREBUILT_ROOT = `${PROJECT_ROOT}assets`;

/** The script that builds an asset (cdk/build-function.ts), run with tsx like the CDK app itself. */
const BUILD_SCRIPT = `${PROJECT_ROOT}cdk/build-function.ts`;

/**
 * Local bundling of one function's asset: cdk/bundling.ts's esbuild build, run as a child process (CDK's local
 * bundling is synchronous, esbuild plugins need its async API). Its fields are part of the asset's cache key
 * (CDK serializes the bundling options), so two functions never share one staged asset.
 */
class LocalBuild implements ILocalBundling {
  constructor(
    readonly handler: FunctionName,
    readonly engines: Engine[],
    readonly policyJsonFile: string,
  ) {}

  tryBundle(outputDir: string): boolean {
    if (PREBUILT) {
      // The package: the bundle built by cdk/prebuild.ts for these engines, and this app's policy beside it.
      const prebuilt = join(PREBUILT_ROOT, enginesKey(this.engines), this.handler);
      if (!existsSync(join(prebuilt, 'index.mjs')))
        throw new Error(`jit-db-access: no prebuilt bundle at ${prebuilt}; reinstall the package`);
      cpSync(prebuilt, outputDir, { recursive: true });
      copyFileSync(this.policyJsonFile, join(outputDir, 'policy.json'));
      return true;
    }
    const request: BuildRequest = {
      handler: this.handler,
      outdir: outputDir,
      engines: this.engines,
      policyJsonFile: this.policyJsonFile,
    };
    execFileSync(process.execPath, ['--import', 'tsx', BUILD_SCRIPT, JSON.stringify(request)], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    return true;
  }
}

/**
 * A function's code: cdk/bundling.ts's esbuild build run locally (never Docker) when the asset is staged,
 * hashed by its output. This is what NodejsFunction does, with the esbuild API instead of its CLI so the
 * bundle can be split into lazily loaded chunks and mysql2's error table replaced (see cdk/bundling.ts).
 */
export function functionCode(handler: FunctionName, policyJsonFile: string, engines: Engine[]): lambda.Code {
  return lambda.Code.fromAsset(PROJECT_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the type; never pulled: local bundling either succeeds or throws.
      image: DockerImage.fromRegistry('local-esbuild-only'),
      local: new LocalBuild(handler, engines, policyJsonFile),
    },
  });
}

/**
 * A Lambda function with this project's fixed choices: newest Node runtime, ARM64, local esbuild bundling
 * (never Docker) into minified ESM with the SDK bundled and tree-shaken, split so a cold start loads only
 * what every call needs, source maps, active tracing, its own log group and role, and the policy shipped
 * inside the bundle as policy.json; drivers of engines the policy does not use are left out
 * (cdk/bundling.ts).
 */
export class JitFunction extends lambda.Function {
  public readonly executionRole: iam.Role;
  public readonly handlerName: FunctionName;

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
    if (isAsyncInvoked(props.handlerName) !== (props.deadLetterQueue !== undefined)) {
      throw new Error(
        isAsyncInvoked(props.handlerName)
          ? `${props.handlerName} is invoked asynchronously and needs a deadLetterQueue`
          : `${props.handlerName} is invoked synchronously: a deadLetterQueue would never receive anything`,
      );
    }
    super(scope, id, {
      code: functionCode(props.handlerName, policyJsonFile, engines),
      handler: 'index.handler',
      runtime: JIT_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      ...(props.reservedConcurrentExecutions
        ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions }
        : {}),
      timeout: props.timeout ?? Duration.seconds(30),
      ...(props.deadLetterQueue ? { deadLetterQueue: props.deadLetterQueue } : {}),
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
