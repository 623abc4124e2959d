import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { DynamoAuditLog } from '../functions/adapters/dynamodb-audit.js';
import { createDocumentClient, createDynamoDbClient } from '../functions/adapters/dynamodb-client.js';
import { DynamoDigestStore } from '../functions/adapters/dynamodb-digests.js';
import { DynamoRequestStore } from '../functions/adapters/dynamodb-requests.js';
import { createTables } from '../functions/adapters/dynamodb-tables.js';
import { ephemeralFileSigner, fileSigner } from '../functions/adapters/file-signer.js';
import { createProvisioners, type ProvisionerFactory } from '../functions/adapters/provisioners.js';
import { hostPortEndpoints } from '../functions/adapters/rds-endpoint.js';
import { type AdminCredentialsSource, StaticAdminCredentials } from '../functions/adapters/secrets-admin.js';
import { TargetUnavailableError } from '../functions/domain/errors.js';
import type { Policy } from '../functions/domain/policy-schema.js';
import type { ReconcileMode } from '../functions/domain/use-cases/expiry-sweeper.js';
import { earlyRevokeInput, type WorkflowHandlerName } from '../functions/domain/workflow-io.js';
import { createHandler as createApiHandler } from '../functions/handlers/api.js';
import { createHandler as createApprovalLinksHandler } from '../functions/handlers/approval-links.js';
import { createHandler as createAuditDigestHandler } from '../functions/handlers/audit-digest.js';
import { createHandler as createCredentialsHandler } from '../functions/handlers/credentials.js';
import { createHandler as createEvaluatePolicyHandler } from '../functions/handlers/evaluate-policy.js';
import { createHandler as createExecutionStatusChangeHandler } from '../functions/handlers/execution-status-change.js';
import { createHandler as createExpirySweeperHandler } from '../functions/handlers/expiry-sweeper.js';
import { createHandler as createGrantHandler } from '../functions/handlers/grant.js';
import { createHandler as createRecordOutcomeHandler } from '../functions/handlers/record-outcome.js';
import { createHandler as createRequestApprovalHandler } from '../functions/handlers/request-approval.js';
import { createHandler as createRevokeHandler } from '../functions/handlers/revoke.js';
import type { Deps, Metrics, Revoker, Workflow } from '../functions/ports.js';
import { loadPolicyFile, PolicyFileError } from '../functions/shared/config.js';
import { cryptoIds } from '../functions/shared/ids.js';
import { type HandlerPowertools, logger } from '../functions/shared/powertools.js';
import { DynamoDbLocalError, startDynamoDbLocal } from './dynamodb-local.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { type HttpHandlers, PortInUseError, startHttpServer } from './http-server.js';
import { invokeLocally } from './invocations.js';
import { findMariadb, startMariadb } from './mariadb.js';
import { OutboxMailer } from './outbox.js';
import {
  openStateDir,
  readState,
  releaseStateDir,
  type StateDir,
  StateDirLockedError,
  writeState,
} from './state-dir.js';
import {
  type ExecutionStatusChangeEvent,
  handlersByState,
  LocalWorkflow,
  type TaskHandler,
} from './workflow-runner.js';

export const DEMO_DATABASE = 'demo';
export const DEFAULT_PG_PORT = 54329;
const SAMPLE_DATA = fileURLToPath(new URL('./sample-data.sql', import.meta.url));
const MYSQL_SAMPLE_DATA = fileURLToPath(new URL('./sample-data-mysql.sql', import.meta.url));
/** The demo-mysql target's port in examples/policy.yaml. */
export const DEFAULT_MYSQL_PORT = 33069;

