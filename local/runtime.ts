import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import type { ReconcileMode } from '../functions/application/expiry-sweeper.js';
import type { Deps } from '../functions/application/ports.js';
import type { Policy } from '../functions/domain/policy-schema.js';
import { EARLY_REVOKE_FUNCTION, type TaskFunction } from '../functions/function-registry.js';
import { createHandler as createApiHandler } from '../functions/handlers/api.js';
import { createHandler as createApprovalLinksHandler } from '../functions/handlers/approval-links.js';
import { createHandler as createAuditDigestHandler } from '../functions/handlers/audit-digest.js';
import { createHandler as createCredentialsHandler } from '../functions/handlers/credentials.js';
import { createHandler as createExecutionStatusChangeHandler } from '../functions/handlers/execution-status-change.js';
import { createHandler as createExpirySweeperHandler } from '../functions/handlers/expiry-sweeper.js';
import type { TaskHandlerOptions } from '../functions/handlers/lambda.js';
import type { HandlerPowertools } from '../functions/shared/powertools.js';
import { TASK_FUNCTIONS } from '../functions/workflow-tasks.js';
import { DEMO_DATABASE, loadSampleData } from './demo-data.js';
import { rateRule, scheduledEvent, sweeperEvent } from './events.js';
import { type HttpHandlers, startHttpServer } from './http-server.js';
import { invokeLocally } from './invocations.js';
import {
  createLocalWorkflow,
  type LocalDepsOptions,
  localDeps,
  localPowertools,
  localRevoker,
  resumeExecutions,
} from './local-adapters.js';
import { OutboxMailer } from './outbox.js';
import { beginRuntime } from './running-parts.js';
import {
  createLocalTables,
  type LocalTables,
  pointTargetsAtStartedServers,
  redact,
  type ServerOptions,
  startServers,
} from './servers.js';
import type { ExecutionStatusChangeEvent } from './workflow-executions.js';
import type { TaskHandler } from './workflow-runner.js';

/** main.ts loads this module late, and reports a failed start with this. */
export { describeStartupError } from './startup-error.js';

export interface RuntimeOptions extends ServerOptions {
  /** HTTP port; default 3000, 0 picks a free one. */
  port?: number;
  policyFile: string;
  /** Nothing on disk: DynamoDB in memory, a throw-away PostgreSQL, no outbox file. */
  ephemeral?: boolean;
  /** Default .jitdb */
  stateDir?: string;
  /** How often the expiry sweeper runs; default 5 s. */
  sweepIntervalMs?: number;
  /** How often the audit chain heads are signed into a digest (the file key under the state dir); default 10 s. */
  digestIntervalMs?: number;
  /**
   * When the sweeper reconciles (drops `jit_` users no request explains): `hourly` as on AWS (the default), or
   * `never` — for a runtime sharing its PostgreSQL with other runtimes, whose users it would not know.
   */
  reconcile?: ReconcileMode;
  /** Print each email's compact block to stdout; default true. */
  printEmails?: boolean;
  /** Operational lines (sweeper errors, resumed requests); default stderr. */
  log?: (line: string) => void;
}

