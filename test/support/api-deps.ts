/**
 * `Deps` for the suites that drive the real Lambda handlers: fresh DynamoDB Local tables, the real
 * provisioners with static admin credentials, a recording workflow, an outbox mailer and cryptographic ids
 * (every minted secret kept for no-leak scans). The policy can be swapped, as a redeploy would.
 */
import { DynamoResultStore } from '../../functions/adapters/dynamodb-results.js';
import { createProvisioners, type ProvisionerFactory } from '../../functions/adapters/provisioners.js';
import { hostPortEndpoints } from '../../functions/adapters/rds-endpoint.js';
import { StaticAdminCredentials } from '../../functions/adapters/secrets-admin.js';
import { statementRunner } from '../../functions/adapters/statement-runner.js';
import type { Deps, Email, UseCaseLog } from '../../functions/application/ports.js';
import type { Policy } from '../../functions/domain/policy-schema.js';
import { RecordingWorkflow, recordingIds } from './deps.js';
import { type DynamoTestTables, dynamoTestTables } from './dynamodb-local.js';
import { services } from './services.js';

export interface ApiTestDeps {
  deps: Deps;
  outbox: Email[];
  workflow: RecordingWorkflow;
  /** Every secret the ids minted (link secrets), for no-leak assertions. */
  secrets: string[];
  /** Every metric counted, as `name:value`. */
  metrics: string[];
  tables: DynamoTestTables;
  /** The policy the functions see now. */
  policy(): Policy;
  /** Replaces the policy every later call reads. */
  setPolicy(next: Policy): void;
  close(): Promise<void>;
}

export async function apiTestDeps(options: {
  /** Prefix of the random table names. */
  tablesPrefix: string;
  policy: Policy;
  /** Admin URL of every target; the shared PostgreSQL superuser by default. */
  adminUrl?: string;
  log?: UseCaseLog;
}): Promise<ApiTestDeps> {
  const { dynamodbEndpoint, pgAdminUrl } = services();
  const tables = await dynamoTestTables(dynamodbEndpoint, options.tablesPrefix);
  const provisioners: ProvisionerFactory = createProvisioners({
    admin: new StaticAdminCredentials(options.adminUrl ?? pgAdminUrl),
    endpoints: hostPortEndpoints,
    connectTimeoutMs: 5_000,
  });
  const outbox: Email[] = [];
  const secrets: string[] = [];
  const metrics: string[] = [];
  const workflow = new RecordingWorkflow();
  let policy = options.policy;
  const deps: Deps = {
    clock: { now: () => new Date() },
    ids: recordingIds(secrets),
    requests: tables.requests,
    audit: tables.audit,
    provisioners,
    statements: statementRunner(),
    results: new DynamoResultStore({ client: tables.doc, requestsTable: tables.names.requestsTable }),
    mailer: { send: async (email) => void outbox.push(email) },
    workflow,
    policy: { policy: () => policy },
    metrics: { count: (name, value = 1) => void metrics.push(`${name}:${value}`) },
    publicBaseUrl: 'https://jitdb.example.com/prod',
    log: options.log ?? { info: () => undefined, warn: () => undefined },
  };
  return {
    deps,
    outbox,
    workflow,
    secrets,
    metrics,
    tables,
    policy: () => policy,
    setPolicy(next) {
      policy = next;
    },
    async close() {
      await provisioners.close();
      tables.close();
    },
  };
}
