import { spawn } from 'node:child_process';
import type { Credentials } from '../../functions/application/ports.js';
import { UsageError } from '../client.js';
import { type Command, type CommandContext, printResult } from '../command.js';
import { facts, relativeTime } from '../output.js';
import { requestPath } from './requests.js';

export function fetchCredentials(context: CommandContext, id: string): Promise<Credentials> {
  return context.client.get<Credentials>(requestPath(id, 'credentials'));
}

/** The client's own environment variables, so the password never appears in argv (visible in `ps`). */
export function clientEnvironment(creds: Credentials): Record<string, string> {
  if (creds.engine === 'postgres') {
    const sslmode = sslModeOf(creds.uri);
    return {
      PGHOST: creds.host,
      PGPORT: String(creds.port),
      PGDATABASE: creds.database,
      PGUSER: creds.username,
      PGPASSWORD: creds.password,
      ...(sslmode ? { PGSSLMODE: sslmode } : {}),
    };
  }
  // The mysql/mariadb client reads host, port and password from these; it reads no user or database
  // from the environment (it would log in as the OS user), so those go on its command line: mysqlArgs.
  return {
    MYSQL_HOST: creds.host,
    MYSQL_TCP_PORT: String(creds.port),
    MYSQL_PWD: creds.password,
  };
}

/** The mysql/mariadb client's arguments: who and which database, never the password. */
export function mysqlArgs(creds: Credentials): string[] {
  return [`--user=${creds.username}`, creds.database];
}

/** The lines `creds --env` prints: `export` lines to eval, and for MySQL the command that uses them. */
export function envLines(creds: Credentials): string[] {
  const exports = Object.entries(clientEnvironment(creds)).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
  if (creds.engine === 'postgres') return exports;
  return [
    ...exports,
    `export JITDB_MYSQL_USER=${shellQuote(creds.username)} JITDB_MYSQL_DATABASE=${shellQuote(creds.database)}`,
    '# the client takes the user and database from its command line:',
    '# mysql --user="$JITDB_MYSQL_USER" "$JITDB_MYSQL_DATABASE"   (or mariadb …)',
  ];
}

/** A command line that logs in as printed: the password in the client's environment, not its argv. */
export function mysqlCommandLine(creds: Credentials, program = 'mysql'): string {
  return [
    `MYSQL_PWD=${shellQuote(creds.password)}`,
    program,
    `--host=${creds.host}`,
    `--port=${creds.port}`,
    ...mysqlArgs(creds).map(shellQuote),
  ].join(' ');
}

function sslModeOf(uri: string): string | undefined {
  try {
    return new URL(uri).searchParams.get('sslmode') ?? undefined;
  } catch {
    return undefined;
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export const credsCommand: Command = {
  name: 'creds',
  summary: 'fetch fresh credentials for an active grant',
  description: [
    'Fetch fresh credentials for an active grant: the fields, a URI for drivers and, for MySQL, a command',
    'line for the mysql/mariadb client (which does not take mysql:// URIs). --env prints `export` lines',
    'for the client to read (eval "$(jitdb creds <id> --env)").',
  ].join('\n'),
  args: ['<id>'],
  options: {
    uri: {
      type: 'boolean',
      help: 'print only the URI (postgres://… for psql and drivers, mysql://… for drivers)',
    },
    env: { type: 'boolean', help: "print the client's environment variables as shell export lines" },
  },
  examples: [
    'jitdb creds 01m83wct6xdqfgphc3n8h1hz1k',
    'eval "$(jitdb creds 01m83wct6xdqfgphc3n8h1hz1k --env)"',
  ],
  async run(context, input) {
    if (input.boolean('uri') && input.boolean('env')) throw new UsageError('choose one of --uri and --env');
    const creds = await fetchCredentials(context, input.arg(0));
    if (input.boolean('uri')) context.output.out(creds.uri);
    else if (input.boolean('env')) context.output.out(envLines(creds).join('\n'));
    else
      printResult(context, creds, () =>
        facts([
          ['host', creds.host],
          ['port', creds.port],
          ['database', creds.database],
          ['username', creds.username],
          ['password', creds.password],
          ['uri', creds.engine === 'mysql' ? `${creds.uri}   (for drivers)` : creds.uri],
          ['client', creds.engine === 'mysql' ? mysqlCommandLine(creds) : undefined],
          ['grant expires', `${creds.expiresAt} (${relativeTime(creds.expiresAt)})`],
          ['login valid until', creds.credentialExpiresAt],
        ]),
      );
    return 0;
  },
};

export const connectCommand: Command = {
  name: 'connect',
  summary: 'open psql or mysql with fresh credentials',
  args: ['<id>', '[-- client-args...]'],
  options: {},
  examples: [
    'jitdb connect 01m83wct6xdqfgphc3n8h1hz1k',
    'jitdb connect 01m83wct6xdqfgphc3n8h1hz1k -- -c "select 1"',
  ],
  async run(context, input) {
    const [id = '', ...extra] = input.positionals;
    const creds = await fetchCredentials(context, id);
    // MariaDB 11 ships `mariadb` alone; MySQL ships `mysql`: the first one installed is used.
    const programs = creds.engine === 'postgres' ? ['psql'] : ['mysql', 'mariadb'];
    // Only non-secret facts on the command line; the password travels in the environment.
    const args = creds.engine === 'postgres' ? extra : [...mysqlArgs(creds), ...extra];
    if (!context.config.json) {
      context.output.err(
        `connecting as ${creds.username} to ${creds.host}:${creds.port}/${creds.database} (grant expires ${relativeTime(creds.expiresAt)})`,
      );
    }
    return runClient(context, programs, args, clientEnvironment(creds), id);
  },
};

/** Runs the first of `programs` that is installed, with the terminal; resolves with its exit code. */
function runClient(
  context: CommandContext,
  programs: readonly string[],
  args: string[],
  env: Record<string, string>,
  id: string,
  all: readonly string[] = programs,
): Promise<number> {
  const [program, ...fallbacks] = programs;
  if (program === undefined) return Promise.resolve(1);
  return new Promise<number>((resolve) => {
    const child = spawn(program, args, { stdio: 'inherit', env: { ...context.env, ...env } });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' && fallbacks.length > 0) {
        resolve(runClient(context, fallbacks, args, env, id, all));
        return;
      }
      context.output.err(
        error.code === 'ENOENT'
          ? `${all.join(' or ')} is not installed or not on PATH; use \`jitdb creds ${id}\` with your own client`
          : `could not start ${program}: ${error.message}`,
      );
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
