import { execFile } from 'node:child_process';
import path from 'node:path';
import type { Ran } from './child-output.js';

/** The CLI under test, run with this Node. */
export const JITDB_BIN = path.resolve('cli/bin.js');

/** The CLI's environment: `user` against `endpoint`, its files under `home`, polling fast. */
export function jitdbEnv(
  home: string,
  endpoint: string | undefined,
  user: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    JITDB_ENDPOINT: endpoint,
    JITDB_USER: user,
    JITDB_POLL_MS: '200',
    ...extra,
  };
}

/** Runs the CLI with `args` to its end (a minute at most): its exit code and output. */
export function runJitdb(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [JITDB_BIN, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({
        code: error && typeof error.code === 'number' ? error.code : error ? 1 : 0,
        stdout,
        stderr,
      });
    });
  });
}