export interface RuntimeOptions {
  /** HTTP port; default 3000, 0 picks a free one. */
  port?: number;
  policyFile: string;
  /** Nothing on disk: DynamoDB in memory, a throw-away PostgreSQL, no outbox file. */
  ephemeral?: boolean;
  /** Default .jitdb */
  stateDir?: string;
  /** A PostgreSQL superuser URL to use instead of starting the embedded server (JITDB_PG_URL). */
  pgUrl?: string;
  /** Port of the embedded PostgreSQL; default 54329, 0 picks a free one. */
  pgPort?: number;
  /** An admin URL for MySQL/MariaDB targets (JITDB_MYSQL_URL). */
  mysqlUrl?: string;
  /**
   * Without `mysqlUrl`, start a private MariaDB (local/mariadb.ts) for the policy's mysql targets when the OS
   * has MariaDB installed, on `mysqlPort`, with the demo database. `npm start` does; default false.
   */
  startMariadb?: boolean;
  /** Port of that MariaDB; default 33069 (the demo-mysql target's), 0 picks a free one. */
  mysqlPort?: number;
  /** An already running DynamoDB (Local) to use instead of starting one; tables are created if missing. */
  dynamodbEndpoint?: string;
  /** Table names are `<prefix>-requests` and `<prefix>-audit`; default `jitdb`. */
  tablePrefix?: string;
  /** The demo database created on the PostgreSQL server and filled with sample-data.sql; default `demo`. */
  demoDatabase?: string;
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
  tables: { requestsTable: string; auditTable: string; digestsTable: string };
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

/** A startup failure worth one friendly line: what went wrong and the fix. */
export class LocalStartupError extends Error {
  constructor(
    readonly code: 'POLICY_INVALID' | 'POSTGRES_FAILED' | 'DYNAMODB_FAILED' | 'MYSQL_UNREACHABLE',
    message: string,
    readonly problems: string[] = [],
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LocalStartupError';
  }
}

/** The text `npm start` prints for a failed start: one line (plus policy problems), never a stack trace. */
export function describeStartupError(error: unknown): string {
  if (error instanceof LocalStartupError) {
    return [`✗ ${error.message}`, ...error.problems.map((p) => `    ${p}`)].join('\n');
  }
  if (
    error instanceof PortInUseError ||
    error instanceof StateDirLockedError ||
    error instanceof DynamoDbLocalError
  ) {
    return `✗ ${error.message}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `✗ could not start: ${message.split('\n')[0] ?? message}`;
}

/** Starts everything `npm start` runs; stops what already started if a later part fails. */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  };

  try {
    const policy = loadPolicy(options.policyFile);
    let dir: StateDir | undefined;
    if (!options.ephemeral) {
      const opened = openStateDir(options.stateDir ?? '.jitdb');
      dir = opened;
      stops.push(async () => releaseStateDir(opened));
    }

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
    stops.push(server.close);

    const [dynamo, postgres, mysqlServer] = await Promise.all([
      startDynamo(options, dir).then((d) => {
        stops.push(d.stop);
        return d;
      }),
      startPostgres(options, dir).then((p) => {
        stops.push(p.stop);
        return p;
      }),
      startMysql(options, dir, policy, log).then((m) => {
        if ('stop' in m) stops.push(m.stop);
        return m;
      }),
    ]);
    const mysqlUrl = 'url' in mysqlServer ? mysqlServer.url : undefined;

    const tables = {
      requestsTable: `${options.tablePrefix ?? 'jitdb'}-requests`,
      auditTable: `${options.tablePrefix ?? 'jitdb'}-audit`,
      digestsTable: `${options.tablePrefix ?? 'jitdb'}-digests`,
    };
    const admin = createDynamoDbClient({ endpoint: dynamo.url, region: 'us-east-1' }, {});
    try {
      await createTables(admin, tables);
    } finally {
      admin.destroy();
    }
    await loadSampleData(postgres.url, options.demoDatabase ?? DEMO_DATABASE, dir);

    const app = await wireApplication({
      policy,
      dynamodbEndpoint: dynamo.url,
      tables,
      pgAdminUrl: postgres.url,
      ...(mysqlUrl ? { mysqlAdminUrl: mysqlUrl } : {}),
      outbox,
      publicBaseUrl: server.url,
      reconcile: options.reconcile ?? 'hourly',
      // The digest key stands in for KMS: kept beside the state, or in memory for an ephemeral run.
      ...(dir ? { digestKeyFile: join(dir.root, 'digest-key.pem') } : {}),
      log,
      powertools: localPowertools(),
    });
    lateBound.app = app;
    stops.push(app.stop);

    await app.resume();
    const sweepIntervalMs = options.sweepIntervalMs ?? 5000;
    let sweeping: Promise<void> | undefined;
    const sweep = async () => {
      // One sweep at a time: a slow revoke must not stack sweeps up.
      if (sweeping) return sweeping;
      sweeping = app.sweep().catch((error: unknown) => {
        log(`sweeper: ${error instanceof Error ? error.message : String(error)}`);
      });
      try {
        await sweeping;
      } finally {
        sweeping = undefined;
      }
    };
    const timer = setInterval(() => void sweep(), sweepIntervalMs);
    stops.push(async () => {
      clearInterval(timer);
      await sweeping;
    });
    const digestIntervalMs = options.digestIntervalMs ?? 10_000;
    const digest = oneAtATime(app.digest, (error) => log(`audit digest: ${errorMessage(error)}`));
    const digestTimer = setInterval(() => void digest(), digestIntervalMs);
    stops.push(async () => {
      clearInterval(digestTimer);
      await digest.running();
    });

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
              'url' in mysqlServer
                ? `  mysql      ${redact(mysqlServer.url)}   ${mysqlServer.describe}`
                : `  mysql      ${mysqlServer.missing}`,
            ]
          : []),
        `  sweeper    every ${sweepIntervalMs / 1000}s`,
        `  digests    every ${digestIntervalMs / 1000}s, signed with ${dir ? join(dir.root, 'digest-key.pem') : 'an in-memory key'}`,
        ...(dir ? [`  state      ${dir.root}`] : ['  state      ephemeral (nothing kept)']),
      ],
      sweep,
      digest,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function loadPolicy(file: string): Policy {
  try {
    return loadPolicyFile(file);
  } catch (error) {
    if (error instanceof PolicyFileError) {
      throw new LocalStartupError(
        'POLICY_INVALID',
        `policy file ${file} is not valid — fix these and start again (check with: npm run jitdb -- policy check ${file}):`,
        error.problems,
        error,
      );
    }
    throw error;
  }
}

interface StartedPart {
  url: string;
  describe: string;
  stop(): Promise<void>;
}

async function startDynamo(options: RuntimeOptions, dir: StateDir | undefined): Promise<StartedPart> {
  if (options.dynamodbEndpoint) {
    return { url: options.dynamodbEndpoint, describe: '(given)', stop: async () => undefined };
  }
  const started = await startDynamoDbLocal({ ...(dir ? { dataDir: dir.dynamodb } : {}) });
  return {
    url: started.url,
    describe: dir ? `(DynamoDB Local, ${dir.dynamodb})` : '(DynamoDB Local, in memory)',
    stop: started.stop,
  };
}

async function startPostgres(options: RuntimeOptions, dir: StateDir | undefined): Promise<StartedPart> {
  if (options.pgUrl) {
    await assertReachable(options.pgUrl);
    return { url: options.pgUrl, describe: '(JITDB_PG_URL)', stop: async () => undefined };
  }
  const port = options.pgPort ?? DEFAULT_PG_PORT;
  try {
    const started = await startEmbeddedPostgres({
      ...(port === 0 ? {} : { port }),
      ...(dir ? { dataDir: dir.postgres, persistent: true } : { persistent: false }),
    });
    return {
      url: started.url,
      describe: dir ? `(embedded, ${dir.postgres})` : '(embedded, throw-away)',
      stop: started.stop,
    };
  } catch (error) {
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    throw new LocalStartupError(
      'POSTGRES_FAILED',
      `PostgreSQL will not start (${first}) — free port ${port}, delete ${dir?.postgres ?? 'the data dir'} to start afresh, or set JITDB_PG_URL to a server of yours`,
      [],
      error,
    );
  }
}

/**
 * The MySQL/MariaDB server for the policy's mysql targets: JITDB_MYSQL_URL's, or a private MariaDB with the
 * demo database when asked and installed. Never fatal: without one, mysql targets refuse to grant and the
 * banner says why.
 */
async function startMysql(
  options: RuntimeOptions,
  dir: StateDir | undefined,
  policy: Policy,
  log: (line: string) => void,
): Promise<StartedPart | { missing: string }> {
  if (options.mysqlUrl) {
    return { url: options.mysqlUrl, describe: '(JITDB_MYSQL_URL)', stop: async () => undefined };
  }
  const notConfigured = 'not configured: mysql targets fail to grant until JITDB_MYSQL_URL is set';
  if (!options.startMariadb || !policy.targets.some((t) => t.engine === 'mysql')) {
    return { missing: notConfigured };
  }
  const binaries = findMariadb();
  if (!binaries) {
    return {
      missing: `not started: MariaDB is not installed (apt-get install mariadb-server, or brew install mariadb), or set JITDB_MYSQL_URL`,
    };
  }
  const port = options.mysqlPort ?? DEFAULT_MYSQL_PORT;
  try {
    const started = await startMariadb({ binaries, port, ...(dir ? { dir: dir.mysql } : {}) });
    const database = options.demoDatabase ?? DEMO_DATABASE;
    try {
      await loadMysqlSampleData(started.url, database);
    } catch (error) {
      await started.stop();
      throw error;
    }
    return {
      url: started.url,
      describe: `${dir ? `(MariaDB, ${dir.mysql})` : '(MariaDB, throw-away)'}, database ${database}`,
      stop: started.stop,
    };
  } catch (error) {
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    log(`mysql: MariaDB did not start: ${first}`);
    return {
      missing: `not started (${first.slice(0, 120)}): free port ${port}, delete ${dir?.mysql ?? 'its data dir'}, or set JITDB_MYSQL_URL`,
    };
  }
}

/** The demo database on MariaDB, created and filled once (sample-data-mysql.sql, safe to re-run). */
async function loadMysqlSampleData(adminUrl: string, database: string): Promise<void> {
  const admin = await mysql.createConnection({ uri: adminUrl, multipleStatements: true, charset: 'utf8mb4' });
  try {
    const [rows] = await admin.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [
      database,
    ]);
    if (Array.isArray(rows) && rows.length > 0) return;
    await admin.query(`CREATE DATABASE ${mysql.escapeId(database)} CHARACTER SET utf8mb4`);
    await admin.query(`USE ${mysql.escapeId(database)}`);
    await admin.query(readFileSync(MYSQL_SAMPLE_DATA, 'utf8'));
  } finally {
    await admin.end();
  }
}

async function assertReachable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new LocalStartupError(
      'POSTGRES_FAILED',
      `JITDB_PG_URL ${redact(url)} does not answer (${error instanceof Error ? error.message : String(error)}) — start that server or unset JITDB_PG_URL to use the embedded one`,
      [],
      error,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates database `demo` with customers and orders, once (remembered in state.json; the SQL is idempotent). */
async function loadSampleData(adminUrl: string, database: string, dir: StateDir | undefined): Promise<void> {
  const state = dir ? readState(dir) : {};
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  let created = false;
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
      created = true;
    }
  } finally {
    await admin.end();
  }
  if (!created && state.sampleDataLoadedAt) return;
  const demoUrl = new URL(adminUrl);
  demoUrl.pathname = `/${encodeURIComponent(database)}`;
  const demo = new pg.Client({ connectionString: demoUrl.toString() });
  demo.on('error', () => undefined);
  await demo.connect();
  try {
    await demo.query(readFileSync(SAMPLE_DATA, 'utf8'));
  } finally {
    await demo.end();
  }
  if (dir) writeState(dir, { ...state, sampleDataLoadedAt: new Date().toISOString() });
}

/** A URL without its password, for printing. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unprintable url)';
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

interface WiringOptions {
  policy: Policy;
  dynamodbEndpoint: string;
  tables: { requestsTable: string; auditTable: string; digestsTable: string };
  /** The digest key's PEM file, made on first use; absent: a key in memory. */
  digestKeyFile?: string;
  pgAdminUrl: string;
  mysqlAdminUrl?: string;
  outbox: OutboxMailer;
  publicBaseUrl: string;
  reconcile: ReconcileMode;
  log: (line: string) => void;
  powertools: HandlerPowertools;
}

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
function localMetrics(log: (line: string) => void): Metrics & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    counts,
    count(name, value = 1) {
      counts.set(name, (counts.get(name) ?? 0) + value);
      if (/Failed|Errors?$|Mismatch$/.test(name)) log(`metric ${name} +${value}`);
    },
  };
}

const LOCAL_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:access-request';

async function wireApplication(options: WiringOptions): Promise<WiredApplication> {
  const document = createDocumentClient(
    createDynamoDbClient({ endpoint: options.dynamodbEndpoint, region: 'us-east-1' }, {}),
  );
  const provisioners: ProvisionerFactory = createProvisioners({
    admin: localAdminCredentials(options.pgAdminUrl, options.mysqlAdminUrl),
    endpoints: hostPortEndpoints,
    region: 'us-east-1',
  });
  const policy = options.policy;
  const workflowRef: { current?: Workflow } = {};
  const deps: Deps = {
    clock: { now: () => new Date() },
    ids: cryptoIds(),
    requests: new DynamoRequestStore({ client: document, ...options.tables }),
    audit: new DynamoAuditLog({ client: document, ...options.tables }),
    provisioners,
    mailer: options.outbox,
    workflow: {
      start: (id, input) => required(workflowRef.current).start(id, input),
      sendTaskSuccess: (token, output) => required(workflowRef.current).sendTaskSuccess(token, output),
      sendTaskFailure: (token, error, cause) =>
        required(workflowRef.current).sendTaskFailure(token, error, cause),
      stop: (requestId, cause) => required(workflowRef.current).stop(requestId, cause),
    },
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
  const handlers = createHandlers(deps, { reconcile: options.reconcile, powertools: options.powertools });
  const workflow = createWorkflow(handlers, options.log);
  workflowRef.current = workflow.workflow;
  return {
    deps,
    http: handlers.http,
    resume: () => resumeRequests(deps, options.log),
    sweep: handlers.sweep,
    digest: handlers.digest,
    async stop() {
      await workflow.stop();
      await provisioners.close();
      document.destroy();
    },
  };
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('the local workflow is not wired yet');
  return value;
}

/** Executions live in the runner's memory: a restart re-starts those of requests still waiting or approved. */
async function resumeRequests(deps: Deps, log: (line: string) => void): Promise<void> {
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

/** The handlers the runtime calls: HTTP ones by route-table name, workflow tasks, sweeper, status change. */
export interface LocalHandlers {
  http: HttpHandlers;
  tasks: Record<WorkflowHandlerName, TaskHandler>;
  sweep(): Promise<void>;
  digest(): Promise<void>;
  executionStatusChange(event: ExecutionStatusChangeEvent): Promise<void>;
}

function createWorkflow(
  handlers: LocalHandlers,
  log: (line: string) => void,
): { workflow: LocalWorkflow; stop(): Promise<void> } {
  const workflow = new LocalWorkflow({
    stateMachineArn: LOCAL_STATE_MACHINE_ARN,
    handlers: handlersByState(handlers.tasks),
    onListenerError: (error) => log(`execution status change: ${errorMessage(error)}`),
  });
  // FAILED / TIMED_OUT / ABORTED executions revoke, as the EventBridge rule does on AWS.
  const unsubscribe = workflow.onStatusChange((event) => handlers.executionStatusChange(event));
  return {
    workflow,
    async stop() {
      // A shutdown aborts executions; that must not revoke grants the next start will still honour.
      unsubscribe();
      await workflow.close();
    },
  };
}

/** `run` wrapped so calls never overlap (a call during a run joins it), failures reported, not thrown. */
function oneAtATime(
  run: () => Promise<void>,
  onError: (error: unknown) => void,
): (() => Promise<void>) & { running(): Promise<void> | undefined } {
  let current: Promise<void> | undefined;
  const call = async () => {
    current ??= run()
      .catch(onError)
      .finally(() => {
        current = undefined;
      });
    return current;
  };
  return Object.assign(call, { running: () => current });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The same handler factories Lambda uses, given the local Deps; HTTP ones honour the local identity. */
export function createHandlers(
  deps: Deps,
  options: { reconcile?: ReconcileMode; powertools?: HandlerPowertools } = {},
): LocalHandlers {
  const tools = options.powertools ? { powertools: options.powertools } : {};
  const http = { localMode: true, ...tools };
  const task =
    (
      name: WorkflowHandlerName,
      handler: (event: unknown, context: Context) => Promise<unknown>,
    ): TaskHandler =>
    (input) =>
      invokeLocally(name, (context) => handler(input, context));
  const sweeper = createExpirySweeperHandler(deps, tools);
  const statusChange = createExecutionStatusChangeHandler(deps, tools);
  const digester = createAuditDigestHandler(deps, tools);
  const revoke = createRevokeHandler(deps, tools);
  // As on AWS, the API runs an early revoke in the revoke function (a synchronous invoke), not in itself.
  const revoker: Revoker = {
    revokeEarly: async (requestId, by) => {
      const input = earlyRevokeInput(requestId, by);
      await invokeLocally('revoke', (context) => revoke(input, context));
    },
  };
  return {
    http: {
      // Read at each call: the composition may still set fields (the public URL once the server listens).
      api: createApiHandler(() => ({ ...deps, revoker }), http),
      'approval-links': createApprovalLinksHandler(deps, http),
      credentials: createCredentialsHandler(deps, http),
    },
    tasks: {
      'evaluate-policy': task('evaluate-policy', createEvaluatePolicyHandler(deps, tools)),
      'request-approval': task('request-approval', createRequestApprovalHandler(deps, tools)),
      grant: task('grant', createGrantHandler(deps, tools)),
      revoke: task('revoke', revoke),
      'record-outcome': task('record-outcome', createRecordOutcomeHandler(deps, tools)),
    },
    async sweep() {
      const reconcile = options.reconcile ?? 'hourly';
      // The schedule's event says nothing (hourly); any other mode is passed the way an operator would invoke it.
      const event = reconcile === 'hourly' ? scheduledEvent() : { ...scheduledEvent(), reconcile };
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

/** What the EventBridge schedule rule sends the sweeper. */
function scheduledEvent() {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event' as const,
    source: 'aws.events' as const,
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/jitdb-expiry-sweeper'],
    detail: {},
  };
}

/**
 * The handlers' own Powertools, instead of the Lambda singletons: the domain counts metrics in memory
 * (localMetrics), so the EMF flush after each invocation prints nothing; INFO lines are dropped too, unless
 * POWERTOOLS_LOG_LEVEL asks for them.
 */
export function localPowertools(): HandlerPowertools {
  return {
    logger: logger.createChild(process.env.POWERTOOLS_LOG_LEVEL ? {} : { logLevel: 'WARN' }),
    metrics: new UnpublishedMetrics({ namespace: 'JitDbAccess' }),
  };
}

class UnpublishedMetrics extends PowertoolsMetrics {
  override publishStoredMetrics(): this {
    this.clearMetrics();
    return this;
  }
}
