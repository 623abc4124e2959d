import { type SpawnOptionsWithoutStdio, spawn } from 'node:child_process';

/** A process's exit code and all it wrote. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A started process: `output` grows as it writes (read it while it runs); `exited` is its exit code. */
export interface Running {
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<number>;
}

/**
 * Starts `command` without blocking the event loop and collects its stdout and stderr as they come. `exited`
 * resolves once its output is all read (a signal's end is 1), and rejects when it cannot be started.
 */
export function spawnCollecting(
  command: string,
  args: readonly string[],
  options: SpawnOptionsWithoutStdio,
): Running {
  const child = spawn(command, args, options);
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  return { output, exited };
}
