import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoAuditLog } from '../adapters/dynamodb-audit.js';
import { createDocumentClient, createDynamoDbClient } from '../adapters/dynamodb-client.js';
import { DynamoRequestStore } from '../adapters/dynamodb-requests.js';
import { tableNamesFromEnv } from '../adapters/dynamodb-tables.js';
import { awsProvisioners } from '../adapters/provisioners.js';
import { SesMailer } from '../adapters/ses-mailer.js';
import { SfnWorkflow } from '../adapters/sfn-workflow.js';
import type { Deps } from '../ports.js';
import { envPolicySource } from './config.js';
import { cryptoIds } from './ids.js';
import { powertoolsLogSink, powertoolsMetricsPort } from './powertools.js';

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/**
 * The Lambda wiring of `Deps`, from the environment: DynamoDB tables, provisioners with Secrets Manager admin
 * credentials, SES, Step Functions, the bundled policy file, the system clock, crypto ids, Powertools.
 * Handlers call it once per cold start (lazily, on their first invocation).
 */
export function adapters(env: NodeJS.ProcessEnv = process.env): Deps {
  const tables = tableNamesFromEnv(env);
  const client = createDocumentClient(createDynamoDbClient({}, env));
  const region = env.AWS_REGION;
  const stateMachineArn = required(env, 'STATE_MACHINE_ARN');
  return {
    clock: { now: () => new Date() },
    ids: cryptoIds(),
    requests: new DynamoRequestStore({ client, ...tables }),
    audit: new DynamoAuditLog({ client, ...tables }),
    provisioners: awsProvisioners(region ? { region } : {}),
    mailer: new SesMailer(new SESv2Client(region ? { region } : {}), required(env, 'SENDER_EMAIL')),
    workflow: new SfnWorkflow({
      client: new SFNClient(region ? { region } : {}),
      stateMachineArn,
    }),
    stateMachineArn,
    policy: envPolicySource,
    metrics: powertoolsMetricsPort(),
    publicBaseUrl: required(env, 'PUBLIC_BASE_URL'),
    log: powertoolsLogSink,
  };
}

/** A provider that builds the deps on first use and keeps them for the container's life. */
export function lazyDeps(build: () => Deps = () => adapters()): () => Deps {
  let deps: Deps | undefined;
  return () => {
    deps ??= build();
    return deps;
  };
}
