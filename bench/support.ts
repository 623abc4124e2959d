/**
 * What several benches share: the command-line numbers they take, the options their run() takes, and the
 * one-level target they grant on.
 */
import pg from 'pg';
import type { Credentials } from '../functions/application/ports.js';
import type { PolicyInput } from '../functions/domain/policy-schema.js';

type TargetInput = PolicyInput['targets'][number];

/**
 * A password-login target without TLS whose one level, `read`, may SELECT in `schema` for up to an hour;
 * `level` adds who approves (or that nobody has to), `extra` any other target field.
 */
export function readTarget(
  where: {
    id: string;
    engine: 'postgres' | 'mysql';
    host: string;
    port: number;
    database: string;
    schema: string;
  },
  level: Partial<TargetInput['levels'][string]>,
  extra: Partial<TargetInput> = {},
): TargetInput {
  const { id, engine, host, port, database, schema } = where;
  const read = { privileges: selectOn(schema), maxDuration: '1h', ...level };
  return {
    id,
    engine,
    ...extra,
    connection: { host, port },
    database,
    credentialKind: 'password',
    tls: 'disable',
    levels: { read },
  };
}

/** SELECT on every table of one schema. */
export function selectOn(schema: string) {
  return { schemas: [{ name: schema, privileges: ['SELECT' as const] }] };
}

/**
 * The numbers a bench takes on its command line (`--flag N`), each checked by `valid`; prints `usage` and
 * exits 2 when one is not.
 */
export function numberArguments<K extends string>(
  defaults: Record<K, number>,
  valid: (values: Record<K, number>) => boolean,
  usage: string,
): Record<K, number> {
  const values = { ...defaults };
  for (const key of Object.keys(defaults) as K[]) {
    const index = process.argv.indexOf(`--${key}`);
    if (index >= 0) values[key] = Number(process.argv[index + 1]);
  }
  if (!valid(values)) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return values;
}

/** The one count a bench takes (`--flag N`, a whole number of at least 1), `fallback` without it. */
export function countArgument(flag: string, fallback: number, script: string): number {
  const values = numberArguments(
    { [flag]: fallback },
    (a) => positiveInteger(a[flag] ?? 0),
    `npx tsx ${script} [--${flag} ${fallback}]`,
  );
  return values[flag] ?? fallback;
}

/** A whole number of at least 1. */
export const positiveInteger = (n: number) => Number.isInteger(n) && n >= 1;

/** Where a bench writes its progress lines. */
export type BenchLog = (line: string) => void;

/** What a bench's run() takes: its numbers, each optional, and where its progress lines go. */
export type RunOptions<K extends string> = Partial<Record<K, number>> & { log?: BenchLog };

/** A run's numbers, each as given or its default, and its log (silent unless one is given). */
export function runSettings<K extends string>(
  options: RunOptions<NoInfer<K>>,
  defaults: Record<K, number>,
): Record<K, number> & { log: BenchLog } {
  const values = { ...defaults };
  for (const key of Object.keys(defaults) as K[]) values[key] = options[key] ?? defaults[key];
  return { ...values, log: options.log ?? (() => undefined) };
}

/** A PostgreSQL client logging in with a grant's credentials (errors after connect are the caller's to see). */
export function clientFor(
  creds: Pick<Credentials, 'host' | 'port' | 'username' | 'password' | 'database'>,
): pg.Client {
  const client = new pg.Client({
    host: creds.host,
    port: creds.port,
    user: creds.username,
    password: creds.password,
    database: creds.database,
    connectionTimeoutMillis: 5000,
  });
  client.on('error', () => undefined);
  return client;
}

/** The nearest-rank `p`-th percentile (p in percent) of `values`, unrounded; undefined when there are none. */
export function nearestRank(values: readonly number[], p: number): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
