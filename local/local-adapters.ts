import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { DynamoAuditLog } from '../functions/adapters/dynamodb-audit.js';
import { createDocumentClient, createDynamoDbClient } from '../functions/adapters/dynamodb-client.js';
import { DynamoDigestStore } from '../functions/adapters/dynamodb-digests.js';
import { DynamoRequestStore } from '../functions/adapters/dynamodb-requests.js';
import { DynamoResultStore } from '../functions/adapters/dynamodb-results.js';
import { ephemeralFileSigner, fileSigner } from '../functions/adapters/file-signer.js';
import { createProvisioners, type ProvisionerFactory } from '../functions/adapters/provisioners.js';
import { hostPortEndpoints } from '../functions/adapters/rds-endpoint.js';
import { type AdminCredentialsSource, StaticAdminCredentials } from '../functions/adapters/secrets-admin.js';
import { statementRunner } from '../functions/adapters/statement-runner.js';
import type { Deps, Metrics, Revoker, Workflow } from '../functions/application/ports.js';
import { earlyRevokeInput } from '../functions/application/workflow-io.js';
import { TargetUnavailableError } from '../functions/domain/errors.js';
import type { Policy } from '../functions/domain/policy-schema.js';
import { EARLY_REVOKE_FUNCTION, type TaskFunction } from '../functions/function-registry.js';
import { cryptoIds } from '../functions/shared/ids.js';
import { type HandlerPowertools, logger } from '../functions/shared/powertools.js';
import { invokeLocally } from './invocations.js';
import type { OutboxMailer } from './outbox.js';
import type { LocalTables } from './servers.js';
import type { ExecutionStatusChangeEvent } from './workflow-executions.js';
import { handlersByState, LocalWorkflow, type TaskHandler } from './workflow-runner.js';

/** Admin logins of the local servers, by engine, instead of Secrets Manager. */
export function localAdminCredentials(
  pgAdminUrl: string,
  mysqlAdminUrl: string | undefined,
): AdminCredentialsSource {
  const postgres = new StaticAdminCredentials(pgAdminUrl);
  const mysql = mysqlAdminUrl ? new StaticAdminCredentials(mysqlAdminUrl) : undefined;
  return {
    get(target) {
      if (target.engine === 'postgres') return postgres.get();
      if (mysql) return mysql.get();
      return Promise.reject(
        new TargetUnavailableError(target.id, new Error('no MySQL server configured: set JITDB_MYSQL_URL')),
      );
    },
  };
}

/** Counts in memory: locally an alarm is a line on stderr. */
export function localMetrics(log: (line: string) => void): Metrics & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    counts,
    count(name, value = 1) {
      counts.set(name, (counts.get(name) ?? 0) + value);
      if (/Failed|Errors?$|Mismatch$/.test(name)) log(`metric ${name} +${value}`);
    },
  };
}

/**
 * The handlers' own Powertools, instead of the Lambda singletons: the domain counts metrics in memory
 * (localMetrics), so the EMF flush after each invocation prints nothing; INFO lines are dropped too, unless
 * POWERTOOLS_LOG_LEVEL asks for them.
 */
export function localPowertools(): HandlerPowertools {
  // WARN unless POWERTOOLS_LOG_LEVEL says otherwise, given at construction: injectLambdaContext puts back the
  // constructor's level on every invocation, so a level set afterwards let INFO lines ("sweep done") through.
  const localLogger = logger.createChild(process.env.POWERTOOLS_LOG_LEVEL ? {} : { logLevel: 'WARN' });
  return { logger: localLogger, metrics: new UnpublishedMetrics({ namespace: 'JitDbAccess' }) };
}

class UnpublishedMetrics extends PowertoolsMetrics {
  override publishStoredMetrics(): this {
    this.clearMetrics();
    return this;
  }
}

/** The Workflow port before the runner exists: the runner needs the handlers, which need the port. */
export function lateBoundWorkflow(): { workflow: Workflow; bind(workflow: Workflow): void } {
  let current: Workflow | undefined;
  const required = (): Workflow => {
    if (current === undefined) throw new Error('the local workflow is not wired yet');
    return current;
  };
  return {
    workflow: {
      start: (id, input) => required().start(id, input),
      sendTaskSuccess: (token, output) => required().sendTaskSuccess(token, output),
      sendTaskFailure: (token, error, cause) => required().sendTaskFailure(token, error, cause),
      stop: (requestId, cause) => required().stop(requestId, cause),
    },
    bind(workflow) {
      current = workflow;
    },
  };
}

