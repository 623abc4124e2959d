import pg from 'pg';
import { createDynamoDbClient } from '../functions/adapters/dynamodb-client.js';
import { createTables } from '../functions/adapters/dynamodb-tables.js';
import { isLoopbackHost } from '../functions/domain/policy-connection.js';
import type { Policy } from '../functions/domain/policy-schema.js';
import { DEMO_DATABASE, loadMysqlSampleData } from './demo-data.js';
import { startDynamoDbLocal } from './dynamodb-local.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { findMariadb, startMariadb } from './mariadb.js';
import { LocalStartupError } from './startup-error.js';
import type { StateDir } from './state-dir.js';

export const DEFAULT_PG_PORT = 54329;
/** The demo-mysql target's port in examples/policy.yaml. */
export const DEFAULT_MYSQL_PORT = 33069;

/** Which servers the runtime starts and which it is given. */
export interface ServerOptions {
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
}

/** DynamoDB, PostgreSQL and (when there is one) MySQL, each started or given. */
export interface Servers {
  dynamo: StartedPart;
  postgres: StartedPart;
  mysql: StartedPart | { missing: string };
}

/** Starts the three servers at once; `keep` is given each one's stop as soon as it runs. */
export async function startServers(
  options: ServerOptions,
  dir: StateDir | undefined,
  policy: Policy,
  log: (line: string) => void,
  keep: (stop: () => Promise<void>) => void,
): Promise<Servers> {
  const [dynamo, postgres, mysql] = await Promise.all([
    startDynamo(options, dir).then((d) => {
      keep(d.stop);
      return d;
    }),
    startPostgres(options, dir).then((p) => {
      keep(p.stop);
      return p;
    }),
    startMysql(options, dir, policy, log).then((m) => {
      if ('stop' in m) keep(m.stop);
      return m;
    }),
  ]);
  return { dynamo, postgres, mysql };
}

/** Where a started server moved a demo port: targets at one of `from` now belong at `to`. */
export type PortMoves = Record<'postgres' | 'mysql', { from: number[]; to: number } | undefined>;

/**
 * The ports the servers this runtime started moved, when they run on another port than the policy names:
 * `--pg-port 0` (or `--mysql-port 0`) picks a free port, and a target at the demo port (54329, 33069) or at the
 * port asked for would otherwise point at nothing. Given servers (JITDB_PG_URL, JITDB_MYSQL_URL) are the
 * user's: their targets are left as written.
 */
export function portMoves(options: ServerOptions, servers: Pick<Servers, 'postgres' | 'mysql'>): PortMoves {
  return {
    postgres: options.pgUrl
      ? undefined
      : { from: [DEFAULT_PG_PORT, options.pgPort ?? DEFAULT_PG_PORT], to: portOf(servers.postgres.url) },
    mysql:
      options.mysqlUrl || !('url' in servers.mysql)
        ? undefined
        : {
            from: [DEFAULT_MYSQL_PORT, options.mysqlPort ?? DEFAULT_MYSQL_PORT],
            to: portOf(servers.mysql.url),
          },
  };
}

/** Whether a started server may sit on another port than the policy's, so its targets must wait to follow it. */
export function portsMayMove(options: ServerOptions): boolean {
  const moved = (given: string | undefined, port: number | undefined, demo: number) =>
    given === undefined && port !== undefined && port !== demo;
  return (
    moved(options.pgUrl, options.pgPort, DEFAULT_PG_PORT) ||
    moved(options.mysqlUrl, options.mysqlPort, DEFAULT_MYSQL_PORT)
  );
}

/** The port a loopback target of `engine` at `port` moves to; undefined when it stays. */
export function movedPort(
  moves: PortMoves,
  engine: 'postgres' | 'mysql',
  host: string,
  port: number,
): number | undefined {
  const move = moves[engine];
  if (!move || !isLoopbackHost(host) || port === move.to || !move.from.includes(port)) return undefined;
  return move.to;
}

/** The policy with its loopback targets moved to the servers this runtime started (see portMoves). */
export function pointTargetsAtStartedServers(
  policy: Policy,
  options: ServerOptions,
  servers: Pick<Servers, 'postgres' | 'mysql'>,
): Policy {
  const moves = portMoves(options, servers);
  return {
    ...policy,
    targets: policy.targets.map((target) => {
      const connection = target.connection;
      if (!('host' in connection)) return target;
      const port = movedPort(moves, target.engine, connection.host, connection.port);
      return port === undefined ? target : { ...target, connection: { ...connection, port } };
    }),
  };
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

export interface LocalTables {
  requestsTable: string;
  auditTable: string;
  digestsTable: string;
}

/** The tables, named by `tablePrefix`, created on the DynamoDB at `endpoint` if missing. */
export async function createLocalTables(endpoint: string, tablePrefix = 'jitdb'): Promise<LocalTables> {
  const tables = {
    requestsTable: `${tablePrefix}-requests`,
    auditTable: `${tablePrefix}-audit`,
    digestsTable: `${tablePrefix}-digests`,
  };
  const admin = createDynamoDbClient({ endpoint, region: 'us-east-1' }, {});
  try {
    await createTables(admin, tables);
  } finally {
    admin.destroy();
  }
  return tables;
}

export interface StartedPart {
  url: string;
  describe: string;
  stop(): Promise<void>;
}

async function startDynamo(options: ServerOptions, dir: StateDir | undefined): Promise<StartedPart> {
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

async function startPostgres(options: ServerOptions, dir: StateDir | undefined): Promise<StartedPart> {
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
  options: ServerOptions,
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
