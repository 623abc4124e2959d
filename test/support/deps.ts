/**
 * `Deps` for use-case tests on the real services: DynamoDB Local tables, a PostgreSQL database on the shared
 * server with the real provisioners, a controllable clock, and recorders for what nothing local can run
 * (Step Functions API calls, SES emails, metrics, log lines).
 */
import { randomBytes } from 'node:crypto';
import type { Context } from 'aws-lambda';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createProvisioners, type ProvisionerFactory } from '../../functions/adapters/provisioners.js';
import { hostPortEndpoints } from '../../functions/adapters/rds-endpoint.js';
import { StaticAdminCredentials } from '../../functions/adapters/secrets-admin.js';
import type {
  CredentialProvisioner,
  Deps,
  Email,
  Provisioners,
  RequestStore,
  UseCaseLog,
  Workflow,
} from '../../functions/application/ports.js';
import { WorkflowTaskClosedError } from '../../functions/application/workflow-io.js';
import { Policy, type PolicyInput } from '../../functions/domain/policy-schema.js';
import type { Identity } from '../../functions/domain/types.js';
import { cryptoIds } from '../../functions/shared/ids.js';
import { onSchema } from '../unit/support/policy-samples.js';
import { type DynamoTestTables, dynamoTestTables } from './dynamodb-local.js';
import { services } from './services.js';

export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:000000000000:stateMachine:access-request';
export const lambdaContext = { awsRequestId: 'lambda-1', functionName: 'test' } as unknown as Context;

/** A clock the test moves by hand. */
export class TestClock {
  private current: number;
  constructor(start: Date) {
    this.current = start.getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  set(at: Date | string): void {
    this.current = new Date(at).getTime();
  }
  advance(seconds: number): void {
    this.current += seconds * 1000;
  }
}

/** Stands in for the Step Functions API: records every call; tokens can be closed and outages switched on. */
export class RecordingWorkflow implements Workflow {
  readonly calls: unknown[][] = [];
  /** Tokens the workflow no longer waits on: SendTask* answers WorkflowTaskClosedError. */
  readonly closedTokens = new Set<string>();
  /** When set, every call fails as an outage would. */
  outage = false;

