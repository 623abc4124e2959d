import { spawn } from 'node:child_process';
import type { Credentials } from '../../functions/application/ports.js';
import { UsageError } from '../client.js';
import { booleanOption, type Command, type CommandContext, printResult } from '../command.js';
import { facts, relativeTime } from '../output.js';
import { requestPath, requireId } from './requests.js';

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
  return {
    MYSQL_HOST: creds.host,
    MYSQL_TCP_PORT: String(creds.port),
    MYSQL_PWD: creds.password,
  };
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
  usage: 'jitdb creds <id> [--uri | --env]',
  options: { uri: { type: 'boolean' }, env: { type: 'boolean' } },
  async run(context, positionals, values) {
    const id = requireId(positionals, this.usage);
    if (booleanOption(values, 'uri') && booleanOption(values, 'env')) {
      throw new UsageError('choose one of --uri and --env');
    }
    const creds = await fetchCredentials(context, id);
    if (booleanOption(values, 'uri')) context.output.out(creds.uri);
    else if (booleanOption(values, 'env')) {
      context.output.out(
        Object.entries(clientEnvironment(creds))
          .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
          .join('\n'),
      );
    } else
      printResult(context, creds, () =>
        facts([
          ['host', creds.host],
          ['port', creds.port],
          ['database', creds.database],
          ['username', creds.username],
          ['password', creds.password],
          ['uri', creds.uri],
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
  usage: 'jitdb connect <id> [-- extra client arguments]',
  options: {},
  async run(context, positionals) {
    const [id, ...extra] = positionals;
    if (!id) throw new UsageError(`usage: ${this.usage}`);
    const creds = await fetchCredentials(context, id);
    const program = creds.engine === 'postgres' ? 'psql' : 'mysql';
    // Only non-secret facts on the command line; the password travels in the environment.
    const args = creds.engine === 'postgres' ? extra : ['--user', creds.username, creds.database, ...extra];
    if (!context.config.json) {
      context.output.err(
        `connecting as ${creds.username} to ${creds.host}:${creds.port}/${creds.database} (grant expires ${relativeTime(creds.expiresAt)})`,
      );
    }
    return new Promise<number>((resolve) => {
      const child = spawn(program, args, {
        stdio: 'inherit',
        env: { ...context.env, ...clientEnvironment(creds) },
      });
      child.on('error', (error: NodeJS.ErrnoException) => {
        context.output.err(
          error.code === 'ENOENT'
            ? `${program} is not installed or not on PATH; use \`jitdb creds ${id} --uri\` with your own client`
            : `could not start ${program}: ${error.message}`,
        );
        resolve(1);
      });
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  },
};
