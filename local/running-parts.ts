/** What a local runtime has started, so that it stops in reverse order: on shutdown, or when a later part fails. */
import type { Policy } from '../functions/domain/policy-schema.js';
import { loadLocalPolicy } from './startup-error.js';
import { openStateDir, releaseStateDir, type StateDir } from './state-dir.js';

export class RunningParts {
  private readonly stops: (() => Promise<void>)[] = [];

  /** Remembers how to stop a part that now runs. */
  add(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  /** Stops every part, newest first; a part that fails to stop does not keep the others running. */
  readonly stopAll = async (): Promise<void> => {
    for (const stop of this.stops.reverse()) await stop().catch(() => undefined);
    this.stops.length = 0;
  };

  /** The state directory (locked until stopAll), or none for an ephemeral run. */
  stateDir(options: {
    ephemeral?: boolean | undefined;
    stateDir?: string | undefined;
  }): StateDir | undefined {
    if (options.ephemeral) return undefined;
    const opened = openStateDir(options.stateDir ?? '.jitdb');
    this.add(async () => releaseStateDir(opened));
    return opened;
  }
}

/**
 * How every local runtime begins: its log, the policy (read and checked first: a bad file starts nothing),
 * the parts to stop, and the state directory, locked until they are stopped.
 */
export function beginRuntime(options: {
  policyFile: string;
  ephemeral?: boolean | undefined;
  stateDir?: string | undefined;
  log?: ((line: string) => void) | undefined;
}): { log: (line: string) => void; policy: Policy; parts: RunningParts; dir: StateDir | undefined } {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const policy = loadLocalPolicy(options.policyFile);
  const parts = new RunningParts();
  return { log, policy, parts, dir: parts.stateDir(options) };
}
