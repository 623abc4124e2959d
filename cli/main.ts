import { pathToFileURL } from 'node:url';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { ApiClient, ApiRefusedError, ApiUnavailableError, UsageError } from './client.js';
import type { Command } from './command.js';
import { auditCommand } from './commands/audit.js';
import { connectCommand, credsCommand } from './commands/credentials.js';
import { policyCommand } from './commands/policy.js';
import {
  approveCommand,
  cancelCommand,
  denyCommand,
  extendCommand,
  listCommand,
  requestCommand,
  reviewCommand,
  revokeCommand,
  showCommand,
} from './commands/requests.js';
import { resultCommand, runCommand } from './commands/statements.js';
import { targetsCommand } from './commands/targets.js';
import { resolveConfig } from './config.js';
import { type Output, processOutput } from './output.js';

export const COMMANDS: readonly Command[] = [
  targetsCommand,
  requestCommand,
  listCommand,
  showCommand,
  approveCommand,
  denyCommand,
  cancelCommand,
  revokeCommand,
  extendCommand,
  reviewCommand,
  runCommand,
  resultCommand,
  credsCommand,
  connectCommand,
  auditCommand,
  policyCommand,
];

const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  endpoint: { type: 'string' },
  user: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'jitdb — just-in-time database access',
    '',
    'usage: jitdb <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    '  --endpoint URL   API base URL (JITDB_ENDPOINT, ~/.config/jitdb/config.json; default http://localhost:3000)',
    '  --user EMAIL     who you are, for the local runtime only (JITDB_USER)',
    '  --json           machine-readable output',
    '',
    'exit codes: 0 ok, 1 usage/local error, 2 refused by the server, 3 server/network error,',
    '            4 request ended denied/expired/cancelled under --wait',
  ].join('\n');
}

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function main(
  argv: string[],
  output: Output = processOutput,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    output.out(help());
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    output.err(`unknown command '${name}'\n\n${help()}`);
    return 1;
  }
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      output.out(`usage: ${command.usage}`);
      return 0;
    }
    const config = resolveConfig(
      {
        endpoint: typeof values.endpoint === 'string' ? values.endpoint : undefined,
        user: typeof values.user === 'string' ? values.user : undefined,
        json: values.json === true,
      },
      env,
    );
    json = config.json;
    return await command.run({ client: new ApiClient(config), config, output, env }, positionals, values);
  } catch (error) {
    return reportError(error, output, json, command);
  }
}

function reportError(error: unknown, output: Output, json: boolean, command: Command): number {
  if (error instanceof ApiRefusedError) {
    if (json)
      output.out(
        JSON.stringify({ error: { code: error.code, message: error.message, status: error.status } }),
      );
    else output.err(`refused: ${error.code}: ${error.message}`);
    return error.exitCode;
  }
  if (error instanceof ApiUnavailableError) {
    if (json)
      output.out(JSON.stringify({ error: { code: error.code ?? 'UNAVAILABLE', message: error.message } }));
    else output.err(`error: ${error.code ? `${error.code}: ` : ''}${error.message}`);
    return error.exitCode;
  }
  if (error instanceof UsageError) {
    output.err(error.message);
    return error.exitCode;
  }
  // parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes.
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
    output.err(`${error.message}\nusage: ${command.usage}`);
    return 1;
  }
  output.err(`error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
