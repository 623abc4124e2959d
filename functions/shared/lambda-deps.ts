import { DynamoAuditLog } from '../adapters/dynamodb-audit.js';
import { createDocumentClient, createDynamoDbClient } from '../adapters/dynamodb-client.js';
import { DynamoDigestStore } from '../adapters/dynamodb-digests.js';
import { DynamoRequestStore } from '../adapters/dynamodb-requests.js';
import { DynamoResultStore } from '../adapters/dynamodb-results.js';
import { tableNamesFromEnv } from '../adapters/dynamodb-tables.js';
import type {
  Deps,
  Mailer,
  Provisioners,
  RequestStore,
  Revoker,
  Signer,
  StatementRunner,
  Workflow,
} from '../application/ports.js';
import { envPolicySource } from './config.js';
import { cryptoIds } from './ids.js';
import { powertoolsLogSink, powertoolsMetricsPort } from './powertools.js';

/**
 * The Lambda wiring of `Deps`, one small builder per need, so each handler's bundle holds only the adapters
 * it uses: a function that never sends mail does not ship SES, one that never touches a target database
 * ships no database driver. Ports a handler does not wire answer with `PortNotWiredError`.
 */

/** A port this Lambda function was deliberately built without was called. */
export class PortNotWiredError extends Error {
  readonly code = 'PORT_NOT_WIRED';

  constructor(port: string, fn: string) {
    super(`the ${fn} function is not wired with ${port}`);
    this.name = 'PortNotWiredError';
  }
}

/** What a handler wires on top of the core (tables, policy, clock, ids, Powertools). */
export interface LambdaParts {
  mailer?: Mailer;
  workflow?: Workflow;
  provisioners?: Provisioners;
  /** The digest key (lambdaSigner): with DIGESTS_TABLE, the function can sign or check audit digests. */
  signer?: Signer | undefined;
  /** The revoke function (lambdaRevoker), for early revokes from a function that reaches no database. */
  revoker?: Revoker;
  /** Runs statement requests (adapters/statement-runner.ts: its engine modules load on first use). */
  statements?: StatementRunner;
  /** Reads audit chains only (cdk/function-needs.ts `tables: 'audit-read'`): no requests table, no store for it. */
  auditOnly?: boolean;
}

export function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function notWired<T extends object>(port: string, fn: string): T {
  const fail = () => {
    throw new PortNotWiredError(port, fn);
  };
  // Every method fails the same way (sync throw inside an async use case still rejects its promise).
  return new Proxy({} as T, { get: (_target, key) => (key === 'then' ? undefined : fail) });
}

/**
 * `Deps` for this Lambda function, from the environment: DynamoDB tables, the bundled policy, the system
 * clock, crypto ids, Powertools, plus whichever of mailer / workflow / provisioners the handler passes.
 */
export function lambdaDeps(parts: LambdaParts, env: NodeJS.ProcessEnv = process.env): Deps {
  // Named in errors by its deployed name: the handler need not spell its registry name (the registry does).
  const fn = env.AWS_LAMBDA_FUNCTION_NAME ?? 'this';
  const tables = tableNamesFromEnv(env, { requests: !parts.auditOnly });
  const client = createDocumentClient(createDynamoDbClient({}, env));
  const { digestsTable } = tables;
  return {
    clock: { now: () => new Date() },
    ids: cryptoIds(),
    requests: parts.auditOnly
      ? notWired<RequestStore>('the requests table', fn)
      : new DynamoRequestStore({ client, ...tables }),
    audit: new DynamoAuditLog({ client, ...tables }),
    provisioners: parts.provisioners ?? notWired<Provisioners>('provisioners', fn),
    mailer: parts.mailer ?? notWired<Mailer>('a mailer', fn),
    workflow: parts.workflow ?? notWired<Workflow>('a workflow', fn),
    ...(parts.revoker ? { revoker: parts.revoker } : {}),
    ...(parts.statements ? { statements: parts.statements } : {}),
    ...(parts.auditOnly
      ? {}
      : { results: new DynamoResultStore({ client, requestsTable: tables.requestsTable }) }),
    ...(digestsTable && parts.signer
      ? { anchoring: { digests: new DynamoDigestStore({ client, digestsTable }), signer: parts.signer } }
      : {}),
    policy: envPolicySource,
    metrics: powertoolsMetricsPort(),
    // Only functions that write approval links get PUBLIC_BASE_URL (cdk/); the others never read it.
    publicBaseUrl: env.PUBLIC_BASE_URL ?? '',
    log: powertoolsLogSink,
  };
}

/**
 * A provider that builds the deps once and keeps them for the execution environment's life. In Lambda
 * (AWS_LAMBDA_FUNCTION_NAME is set) they are built at init, so a missing setting fails the cold start, where
 * Lambda reports it on every invoke, instead of hiding in a 500 from each request; elsewhere (tests importing
 * a handler module) on first use.
 */
export function lazyDeps(build: () => Deps, env: NodeJS.ProcessEnv = process.env): () => Deps {
  let deps: Deps | undefined = env.AWS_LAMBDA_FUNCTION_NAME ? build() : undefined;
  return () => {
    deps ??= build();
    return deps;
  };
}
