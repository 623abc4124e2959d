/**
 * grant → credentials → revoke cycles through the provisioners, next to the same SQL sent raw on one admin
 * connection, on PostgreSQL and MariaDB/MySQL. Prints medians, p99s and the ratio (target ≤ 1.5).
 *   npx tsx bench/grant-revoke.ts [--cycles 200]
 * Servers: JITDB_PG_URL / JITDB_MYSQL_URL if set, else private ones started like the test harness does.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { randomPassword } from '../functions/adapters/connection-uri.js';
import { MysqlProvisioner } from '../functions/adapters/mysql-provisioner.js';
import { definerObjects } from '../functions/adapters/mysql-revoke.js';
import { hasProcessPrivilege, sessionIds } from '../functions/adapters/mysql-sql.js';
import { PostgresProvisioner } from '../functions/adapters/postgres-provisioner.js';
import { hostPortEndpoints } from '../functions/adapters/rds-endpoint.js';
import { scramVerifier } from '../functions/adapters/scram.js';
import { StaticAdminCredentials } from '../functions/adapters/secrets-admin.js';
import { mysqlAccount, mysqlGrantStatements } from '../functions/adapters/sql-privileges-mysql.js';
import { postgresGrantStatements } from '../functions/adapters/sql-privileges-postgres.js';
import type { CredentialProvisioner, GrantSpec } from '../functions/application/ports.js';
import {
  type Privileges,
  Privileges as PrivilegesSchema,
  Target,
} from '../functions/domain/policy-schema.js';
import { startMysql } from '../test/support/mysql-server.js';
import { startPostgres } from '../test/support/postgres-server.js';
import { countArgument, nearestRank, readTarget, runSettings, selectOn } from './support.js';

export interface Timing {
  medianMs: number;
  p99Ms: number;
}

export interface EngineResult {
  cycles: number;
  provisioner: Timing;
  raw: Timing;
  /** provisioner median / raw median. */
  ratio: number;
}

export interface BenchResult {
  postgres: EngineResult;
  mysql: EngineResult;
  /** The worse of the two engines' ratios. */
  ratio: number;
}

export interface BenchOptions {
  cycles?: number;
  pgUrl?: string;
  mysqlUrl?: string;
  log?: (line: string) => void;
}

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
function newUser(): { requestId: string; dbUser: string } {
  const requestId = [...randomBytes(26)].map((b) => CROCKFORD[b % 32]).join('');
  return { requestId, dbUser: `jit_${requestId}` };
}

