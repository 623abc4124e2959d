import type { ParseArgsOptionsConfig } from 'node:util';
import type { ApiClient } from './client.js';
import type { CliConfig } from './config.js';
import type { Output } from './output.js';

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  client: ApiClient;
  config: CliConfig;
  output: Output;
  env: NodeJS.ProcessEnv;
}

/** One `jitdb` sub-command. `run` returns the process exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: ParseArgsOptionsConfig;
  run(context: CommandContext, positionals: string[], values: OptionValues): Promise<number>;
}

/** Writes a command's result: as indented JSON with --json, else as `human` renders it for a person. */
export function printResult<T>(context: CommandContext, value: T, human: (value: T) => string): void {
  context.output.out(context.config.json ? JSON.stringify(value, null, 2) : human(value));
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function booleanOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}
