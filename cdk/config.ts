import { isAbsolute, resolve } from 'node:path';
import type { Node } from 'constructs';
import type { Policy } from '../functions/domain/policy-schema.js';
import { loadPolicyFile } from '../functions/shared/config.js';
import { PROJECT_ROOT } from './bundling.js';
import { PROP_BOUNDS, withinBounds } from './jit-db-access.js';

/** Everything the app is configured with: the policy file plus a few context values (cdk.json or `-c`). */
export interface DeploymentConfig {
  /** Absolute path of the policy YAML. Context `policyFile`, default examples/policy.aws.yaml. */
  policyFile: string;
  /** The validated policy (loadPolicyFile throws PolicyFileError listing every problem). */
  policy: Policy;
  /** Context `senderEmail`: the SES identity approval emails come from. */
  senderEmail: string;
  /** Context `linkBaseUrl`: base of approval links when a custom domain fronts the API. */
  linkBaseUrl?: string;
  /**
   * Context `vpcId` + `subnetIds` (+ optional `availabilityZones`): where the database functions run.
   * `vpcEndpoints=true` + `routeTableIds` (the subnets' route tables): give them private routes to the AWS
   * APIs they call, for subnets with no NAT (cdk/stateless-stack.ts).
   */
  vpc?: {
    vpcId: string;
    subnetIds: string[];
    availabilityZones?: string[];
    endpoints?: { routeTableIds: string[] };
  };
  /**
   * Context `wafRateLimit`: attach a WAF web ACL to the stage with a rate-based rule that blocks a source address
   * sending more than this many requests to `/approvals/` in 5 minutes (the unauthenticated route). Off by
   * default: WAF costs money per ACL and per request.
   */
  wafRateLimit?: number;
  /**
   * Context `backupRetentionDays`: put every table in an AWS Backup plan (daily backups kept this many days, in a
   * vault of its own). Off by default: backups cost storage, and each table already has point-in-time recovery
   * (35 days). Turn it on for copies that survive a deleted table or a compromised account's restore window.
   */
  backupRetentionDays?: number;
  /**
   * Context `databaseConcurrency` (default 10, 0 = unreserved): reserved concurrency of each function that opens
   * connections to target databases, so a burst of requests or retries cannot exhaust a target's connections.
   */
  databaseConcurrency: number;
  /** Context `targetSecurityGroupIds`: the targets' security groups, opened to the functions on the targets' ports. */
  targetSecurityGroupIds: string[];
  /** Context `targetResourceIds` (target id → DbiResourceId) for `rds-db:connect` on RDS targets. */
  targetResourceIds: Record<string, string>;
  /**
   * Context `adminSecretKeyArns`: customer-managed KMS keys the admin secrets are encrypted with (secrets under
   * the default `aws/secretsmanager` key need none). The database functions may decrypt with them through
   * Secrets Manager only.
   */
  adminSecretKeyArns: string[];
  /** Context `digestEveryMinutes` (1–60, default 5): how often the audit chain heads are signed into a digest. */
  digestEveryMinutes: number;
}

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

export const DEFAULT_POLICY_FILE = 'examples/policy.aws.yaml';
export const DEFAULT_SENDER_EMAIL = 'jit-db-access@example.com';

/** A context switch: true/false, or 'true'/'false' as `-c name=true` passes it; absent is false. */
function flag(value: unknown, name: string): boolean {
  if (value === undefined || value === null || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new Error(`context ${name} must be true or false`);
}

/** A context value given as a JSON array, a comma-separated string, or absent. */
function list(value: unknown, name: string): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  if (typeof value === 'string') {
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  throw new Error(`context ${name} must be a list of strings or a comma-separated string`);
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`context ${name} must be a string`);
  return value;
}

