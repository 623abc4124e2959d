import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiClient, ApiRefusedError, ApiUnavailableError, UsageError } from './client.js';
import {
  type Command,
  checkInvocation,
  GLOBAL_OPTIONS,
  helpOf,
  Invocation,
  parseConfig,
  usageOf,
} from './command.js';
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

/** This package's version: package.json is two levels up from the compiled CLI, one from the sources. */
export function packageVersion(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === 'jit-db-access' && manifest.version) return manifest.version;
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown';
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const globals = Object.entries(GLOBAL_OPTIONS).map(
    ([name, o]) => [o.type === 'string' ? `--${name} ${o.value ?? 'VALUE'}` : `--${name}`, o.help] as const,
  );
  const globalWidth = Math.max(...globals.map(([flag]) => flag.length));
  return [
    'jitdb — just-in-time database access',
    '',
    'usage: jitdb <command> [options]     (jitdb <command> --help for its options and an example)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options (anywhere on the line):',
    ...globals.map(([flag, text]) => `  ${flag.padEnd(globalWidth)}  ${text}`),
    '',
    'exit codes: 0 ok, 1 usage/local error, 2 refused by the server, 3 server/network error (or the',
    '            request ended FAILED under --wait), 4 request ended denied/expired/cancelled under --wait',
  ].join('\n');
}

/**
 * Finds the command name: the first word that is neither a global flag nor a global flag's value, so
 * `jitdb --json show <id>` and `jitdb show <id> --json` mean the same. The rest is parsed with the command.
 */
export function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    if (word === '--') break;
    if (!word.startsWith('-')) return { name: word, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
    const flag = word.replace(/^--?/, '').split('=')[0] ?? '';
    const global = Object.entries(GLOBAL_OPTIONS).find(([name, o]) => name === flag || o.short === flag);
    if (!global) break;
    if (global[1].type === 'string' && !word.includes('=')) i++;
  }
  return { name: undefined, rest: [...argv] };
}

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function main(
  argv: string[],
  output: Output = processOutput,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { name: word, rest } = splitCommand(argv);
  if (word === undefined && rest.includes('--version')) {
    output.out(packageVersion());
    return 0;
  }
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  // `jitdb help request` is `jitdb request --help`.
  const name = word === 'help' ? rest.find((r) => !r.startsWith('-')) : word;
  if (name === undefined) {
    if (wantsHelp || word === 'help') {
      output.out(help());
      return 0;
    }
    const stray = rest.find((r) => r.startsWith('-'));
    output.err(`${stray ? `unknown option '${stray}' before the command` : 'no command given'}\n\n${help()}`);
    return 1;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    output.err(`unknown command '${name}'\n\n${help()}`);
    return 1;
  }
  if (word === 'help') {
    output.out(helpOf(command));
    return 0;
  }
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...parseConfig(GLOBAL_OPTIONS), ...parseConfig(command.options) },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      output.out(helpOf(command));
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
    const input = new Invocation(positionals, values);
    checkInvocation(command, input, values);
    return await command.run({ client: new ApiClient(config), config, output, env }, input);
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
    output.err(`${error.message}\nusage: ${usageOf(command)}`);
    return 1;
  }
  output.err(`error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
