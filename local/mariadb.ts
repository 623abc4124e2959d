import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from './free-port.js';
import { signalWhenParentDies } from './watchdog.js';

const run = promisify(execFile);

/**
 * A private MariaDB server from the OS's own binaries (there is no embeddable MariaDB on npm): `npm start`
 * runs one for the demo-mysql target when MariaDB is installed, and the tests run a throw-away one.
 * It listens on 127.0.0.1 only, with password logins over TCP for the admin (`root`) and no anonymous users.
 */

export interface MariadbBinaries {
  server: string;
  installer: string;
}

export interface StartedMariadb {
  /** Admin URL (root over TCP, with its password). */
  url: string;
  stop(): Promise<void>;
}

export interface MariadbOptions {
  /**
   * Where the server keeps its data, socket and the admin password (owner-only): kept across runs. Without
   * it a temp dir is used and removed at stop.
   */
  dir?: string;
  /** TCP port; 0 or absent picks a free one. */
  port?: number;
  binaries?: MariadbBinaries;
}

/** mariadbd (or mysqld) and its install-db script, from PATH or the usual sbin dirs; undefined when absent. */
export function findMariadb(): MariadbBinaries | undefined {
  const server = findBinary(['mariadbd', 'mysqld']);
  const installer = findBinary(['mariadb-install-db', 'mysql_install_db']);
  return server && installer ? { server, installer } : undefined;
}

export async function startMariadb(options: MariadbOptions = {}): Promise<StartedMariadb> {
  const binaries = options.binaries ?? findMariadb();
  if (!binaries) throw new Error('MariaDB is not installed (no mariadbd and mariadb-install-db found)');
  const persistent = options.dir !== undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'jitdb-mysql-')));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dataDir = path.join(dir, 'data');
  // A unix socket path is limited to ~107 bytes: a deep project dir gets its socket in the temp dir.
  const besideData = path.join(dir, 'mysqld.sock');
  const socket =
    besideData.length < 100
      ? besideData
      : path.join(tmpdir(), `jitdb-mysqld-${randomBytes(6).toString('hex')}.sock`);
  const passwordFile = path.join(dir, 'admin-password');
  // Its own temporary directory: internal temp tables and sort files never share /tmp with other processes,
  // whose clean-ups could remove them under a running query (seen as Errcode 2 under parallel load).
  const tmpDir = path.join(dir, 'tmp');
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  const port = options.port ? options.port : await freePort();
  const fresh = !existsSync(path.join(dataDir, 'mysql'));
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  const output: string[] = [];
  let child: ChildProcess | undefined;
  let password: string;
  try {
    if (fresh) {
      await run(binaries.installer, [
        '--no-defaults',
        `--datadir=${dataDir}`,
        ...asRoot,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
      ]);
    }
    const spawned = spawn(
      binaries.server,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--socket=${socket}`,
        `--tmpdir=${tmpDir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        ...asRoot,
        `--pid-file=${path.join(dir, 'mysqld.pid')}`,
        '--skip-log-bin',
        '--innodb-buffer-pool-size=32M',
        '--max-connections=300',
        // Per-user connection counts (information_schema.USER_STATISTICS): how use-once grants see a used login.
        '--userstat=ON',
      ],
      // Own process group: a Ctrl-C in the terminal reaches only us, and stop() shuts the server down in order.
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    child = spawned;
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      if (output.length > 200) output.shift();
    };
    spawned.stdout?.on('data', keep);
    spawned.stderr?.on('data', keep);
    const exited = new Promise<never>((_, reject) =>
      spawned.once('exit', (code) => reject(new Error(`mariadbd exited early (code ${code})`))),
    );
    exited.catch(() => undefined);
    if (fresh || !existsSync(passwordFile)) {
      password = randomBytes(18).toString('base64url');
      const admin = await Promise.race([waitForServer({ socketPath: socket, user: 'root' }, 60_000), exited]);
      try {
        // Anonymous users would shadow `jit_` users at login; root gets a password for TCP.
        for (const sql of [
          "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1'))",
          'FLUSH PRIVILEGES',
          "CREATE USER IF NOT EXISTS root@'127.0.0.1'",
          "GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION",
          "ALTER USER root@'127.0.0.1' IDENTIFIED BY ?",
          'ALTER USER root@localhost IDENTIFIED BY ?',
        ]) {
          await admin.query(sql, sql.includes('?') ? [password] : []);
        }
      } finally {
        await admin.end();
      }
      if (persistent) writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    } else {
      password = readFileSync(passwordFile, 'utf8').trim();
      const admin = await Promise.race([
        waitForServer({ socketPath: socket, user: 'root', password }, 60_000),
        exited,
      ]);
      await admin.end();
    }
  } catch (error) {
    child?.kill('SIGKILL');
    if (!persistent) await rm(dir, { recursive: true, force: true });
    throw new Error(`MariaDB failed to start: ${String(error)}\n${output.join('')}`, { cause: error });
  }
  const started = child;
  // SIGTERM: InnoDB shuts down cleanly.
  const watchdog = started.pid === undefined ? undefined : signalWhenParentDies(String(started.pid), 'TERM');
  const stop = async () => {
    watchdog?.kill();
    if (started.exitCode === null && started.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => started.kill('SIGKILL'), 20_000);
        started.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        started.kill('SIGTERM');
      });
    }
    if (!persistent) await rm(dir, { recursive: true, force: true });
  };
  return { url: `mysql://root:${encodeURIComponent(password)}@127.0.0.1:${port}`, stop };
}

async function waitForServer(
  login: { socketPath: string; user: string; password?: string },
  timeoutMs: number,
): Promise<mysql.Connection> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (existsSync(login.socketPath)) {
      try {
        return await mysql.createConnection({ ...login, connectTimeout: 2_000 });
      } catch (error) {
        last = error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`MariaDB did not answer on ${login.socketPath} within ${timeoutMs} ms: ${String(last)}`);
}

function findBinary(names: string[]): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(path.delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
    '/usr/bin',
  ];
  for (const name of names) {
    for (const dir of dirs) {
      if (dir === '') continue;
      const candidate = path.join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}
