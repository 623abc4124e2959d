import type { ParseArgsOptionsConfig } from 'node:util';
import { type ApiClient, UsageError } from './client.js';
import type { CliConfig } from './config.js';
import type { Output } from './output.js';

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  client: ApiClient;
  config: CliConfig;
  output: Output;
  env: NodeJS.ProcessEnv;
}

/** One flag of a command: how it parses, and what its help says. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given more than once (`--scope a --scope b`). */
  multiple?: true;
  /** The command refuses to run without it. */
  required?: true;
  /** The value's placeholder in usage and help: `--for DURATION`. */
  value?: string;
  help: string;
}

/**
 * One `jitdb` sub-command, declared once: its usage line, its `--help` text and its parsing all come from
 * this. `args` names the positionals: `<id>` required, `[file]` optional, `[args...]` any number more.
 */
export interface Command {
  name: string;
  summary: string;
  /** More than the summary, for `--help`; optional. */
  description?: string;
  args: readonly string[];
  options: Readonly<Record<string, OptionSpec>>;
  /** At least one ready-to-run example line, shown by `--help`. */
  examples: readonly [string, ...string[]];
  /** Runs with its positionals and flags already checked; returns the process exit code. */
  run(context: CommandContext, input: Invocation): Promise<number>;
}

/** What a command's `run` receives: checked positionals and typed flag accessors. */
export class Invocation {
  constructor(
    readonly positionals: readonly string[],
    private readonly values: OptionValues,
  ) {}

  /** The positional at `index`; declared required, so present. */
  arg(index: number): string {
    const value = this.positionals[index];
    if (value === undefined) throw new UsageError(`missing argument ${index + 1}`);
    return value;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === 'string' ? value : undefined;
  }

  strings(name: string): string[] {
    const value = this.values[name];
    return Array.isArray(value) ? value.filter((v) => typeof v === 'string') : [];
  }

  boolean(name: string): boolean {
    return this.values[name] === true;
  }
}

/** Options every command takes, anywhere on the line. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec & { short?: string }>> = {
  endpoint: {
    type: 'string',
    value: 'URL',
    help: 'API base URL (JITDB_ENDPOINT, ~/.config/jitdb/config.json; default http://localhost:3000)',
  },
  user: { type: 'string', value: 'EMAIL', help: 'who you are, for the local runtime only (JITDB_USER)' },
  json: { type: 'boolean', help: 'machine-readable output' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
  version: { type: 'boolean', help: "jitdb's version" },
};

/** node:util parseArgs' configuration for a set of option specs. */
export function parseConfig(
  options: Readonly<Record<string, OptionSpec & { short?: string }>>,
): ParseArgsOptionsConfig {
  return Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
    ]),
  );
}

function flagText(name: string, option: OptionSpec): string {
  return option.type === 'string' ? `--${name} ${option.value ?? 'VALUE'}` : `--${name}`;
}

/** `jitdb request <target> --level LEVEL … [--wait]`: required flags bare, optional ones in brackets. */
export function usageOf(command: Command): string {
  const flags = Object.entries(command.options).map(([name, o]) => {
    const text = `${flagText(name, o)}${o.multiple ? '…' : ''}`;
    return o.required ? text : `[${text}]`;
  });
  return ['jitdb', command.name, ...command.args, ...flags].join(' ');
}

/** `jitdb <command> --help`: usage, description, each option, the examples. */
export function helpOf(command: Command): string {
  const rows = Object.entries(command.options).map(([name, o]) => [flagText(name, o), o.help] as const);
  const globals = Object.entries(GLOBAL_OPTIONS).map(([name, o]) => flagText(name, o));
  const width = Math.max(0, ...rows.map(([flag]) => flag.length));
  return [
    `usage: ${usageOf(command)}`,
    '',
    command.description ?? command.summary,
    ...(rows.length > 0
      ? ['', 'options:', ...rows.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`)]
      : []),
    '',
    command.examples.length > 1 ? 'examples:' : 'example:',
    ...command.examples.map((e) => `  ${e}`),
    '',
    `global options (anywhere on the line): ${globals.join(', ')}`,
  ].join('\n');
}

/** Checks the positionals against `args` and the required flags; a mistake is a UsageError with the usage. */
export function checkInvocation(command: Command, input: Invocation, values: OptionValues): void {
  const required = command.args.filter((a) => !a.startsWith('[')).length;
  const unlimited = command.args.some((a) => a.endsWith('...]') || a.endsWith('...>'));
  const count = input.positionals.length;
  if (count < required || (!unlimited && count > command.args.length)) {
    throw new UsageError(`usage: ${usageOf(command)}`);
  }
  for (const [name, option] of Object.entries(command.options)) {
    if (option.required && values[name] === undefined) {
      throw new UsageError(`--${name} is required (e.g. ${command.examples[0]})`);
    }
  }
}

/** Writes a command's result: as indented JSON with --json, else as `human` renders it for a person. */
export function printResult<T>(context: CommandContext, value: T, human: (value: T) => string): void {
  context.output.out(context.config.json ? JSON.stringify(value, null, 2) : human(value));
}
