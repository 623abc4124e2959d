import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FunctionModel } from './model.js';

/**
 * The environment of one local execution environment, built the way Lambda builds it: the template's
 * variables, then the reserved variables Lambda sets, then what the integrator adds (endpoint, region,
 * per-function credentials). Nothing is inherited from the developer's shell except PATH and HOME, so a
 * variable the template forgot fails locally as it would in Lambda.
 *
 * Lambda's code directory is /var/task, which cannot be created here: every value starting with `/var/task/`
 * (e.g. JITDB_POLICY_FILE=/var/task/policy.json) is rewritten to the asset directory, and LAMBDA_TASK_ROOT is
 * the asset directory. LAMBDA_RUNTIME_DIR is this directory (the runtime stand-in lives here). NODE_PATH keeps
 * only the task root: there are no layers (/opt) and no runtime-provided modules (Lambda's
 * /var/runtime/node_modules holds an AWS SDK; a bundle relying on it would fail here, ours bundle theirs).
 *
 * NODE_EXTRA_CA_CERTS: Node 24 reads the file at the first TLS use and, when it is missing, only warns on
 * stderr ("Warning: Ignoring extra certs from `…`, load failed: … No such file or directory") and goes on
 * with its own CAs (test/assembly/lambda-service-lifecycle.test.ts checks this). The template points it at Lambda's
 * /var/runtime/ca-cert.pem, absent here: it is pointed at `caCertsFile` when given, kept when the path exists,
 * otherwise dropped, with a note in both rewritten cases.
 */

/** Lambda's code directory, as the template's values name it. */
export const LAMBDA_TASK_ROOT = '/var/task';

/** The directory of the runtime stand-in (lambda-runtime-child.mjs): this emulation's /var/runtime. */
export const LOCAL_RUNTIME_DIR = dirname(fileURLToPath(import.meta.url));

export interface EnvironmentOptions {
  /** Extra variables the integrator adds (AWS_ENDPOINT_URL, AWS_REGION, per-function credentials). */
  extra?: Record<string, string>;
  /** A local CA bundle to use where the template sets NODE_EXTRA_CA_CERTS to a file that does not exist. */
  caCertsFile?: string;
  /** Where notes about rewritten variables go. */
  note?: (line: string) => void;
}

/** The region of a Lambda function ARN (`arn:aws:lambda:<region>:…`). */
export function regionOfArn(arn: string): string | undefined {
  const region = arn.split(':')[3];
  return region ? region : undefined;
}

/** A log stream name like Lambda's: `YYYY/MM/DD/[$LATEST]<32 hex>`, one per execution environment. */
export function logStreamName(now = new Date()): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}

/** Rewrites a value naming a file under /var/task to the same file under the asset directory. */
export function rewriteTaskRoot(value: string, assetDir: string): string {
  return value === LAMBDA_TASK_ROOT || value.startsWith(`${LAMBDA_TASK_ROOT}/`)
    ? assetDir + value.slice(LAMBDA_TASK_ROOT.length)
    : value;
}

/** The full environment of one execution environment of `fn` (see the module comment). */
export function lambdaEnvironment(
  fn: FunctionModel,
  options: EnvironmentOptions = {},
  streamName = logStreamName(),
): Record<string, string> {
  const note = options.note ?? (() => {});
  const extra = options.extra ?? {};
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME'] as const) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(fn.environment)) env[name] = rewriteTaskRoot(value, fn.assetDir);
  const region = extra.AWS_REGION ?? regionOfArn(fn.arn) ?? 'us-east-1';
  Object.assign(env, {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: streamName,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    LAMBDA_TASK_ROOT: fn.assetDir,
    LAMBDA_RUNTIME_DIR: LOCAL_RUNTIME_DIR,
    _HANDLER: fn.handler,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    NODE_PATH: fn.assetDir,
  });
  Object.assign(env, extra);
  const caCerts = env.NODE_EXTRA_CA_CERTS;
  if (caCerts !== undefined && !existsSync(caCerts)) {
    if (options.caCertsFile) {
      env.NODE_EXTRA_CA_CERTS = options.caCertsFile;
      note(`NODE_EXTRA_CA_CERTS=${caCerts} does not exist here: using ${options.caCertsFile}`);
    } else {
      delete env.NODE_EXTRA_CA_CERTS;
      note(
        `NODE_EXTRA_CA_CERTS=${caCerts} does not exist here: dropped (Node would only warn and ignore it)`,
      );
    }
  }
  return env;
}