export interface Runtime {
  url: string;
  port: number;
  outbox: OutboxMailer;
  policy: Policy;
  dynamodbEndpoint: string;
  tables: LocalTables;
  /** Superuser URL of the PostgreSQL that hosts the demo database. */
  pgAdminUrl: string;
  firstTargetId: string | undefined;
  app: WiredApplication;
  /** One line per running part, for the startup banner. */
  describe(): string[];
  /** Runs the expiry sweeper once now (the timer does it every sweepIntervalMs). */
  sweep(): Promise<void>;
  /** Signs an audit digest now (the timer does it every digestIntervalMs). */
  digest(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts everything `npm start` runs; stops what already started if a later part fails. */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { log, policy: configured, parts, dir } = beginRuntime(options);
  const { stopAll } = parts;
  try {
    const outbox = new OutboxMailer({
      ...(dir ? { file: dir.outbox } : {}),
      ...(options.printEmails === false ? { print: false as const } : {}),
    });
    // The server binds first: a taken port fails in a second, and approval links learn the real port.
    const lateBound: { app?: WiredApplication } = {};
    const server = await startHttpServer({
      port: options.port ?? 3000,
      outbox,
      log,
      handlers: () => lateBound.app?.http,
    });
    parts.add(server.close);

    const { dynamo, postgres, mysql } = await startServers(options, dir, configured, log, (stop) =>
      parts.add(stop),
    );
    // A server started on a port other than the demo's (--pg-port 0 picks one): its targets follow it.
    const policy = pointTargetsAtStartedServers(configured, options, { postgres, mysql });
    const tables = await createLocalTables(dynamo.url, options.tablePrefix);
    await loadSampleData(postgres.url, options.demoDatabase ?? DEMO_DATABASE, dir);

    const app = await wireApplication({
      policy,
      dynamodbEndpoint: dynamo.url,
      tables,
      pgAdminUrl: postgres.url,
      ...('url' in mysql ? { mysqlAdminUrl: mysql.url } : {}),
      outbox,
      publicBaseUrl: server.url,
      reconcile: options.reconcile ?? 'hourly',
      // The digest key stands in for KMS: kept beside the state, or in memory for an ephemeral run.
      ...(dir ? { digestKeyFile: join(dir.root, 'digest-key.pem') } : {}),
      log,
      powertools: localPowertools(),
    });
    lateBound.app = app;
    parts.add(app.stop);

    await app.resume();
    const sweepIntervalMs = options.sweepIntervalMs ?? 5000;
    const sweeper = rateRule(sweepIntervalMs, app.sweep, (error) => log(`sweeper: ${errorMessage(error)}`));
    parts.add(sweeper.stop);
    // One sweep before the banner: a grant that expired while nothing ran is revoked now, not a sweep later.
    await sweeper.run();
    const digestIntervalMs = options.digestIntervalMs ?? 10_000;
    const digester = rateRule(digestIntervalMs, app.digest, (error) =>
      log(`audit digest: ${errorMessage(error)}`),
    );
    parts.add(digester.stop);

    const firstTargetId = policy.targets[0]?.id;
    return {
      url: server.url,
      port: server.port,
      outbox,
      policy,
      dynamodbEndpoint: dynamo.url,
      tables,
      pgAdminUrl: postgres.url,
      firstTargetId,
      app,
      describe: () => [
        `  api        ${server.url}   (local identity: x-jitdb-user header, set by jitdb --user / JITDB_USER)`,
        `  outbox     ${server.url}/outbox`,
        `  dynamodb   ${dynamo.url}   ${dynamo.describe}`,
        `  postgres   ${redact(postgres.url)}   ${postgres.describe}, database ${options.demoDatabase ?? DEMO_DATABASE}`,
        `  policy     ${options.policyFile}   (${policy.targets.map((t) => t.id).join(', ')})`,
        ...(policy.targets.some((t) => t.engine === 'mysql')
          ? [
              'url' in mysql
                ? `  mysql      ${redact(mysql.url)}   ${mysql.describe}`
                : `  mysql      ${mysql.missing}`,
            ]
          : []),
        `  sweeper    every ${sweepIntervalMs / 1000}s`,
        `  digests    every ${digestIntervalMs / 1000}s, signed with ${dir ? join(dir.root, 'digest-key.pem') : 'an in-memory key'}`,
        ...(dir ? [`  state      ${dir.root}`] : ['  state      ephemeral (nothing kept)']),
      ],
      sweep: sweeper.run,
      digest: digester.run,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** What the runtime wired: the HTTP handlers the server calls, and the workflow and sweeper behind them. */
export interface WiredApplication {
  deps: Deps;
  http: HttpHandlers;
  /** Re-starts executions of requests a previous run left PENDING or APPROVED (the runner is in memory). */
  resume(): Promise<void>;
  sweep(): Promise<void>;
  /** One audit digest run (the audit-digest handler). */
  digest(): Promise<void>;
  stop(): Promise<void>;
}

interface WiringOptions extends LocalDepsOptions {
  reconcile: ReconcileMode;
  powertools: HandlerPowertools;
}

async function wireApplication(options: WiringOptions): Promise<WiredApplication> {
  const local = localDeps(options);
  const { deps } = local;
  const handlers = createHandlers(deps, { reconcile: options.reconcile, powertools: options.powertools });
  const workflow = createLocalWorkflow(handlers.tasks, handlers.executionStatusChange, options.log);
  local.bindWorkflow(workflow.workflow);
  return {
    deps,
    http: handlers.http,
    resume: () => resumeExecutions(deps, options.log),
    sweep: handlers.sweep,
    digest: handlers.digest,
    async stop() {
      await workflow.stop();
      await local.close();
    },
  };
}

/** The handlers the runtime calls: HTTP ones by route-table name, workflow tasks, sweeper, status change. */
export interface LocalHandlers {
  http: HttpHandlers;
  tasks: Record<TaskFunction, TaskHandler>;
  sweep(): Promise<void>;
  digest(): Promise<void>;
  executionStatusChange(event: ExecutionStatusChangeEvent): Promise<void>;
}

type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;
type TaskHandlerFactory = (deps: Deps, options: TaskHandlerOptions) => LambdaHandler;

/** Each task function's handler factory, loaded by its registry name from functions/handlers/<name>.ts. */
const TASK_HANDLER_FACTORIES = Object.fromEntries(
  await Promise.all(
    TASK_FUNCTIONS.map(async (name) => {
      // A computed specifier: the entry is found by name, as cdk/bundling.ts's handlerEntry finds it, with
      // this module's own extension (.ts run by tsx, .js once compiled).
      const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
      const specifier = new URL(`../functions/handlers/${name}${extension}`, import.meta.url).href;
      const entry = (await import(specifier)) as { createHandler: TaskHandlerFactory };
      return [name, entry.createHandler] as const;
    }),
  ),
) as Record<TaskFunction, TaskHandlerFactory>;

/** The same handler factories Lambda uses, given the local Deps; HTTP ones honour the local identity. */
export function createHandlers(
  deps: Deps,
  options: { reconcile?: ReconcileMode; powertools?: HandlerPowertools } = {},
): LocalHandlers {
  const tools = options.powertools ? { powertools: options.powertools } : {};
  const http = { localMode: true, ...tools };
  const sweeper = createExpirySweeperHandler(deps, tools);
  const statusChange = createExecutionStatusChangeHandler(deps, tools);
  const digester = createAuditDigestHandler(deps, tools);
  const taskHandlers = Object.fromEntries(
    TASK_FUNCTIONS.map((name) => [name, TASK_HANDLER_FACTORIES[name](deps, tools)]),
  ) as Record<TaskFunction, LambdaHandler>;
  // The early revoke the API asks for runs in the revoke task's handler, as on AWS.
  const revoker = localRevoker(taskHandlers[EARLY_REVOKE_FUNCTION]);
  return {
    http: {
      // Read at each call: the composition may still set fields (the public URL once the server listens).
      api: createApiHandler(() => ({ ...deps, revoker }), http),
      'approval-links': createApprovalLinksHandler(deps, http),
      credentials: createCredentialsHandler(deps, http),
    },
    tasks: Object.fromEntries(
      TASK_FUNCTIONS.map((name): [TaskFunction, TaskHandler] => [
        name,
        (input) => invokeLocally(name, (context) => taskHandlers[name](input, context)),
      ]),
    ) as Record<TaskFunction, TaskHandler>,
    async sweep() {
      const event = sweeperEvent(options.reconcile ?? 'hourly');
      await invokeLocally('expiry-sweeper', (context) => sweeper(event, context));
    },
    async digest() {
      await invokeLocally('audit-digest', (context) => digester(scheduledEvent(), context));
    },
    async executionStatusChange(event) {
      await invokeLocally('execution-status-change', (context) => statusChange(event, context));
    },
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