/** As on AWS, the API runs an early revoke in the revoke function (a synchronous invoke), not in itself. */
export function localRevoker(revoke: (event: unknown, context: Context) => Promise<unknown>): Revoker {
  return {
    revokeEarly: async (requestId, by) => {
      const input = earlyRevokeInput(requestId, by);
      await invokeLocally(EARLY_REVOKE_FUNCTION, (context) => revoke(input, context));
    },
  };
}

const LOCAL_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:access-request';

/**
 * The state machine run in memory with the task handlers; status changes go where EventBridge sends them.
 * `runner.retryIntervalMs` scales the ASL's retry pauses down (tests).
 */
export function createLocalWorkflow(
  tasks: Record<TaskFunction, TaskHandler>,
  onStatusChange: (event: ExecutionStatusChangeEvent) => Promise<void>,
  log: (line: string) => void,
  runner: { retryIntervalMs?: number } = {},
): { workflow: LocalWorkflow; stop(): Promise<void> } {
  const workflow = new LocalWorkflow({
    stateMachineArn: LOCAL_STATE_MACHINE_ARN,
    handlers: handlersByState(tasks),
    ...runner,
    onListenerError: (error) =>
      log(`execution status change: ${error instanceof Error ? error.message : String(error)}`),
  });
  // FAILED / TIMED_OUT / ABORTED executions revoke, as the EventBridge rule does on AWS.
  const unsubscribe = workflow.onStatusChange(onStatusChange);
  return {
    workflow,
    async stop() {
      // A shutdown aborts executions; that must not revoke grants the next start will still honour.
      unsubscribe();
      await workflow.close();
    },
  };
}

/** Executions live in the runner's memory: a restart re-starts those of requests still waiting or approved. */
export async function resumeExecutions(deps: Deps, log: (line: string) => void): Promise<void> {
  for (const status of ['PENDING', 'APPROVED'] as const) {
    let cursor: string | undefined;
    do {
      const page = await deps.requests.listByStatus(status, { limit: 100, ...(cursor ? { cursor } : {}) });
      for (const request of page.items) {
        await deps.workflow.start(request.id, { requestId: request.id });
        log(`resumed ${status} request ${request.id}`);
      }
      cursor = page.cursor;
    } while (cursor);
  }
}

export interface LocalDepsOptions {
  policy: Policy;
  dynamodbEndpoint: string;
  tables: LocalTables;
  /** The digest key's PEM file, made on first use; absent: a key in memory. */
  digestKeyFile?: string;
  pgAdminUrl: string;
  mysqlAdminUrl?: string;
  outbox: OutboxMailer;
  publicBaseUrl: string;
  log: (line: string) => void;
}

/** The Deps over the local servers; the workflow is bound once the runner, which needs the handlers, exists. */
export function localDeps(options: LocalDepsOptions): {
  deps: Deps;
  bindWorkflow(workflow: Workflow): void;
  close(): Promise<void>;
} {
  const document = createDocumentClient(
    createDynamoDbClient({ endpoint: options.dynamodbEndpoint, region: 'us-east-1' }, {}),
  );
  const provisioners: ProvisionerFactory = createProvisioners({
    admin: localAdminCredentials(options.pgAdminUrl, options.mysqlAdminUrl),
    endpoints: hostPortEndpoints,
    region: 'us-east-1',
  });
  const policy = options.policy;
  const lateWorkflow = lateBoundWorkflow();
  const deps: Deps = {
    clock: { now: () => new Date() },
    ids: cryptoIds(),
    requests: new DynamoRequestStore({ client: document, ...options.tables }),
    audit: new DynamoAuditLog({ client: document, ...options.tables }),
    provisioners,
    statements: statementRunner(),
    results: new DynamoResultStore({ client: document, requestsTable: options.tables.requestsTable }),
    mailer: options.outbox,
    workflow: lateWorkflow.workflow,
    policy: { policy: () => policy },
    metrics: localMetrics(options.log),
    publicBaseUrl: options.publicBaseUrl,
    log: {
      info: () => undefined,
      warn: (message, extra) => options.log(`warning: ${message}${extra ? ` ${JSON.stringify(extra)}` : ''}`),
    },
    anchoring: {
      digests: new DynamoDigestStore({ client: document, digestsTable: options.tables.digestsTable }),
      signer: options.digestKeyFile ? fileSigner(options.digestKeyFile) : ephemeralFileSigner(),
    },
  };
  return {
    deps,
    bindWorkflow: lateWorkflow.bind,
    async close() {
      await provisioners.close();
      document.destroy();
    },
  };
}