function timing(samples: number[]): Timing {
  return { medianMs: round(nearestRank(samples, 50) ?? 0), p99Ms: round(nearestRank(samples, 99) ?? 0) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Runs both variants alternately in small blocks so drift on a shared machine hits both alike; the raw
 * variant gets a new user name each cycle.
 */
async function measure(
  cycles: number,
  viaProvisioner: () => Promise<void>,
  rawForUser: (dbUser: string) => Promise<void>,
) {
  const raw = () => rawForUser(newUser().dbUser);
  const warmup = Math.min(10, Math.max(2, Math.floor(cycles / 10)));
  for (let i = 0; i < warmup; i++) {
    await viaProvisioner();
    await raw();
  }
  const provisionerSamples: number[] = [];
  const rawSamples: number[] = [];
  const block = 10;
  while (provisionerSamples.length < cycles) {
    const n = Math.min(block, cycles - provisionerSamples.length);
    for (const [fn, samples] of [
      [viaProvisioner, provisionerSamples],
      [raw, rawSamples],
    ] as const) {
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        await fn();
        samples.push(performance.now() - started);
      }
    }
  }
  const provisioner = timing(provisionerSamples);
  const rawTiming = timing(rawSamples);
  return {
    cycles,
    provisioner,
    raw: rawTiming,
    ratio: Math.round((provisioner.medianMs / Math.max(rawTiming.medianMs, 0.001)) * 100) / 100,
  };
}

/** The bench's target on `url`'s server, SELECT on `schema` auto-approved, and the privileges a grant on it gets. */
function benchTarget(
  id: string,
  engine: 'postgres' | 'mysql',
  url: URL,
  defaultPort: number,
  database: string,
  schema: string,
): { target: Target; privileges: Privileges } {
  const where = { id, engine, host: url.hostname, port: Number(url.port || defaultPort), database, schema };
  return {
    target: Target.parse(readTarget(where, { autoApprove: {} })),
    privileges: PrivilegesSchema.parse(selectOn(schema)),
  };
}

/** One grant → credentials → revoke cycle through a provisioner, for a new user. */
async function provisionerCycle(
  provisioner: CredentialProvisioner,
  target: Target,
  privileges: Privileges,
): Promise<void> {
  const spec: GrantSpec = {
    ...newUser(),
    target,
    privileges,
    expiresAt: new Date(Date.now() + 3600_000),
    connectionLimit: 3,
  };
  await provisioner.grant(spec);
  await provisioner.credentials(spec);
  await provisioner.revoke(spec);
}

async function benchPostgres(adminUrl: string, cycles: number): Promise<EngineResult> {
  const database = `bench_pg_${randomBytes(4).toString('hex')}`;
  const bootstrap = new pg.Client({ connectionString: adminUrl });
  await bootstrap.connect();
  await bootstrap.query(`CREATE DATABASE ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const raw = new pg.Client({ connectionString: url.toString() });
  await raw.connect();
  await raw.query('CREATE SCHEMA app; CREATE TABLE app.orders (id int); CREATE TABLE app.customers (id int)');
  const { target, privileges } = benchTarget('bench-pg', 'postgres', url, 5432, database, 'app');
  const provisioner = new PostgresProvisioner(target, {
    admin: new StaticAdminCredentials(url.toString()),
    endpoints: hostPortEndpoints,
  });
  const admin = decodeURIComponent(url.username);
  try {
    return await measure(
      cycles,
      () => provisionerCycle(provisioner, target, privileges),
      async (dbUser) => {
        const user = pg.escapeIdentifier(dbUser);
        const until = pg.escapeLiteral(new Date(Date.now() + 3600_000).toISOString());
        await raw.query(
          `CREATE ROLE ${user} LOGIN PASSWORD ${pg.escapeLiteral(await scramVerifier(randomPassword()))} VALID UNTIL ${until} CONNECTION LIMIT 3`,
        );
        for (const statement of postgresGrantStatements(privileges, dbUser, admin, database))
          await raw.query(statement);
        await raw.query(
          `ALTER ROLE ${user} PASSWORD ${pg.escapeLiteral(await scramVerifier(randomPassword()))}`,
        );
        await raw.query(`ALTER ROLE ${user} NOLOGIN`);
        await raw.query('SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1', [
          dbUser,
        ]);
        await raw.query(`DROP OWNED BY ${user}`);
        await raw.query(`DROP ROLE ${user}`);
      },
    );
  } finally {
    await provisioner.close();
    await raw.end();
    await bootstrap.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await bootstrap.end();
  }
}

async function benchMysql(adminUrl: string, cycles: number): Promise<EngineResult> {
  const database = `bench_my_${randomBytes(4).toString('hex')}`;
  const raw = await mysql.createConnection({ uri: adminUrl });
  await raw.query(`CREATE DATABASE ${mysql.escapeId(database, true)}`);
  await raw.query(`CREATE TABLE ${mysql.escapeId(database, true)}.orders (id int)`);
  const url = new URL(adminUrl);
  const { target, privileges } = benchTarget('bench-mysql', 'mysql', url, 3306, database, database);
  const provisioner = new MysqlProvisioner(target, {
    admin: new StaticAdminCredentials(adminUrl),
    endpoints: hostPortEndpoints,
  });
  try {
    return await measure(
      cycles,
      () => provisionerCycle(provisioner, target, privileges),
      async (dbUser) => {
        const account = mysqlAccount(dbUser);
        await raw.query(
          `CREATE USER ${account} IDENTIFIED BY ${mysql.escape(randomPassword())} REQUIRE NONE WITH MAX_USER_CONNECTIONS 3`,
        );
        for (const statement of mysqlGrantStatements(privileges, dbUser)) await raw.query(statement);
        await raw.query(`ALTER USER ${account} IDENTIFIED BY ${mysql.escape(randomPassword())}`);
        await raw.query(`ALTER USER ${account} ACCOUNT LOCK`);
        // The reads a correct revoke cannot skip: that the admin sees every session (PROCESS), the user's
        // sessions, and the objects it is the DEFINER of (the provisioner's own queries).
        await hasProcessPrivilege(raw);
        await sessionIds(raw, dbUser);
        await definerObjects(raw, dbUser);
        await raw.query(`DROP USER ${account}`);
      },
    );
  } finally {
    await provisioner.close();
    await raw.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(database, true)}`);
    await raw.end();
  }
}

export async function run(options: BenchOptions = {}): Promise<BenchResult> {
  const { cycles, log } = runSettings(options, { cycles: 200 });
  const pgServer = options.pgUrl
    ? { url: options.pgUrl, stop: async () => undefined }
    : await startPostgres();
  const mysqlServer = options.mysqlUrl
    ? { url: options.mysqlUrl, stop: async () => undefined }
    : await startMysql();
  try {
    const postgres = await benchPostgres(pgServer.url, cycles);
    log(formatEngine('postgres', postgres));
    const mysqlResult = await benchMysql(mysqlServer.url, cycles);
    log(formatEngine('mysql', mysqlResult));
    return { postgres, mysql: mysqlResult, ratio: Math.max(postgres.ratio, mysqlResult.ratio) };
  } finally {
    await Promise.allSettled([pgServer.stop(), mysqlServer.stop()]);
  }
}

function formatEngine(name: string, result: EngineResult): string {
  return (
    `${name.padEnd(8)} ${result.cycles} cycles  provisioner median ${result.provisioner.medianMs} ms p99 ${result.provisioner.p99Ms} ms` +
    `  raw median ${result.raw.medianMs} ms p99 ${result.raw.p99Ms} ms  ratio ${result.ratio}`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const cycles = countArgument('cycles', 200, 'bench/grant-revoke.ts');
  const result = await run({
    cycles,
    log: (line) => console.log(line),
    ...(process.env.JITDB_PG_URL ? { pgUrl: process.env.JITDB_PG_URL } : {}),
    ...(process.env.JITDB_MYSQL_URL ? { mysqlUrl: process.env.JITDB_MYSQL_URL } : {}),
  });
  console.log(`grant-revoke ratio ${result.ratio} (provisioner / raw median, worst engine; target ≤ 1.5)`);
}