  private check(taskToken?: string) {
    if (this.outage) throw Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailable' });
    if (taskToken !== undefined && this.closedTokens.has(taskToken))
      throw new WorkflowTaskClosedError('TaskTimedOut');
  }
  async start(requestId: string, input: Record<string, unknown>) {
    this.calls.push(['start', requestId, input]);
    this.check();
    return { executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${requestId}` };
  }
  async sendTaskSuccess(taskToken: string, output: Record<string, unknown>) {
    this.calls.push(['sendTaskSuccess', taskToken, output]);
    this.check(taskToken);
  }
  async sendTaskFailure(taskToken: string, error: string, cause: string) {
    this.calls.push(['sendTaskFailure', taskToken, error, cause]);
    this.check(taskToken);
  }
  async stop(requestId: string, cause: string) {
    this.calls.push(['stop', requestId, cause]);
    this.check();
  }
  /** Calls of one kind, in order. */
  of(kind: string): unknown[][] {
    return this.calls.filter((c) => c[0] === kind);
  }
}

/**
 * `real` with some methods replaced: the one list of RequestStore methods that test doubles delegate, so a new
 * port method is added here once rather than in every wrapper.
 */
export function delegatingStore(real: RequestStore, overrides: Partial<RequestStore> = {}): RequestStore {
  return {
    create: (...args) => real.create(...args),
    get: (id) => real.get(id),
    transition: (...args) => real.transition(...args),
    recordEvent: (...args) => real.recordEvent(...args),
    listByStatus: (...args) => real.listByStatus(...args),
    listByRequester: (...args) => real.listByRequester(...args),
    listFlagged: (...args) => real.listFlagged(...args),
    claimPeriodic: (...args) => real.claimPeriodic(...args),
    countLinkRefusal: (...args) => real.countLinkRefusal(...args),
    linkRefusalCounts: (...args) => real.linkRefusalCounts(...args),
    ...overrides,
  };
}

/**
 * The real provisioners, with `listManagedUsers` narrowed to the users this suite created: PostgreSQL roles
 * are cluster-wide, and the reconciler must not drop other suites' users on the shared server.
 */
export function suiteScopedProvisioners(real: Provisioners, suiteUsers: Set<string>): Provisioners {
  return {
    for(target): CredentialProvisioner {
      const p = real.for(target);
      return {
        grant: async (spec) => {
          suiteUsers.add(spec.dbUser);
          return p.grant(spec);
        },
        credentials: (spec) => p.credentials(spec),
        extend: (spec, at) => p.extend(spec, at),
        revoke: (spec) => p.revoke(spec),
        check: () => p.check(),
        onceSession: (spec) => p.onceSession(spec),
        listManagedUsers: async () => (await p.listManagedUsers()).filter((u) => suiteUsers.has(u)),
      };
    },
  };
}

export interface TestDatabase {
  host: string;
  port: number;
  database: string;
  adminUrl: string;
}

/** A fresh database with `app.orders` (one row) on the shared PostgreSQL server. */
export async function createTestDatabase(pgAdminUrl: string, label: string): Promise<TestDatabase> {
  const database = `${label}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(pgAdminUrl);
  url.pathname = `/${database}`;
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  await db.query(
    'CREATE SCHEMA app; CREATE TABLE app.orders (id int primary key, total int); INSERT INTO app.orders VALUES (1, 42)',
  );
  await db.end();
  return { host: url.hostname, port: Number(url.port), database, adminUrl: pgAdminUrl };
}

/** The policy most use-case suites share: `orders` with an approved level and an auto-approved one. */
export function ordersPolicy(db: TestDatabase, port = db.port): PolicyInput {
  return {
    version: 1,
    targets: [
      {
        id: 'orders',
        engine: 'postgres',
        environment: 'production',
        connection: { host: db.host, port },
        database: db.database,
        credentialKind: 'password',
        tls: 'disable',
        levels: {
          read: {
            privileges: onSchema('app', 'SELECT'),
            maxDuration: '1h',
            approvers: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
            approvalsRequired: 2,
            approvalWindow: '1h',
            escalation: { after: '30m', approvers: ['dave@example.com'] },
            extension: { autoApproveUpTo: '15m', maxTotal: '2h' },
          },
          quick: {
            privileges: onSchema('app', 'SELECT'),
            maxDuration: '1h',
            approvers: ['alice@example.com'],
            autoApprove: { maxDuration: '30m' },
            extension: { autoApproveUpTo: '10m', maxTotal: '1h' },
          },
        },
      },
    ],
  };
}

type TargetInput = PolicyInput['targets'][number];

/** ordersPolicy with other levels on its `orders` target (same connection, database and TLS). */
export function ordersPolicyWithLevels(db: TestDatabase, levels: TargetInput['levels']): PolicyInput {
  const base = ordersPolicy(db);
  return { ...base, targets: base.targets.map((target) => ({ ...target, levels })) };
}

/** Cryptographic ids that keep every secret they mint in `secrets`, for no-leak assertions. */
export function recordingIds(secrets: string[]): Deps['ids'] {
  const ids = cryptoIds();
  return {
    requestId: ids.requestId,
    secret: () => {
      const s = ids.secret();
      secrets.push(s);
      return s;
    },
  };
}

export interface TestSystem {
  deps: Deps;
  clock: TestClock;
  workflow: RecordingWorkflow;
  outbox: Email[];
  metrics: string[];
  logs: string[];
  /** Every secret the system minted (link secrets), for no-leak assertions. */
  secrets: string[];
  suiteUsers: Set<string>;
  tables: DynamoTestTables;
  /** Replaces the policy every later call reads. */
  setPolicy(policy: PolicyInput): void;
  /** New empty tables (the sweeper reads whole tables, so sweeper tests start clean). */
  freshTables(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestSystem(options: {
  dynamodbEndpoint: string;
  db: TestDatabase;
  label: string;
  policy: PolicyInput;
  start?: Date;
}): Promise<TestSystem> {
  let tables = await dynamoTestTables(options.dynamodbEndpoint, options.label);
  const clock = new TestClock(options.start ?? new Date());
  const workflow = new RecordingWorkflow();
  const outbox: Email[] = [];
  const metrics: string[] = [];
  const logs: string[] = [];
  const secrets: string[] = [];
  const suiteUsers = new Set<string>();
  let policy = Policy.parse(options.policy);
  const real: ProvisionerFactory = createProvisioners({
    admin: new StaticAdminCredentials(options.db.adminUrl),
    endpoints: hostPortEndpoints,
    connectTimeoutMs: 2_000,
  });
  const log: UseCaseLog = {
    info: (m, x) => void logs.push(JSON.stringify({ m, x })),
    warn: (m, x) => void logs.push(JSON.stringify({ m, x })),
  };
  const deps: Deps = {
    clock,
    ids: recordingIds(secrets),
    requests: tables.requests,
    audit: tables.audit,
    provisioners: suiteScopedProvisioners(real, suiteUsers),
    mailer: { send: async (email) => void outbox.push(email) },
    workflow,
    policy: { policy: () => policy },
    metrics: { count: (name, value = 1) => void metrics.push(`${name}:${value}`) },
    publicBaseUrl: 'https://jitdb.example.com/prod',
    log,
  };
  return {
    deps,
    clock,
    workflow,
    outbox,
    metrics,
    logs,
    secrets,
    suiteUsers,
    get tables() {
      return tables;
    },
    setPolicy(next) {
      policy = Policy.parse(next);
    },
    async freshTables() {
      tables.close();
      tables = await dynamoTestTables(options.dynamodbEndpoint, options.label);
      deps.requests = tables.requests;
      deps.audit = tables.audit;
    },
    async close() {
      await real.close();
      tables.close();
    },
  };
}

/**
 * A suite's TestSystem on the shared services: a fresh database `<dbLabel>_…` with `app.orders`, tables
 * labelled `label`, and `policy` of that database (ordersPolicy unless given). The caller closes `sys`.
 */
export async function startOrdersSystem(
  label: string,
  dbLabel: string,
  policy: (db: TestDatabase) => PolicyInput = ordersPolicy,
): Promise<{ sys: TestSystem; db: TestDatabase }> {
  const { dynamodbEndpoint, pgAdminUrl } = services();
  const db = await createTestDatabase(pgAdminUrl, dbLabel);
  const sys = await startTestSystem({ dynamodbEndpoint, db, label, policy: policy(db) });
  return { sys, db };
}

/**
 * The setup of a suite on startOrdersSystem: the system started before the file's tests and closed after them.
 * Returns the system and its database, to ask for from inside hooks and tests.
 */
export function useOrdersSystem(
  label: string,
  dbLabel: string,
  policy?: (db: TestDatabase) => PolicyInput,
): { sys: () => TestSystem; db: () => TestDatabase } {
  let started: { sys: TestSystem; db: TestDatabase } | undefined;
  beforeAll(async () => {
    started = await startOrdersSystem(label, dbLabel, policy);
  });
  afterAll(async () => started?.sys.close());
  const get = () => {
    if (!started) throw new Error(`the ${label} system is used before beforeAll started it`);
    return started;
  };
  return { sys: () => get().sys, db: () => get().db };
}

export const ERIN: Identity = { principal: 'erin@example.com', email: 'erin@example.com', via: 'local' };
export const ALICE: Identity = { principal: 'alice@example.com', email: 'alice@example.com', via: 'local' };
export const BOB: Identity = { principal: 'bob@example.com', email: 'bob@example.com', via: 'local' };

/** Approval-link tokens found in emails, by recipient. */
export function linksIn(emails: readonly Email[]): Map<string, string> {
  const links = new Map<string, string>();
  for (const email of emails) {
    const match = /\/approvals\/([^\s"<]+)/.exec(email.text);
    if (match?.[1] && email.to[0]) links.set(email.to[0], match[1]);
  }
  return links;
}
