/** What a local runtime has started, so that it stops in reverse order: on shutdown, or when a later part fails. */
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