function record(value: unknown, name: string): Record<string, string> {
  if (value === undefined || value === null || value === '') return {};
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`context ${name} must be an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new Error(`context ${name}.${key} must be a string`);
    out[key] = v;
  }
  return out;
}

/** Reads and validates the configuration from a construct node's context (the App's). */
export function configFromContext(node: Node): DeploymentConfig {
  const file = optionalString(node.tryGetContext('policyFile'), 'policyFile') ?? DEFAULT_POLICY_FILE;
  const policyFile = isAbsolute(file) ? file : resolve(PROJECT_ROOT, file);
  const policy = loadPolicyFile(policyFile);
  const vpcId = optionalString(node.tryGetContext('vpcId'), 'vpcId');
  const subnetIds = list(node.tryGetContext('subnetIds'), 'subnetIds');
  const availabilityZones = list(node.tryGetContext('availabilityZones'), 'availabilityZones');
  if (vpcId && subnetIds.length === 0) {
    throw new Error('context vpcId needs subnetIds too (the private subnets the database functions run in)');
  }
  const endpoints = flag(node.tryGetContext('vpcEndpoints'), 'vpcEndpoints');
  const routeTableIds = list(node.tryGetContext('routeTableIds'), 'routeTableIds');
  if (endpoints && !vpcId) throw new Error('context vpcEndpoints needs vpcId and subnetIds');
  if (endpoints && routeTableIds.length === 0) {
    throw new Error(
      "context vpcEndpoints needs routeTableIds too (the subnets' route tables, for DynamoDB's gateway endpoint)",
    );
  }
  const adminSecretKeyArns = list(node.tryGetContext('adminSecretKeyArns'), 'adminSecretKeyArns');
  for (const arn of adminSecretKeyArns) {
    if (!KMS_KEY_ARN.test(arn)) {
      throw new Error(
        `context adminSecretKeyArns: '${arn}' is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`,
      );
    }
  }
  const linkBaseUrl = optionalString(node.tryGetContext('linkBaseUrl'), 'linkBaseUrl');
  if (linkBaseUrl && !/^https:\/\/[^\s/]+/.test(linkBaseUrl)) {
    throw new Error(`context linkBaseUrl must be an https:// URL, got '${linkBaseUrl}'`);
  }
  return {
    policyFile,
    policy,
    senderEmail: optionalString(node.tryGetContext('senderEmail'), 'senderEmail') ?? DEFAULT_SENDER_EMAIL,
    ...(linkBaseUrl ? { linkBaseUrl } : {}),
    ...(vpcId
      ? {
          vpc: {
            vpcId,
            subnetIds,
            ...(availabilityZones.length > 0 ? { availabilityZones } : {}),
            ...(endpoints ? { endpoints: { routeTableIds } } : {}),
          },
        }
      : {}),
    targetSecurityGroupIds: list(node.tryGetContext('targetSecurityGroupIds'), 'targetSecurityGroupIds'),
    targetResourceIds: record(node.tryGetContext('targetResourceIds'), 'targetResourceIds'),
    adminSecretKeyArns,
    digestEveryMinutes: minutes(node.tryGetContext('digestEveryMinutes'), 'digestEveryMinutes'),
    ...wafRateLimitOf(node.tryGetContext('wafRateLimit')),
    ...backupRetentionOf(node.tryGetContext('backupRetentionDays')),
    databaseConcurrency:
      wholeNumber(node.tryGetContext('databaseConcurrency'), 'databaseConcurrency') ??
      PROP_BOUNDS.databaseConcurrency.default,
  };
}

/** The WAF rate limit, within PROP_BOUNDS.wafRateLimit. */
function wafRateLimitOf(value: unknown): { wafRateLimit?: number } {
  if (value === undefined || value === null || value === '') return {};
  const parsed = typeof value === 'string' ? Number(value) : value;
  if (typeof parsed !== 'number' || !withinBounds('wafRateLimit', parsed))
    throw new Error('context wafRateLimit must be a whole number of requests per 5 minutes, from 10');
  return { wafRateLimit: parsed };
}

/** Days of AWS Backup retention, within PROP_BOUNDS.backupRetentionDays. */
function backupRetentionOf(value: unknown): { backupRetentionDays?: number } {
  const days = wholeNumber(value, 'backupRetentionDays');
  return days === undefined ? {} : { backupRetentionDays: days };
}

/** A whole number within the prop's bounds (a number, or a string as `-c` passes it); absent is undefined. */
function wholeNumber(
  value: unknown,
  name: 'databaseConcurrency' | 'backupRetentionDays',
): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const parsed = typeof value === 'string' ? Number(value) : value;
  if (typeof parsed !== 'number' || !withinBounds(name, parsed)) {
    const { min, max } = PROP_BOUNDS[name];
    throw new Error(`context ${name} must be a whole number from ${min} to ${max}`);
  }
  return parsed;
}

/** A whole number of minutes from 1 to 60 (a number, or a string as `-c` passes it); absent is the default. */
function minutes(value: unknown, name: 'digestEveryMinutes'): number {
  if (value === undefined || value === null || value === '') return PROP_BOUNDS[name].default;
  const parsed = typeof value === 'string' ? Number(value) : value;
  if (typeof parsed !== 'number' || !withinBounds(name, parsed))
    throw new Error(`context ${name} must be a whole number of minutes from 1 to 60`);
  return parsed;
}
