import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where `npm start` keeps what survives a restart (default .jitdb/, git-ignored). */
export interface StateDir {
  root: string;
  dynamodb: string;
  postgres: string;
  /** The private MariaDB's data, socket and admin password, when npm start runs one. */
  mysql: string;
  outbox: string;
  /** Small facts about earlier runs (sample data loaded…). */
  stateFile: string;
  pidFile: string;
}

export interface RuntimeState {
  sampleDataLoadedAt?: string;
}

/** Two runtimes on one state dir would corrupt DynamoDB Local's file and fight over PostgreSQL. */
export class StateDirLockedError extends Error {
  readonly code = 'STATE_DIR_LOCKED';
  constructor(
    readonly root: string,
    readonly pid: number,
  ) {
    super(
      `${root} is in use by another jit-db-access runtime (pid ${pid}) — stop it first, or start with --state-dir <another> or --ephemeral`,
    );
    this.name = 'StateDirLockedError';
  }
}

export function stateDir(root: string): StateDir {
  const abs = path.resolve(root);
  return {
    root: abs,
    dynamodb: path.join(abs, 'dynamodb'),
    postgres: path.join(abs, 'postgres'),
    mysql: path.join(abs, 'mysql'),
    outbox: path.join(abs, 'outbox.jsonl'),
    stateFile: path.join(abs, 'state.json'),
    pidFile: path.join(abs, 'runtime.pid'),
  };
}

/** Creates the directory and takes its pid lock. Files holding secrets inside are owner-only (0600). */
export function openStateDir(root: string): StateDir {
  const dir = stateDir(root);
  mkdirSync(dir.root, { recursive: true });
  // Traversable but not listable: PostgreSQL runs as its own OS user when we are root and must reach postgres/.
  chmodSync(dir.root, 0o711);
  const holder = readPid(dir.pidFile);
  if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
    throw new StateDirLockedError(dir.root, holder);
  }
  writeFileSync(dir.pidFile, `${process.pid}\n`, { mode: 0o600 });
  return dir;
}

export function releaseStateDir(dir: StateDir): void {
  if (readPid(dir.pidFile) === process.pid) rmSync(dir.pidFile, { force: true });
}

export function readState(dir: StateDir): RuntimeState {
  try {
    const parsed: unknown = JSON.parse(readFileSync(dir.stateFile, 'utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as RuntimeState) : {};
  } catch {
    return {};
  }
}

export function writeState(dir: StateDir, state: RuntimeState): void {
  writeFileSync(dir.stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else — still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
