import { spawn } from 'node:child_process';
import type { Credentials } from '../../functions/application/ports.js';
import { isRequestId } from '../../functions/domain/naming.js';
import { parseScopeArguments } from '../../functions/domain/scope.js';
import { UsageError } from '../client.js';
import { type Command, type CommandContext, type Invocation, printResult } from '../command.js';
import { facts, relativeTime } from '../output.js';
import {
  ACCESS_OPTIONS,
  myRequests,
  newRequestBody,
  type RequestView,
  requestPath,
  waitForRequest,
} from './requests.js';

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
  summary: 'open psql or mysql on a grant, asking for access first when you have none',
  description: [
    'With a request id: connect with fresh credentials of that ACTIVE grant.',
    'With a target and --level: reuse your ACTIVE grant for that target, level and scope; else wait on your',
    'request for it that is still waiting, or file one (--for, --reason, …) and wait, showing who was asked',
    'and each approval as it arrives; then connect. A use-once grant is never reused.',
  ].join('\n'),
  args: ['<id|target>', '[-- client-args...]'],
  options: ACCESS_OPTIONS,
  examples: [
    'jitdb connect 01m83wct6xdqfgphc3n8h1hz1k',
    'jitdb connect demo-pg --level read --for 30m --reason "look at an order"',
    'jitdb connect 01m83wct6xdqfgphc3n8h1hz1k -- -c "select 1"',
  ],
  async run(context, input) {
    const [first = '', ...extra] = input.positionals;
    const level = input.string('level');
    let id = first;
    if (level === undefined) {
      if (!isRequestId(first))
        throw new UsageError(
          `'${first}' is not a request id; to ask for access to a target, give its level: jitdb connect ${first} --level LEVEL --for 30m --reason "…"`,
        );
    } else {
      const granted = await grantFor(context, input, first, level);
      if (typeof granted === 'number') return granted;
      id = granted;
    }
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

/**
 * The id of an ACTIVE grant of the caller's on `target` at `level` with the flags' scope: one that exists, or
 * the one a waiting request of theirs becomes, or a new request's once approved. A number is the exit code
 * when none came to be (refused 4, failed 3).
 */
async function grantFor(
  context: CommandContext,
  input: Invocation,
  target: string,
  level: string,
): Promise<string | number> {
  const scope = JSON.stringify(parseScopeArguments(input.strings('scope')) ?? null);
  const mine = (await myRequests(context, ['ACTIVE', 'PENDING', 'APPROVED'])).filter(
    (r) =>
      r.targetId === target &&
      r.level === level &&
      JSON.stringify(r.scope ?? null) === scope &&
      r.once === undefined,
  );
  const say = (line: string) => !context.config.json && context.output.err(line);
  const active = mine.find((r) => r.status === 'ACTIVE');
  if (active) {
    say(`using your active grant ${active.id} (expires ${relativeTime(active.expiresAt ?? '')})`);
    return active.id;
  }
  let id = mine.find((r) => r.status === 'PENDING' || r.status === 'APPROVED')?.id;
  if (id) say(`waiting on your request ${id}, filed earlier`);
  else {
    if (input.string('for') === undefined)
      throw new UsageError(
        `you have no grant on ${target} at ${level}: say for how long to ask for one (--for 30m)`,
      );
    const created = await context.client.post<RequestView>('/requests', newRequestBody(input, target));
    id = created.id;
    say(`asked for ${level} on ${target}: request ${id} is ${created.status}`);
  }
  const code = await waitForRequest(context, id, { summary: 'err' });
  return code === 0 ? id : code;
}

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
