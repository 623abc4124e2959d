import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from '../../local/embedded-postgres.js';

const run = promisify(execFile);

/**
 * A MySQL-compatible admin URL for the test run: JITDB_MYSQL_URL if set; else a private MariaDB server from the
 * OS binaries in a temp dir (password auth over TCP); else 127.0.0.1:3306 as root without a password.
 */
export async function startMysql(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.JITDB_MYSQL_URL;
  if (given) return { url: given, stop: async () => undefined };
  const server = findBinary(['mariadbd', 'mysqld']);
  const installer = findBinary(['mariadb-install-db', 'mysql_install_db']);
  if (server && installer) return startPrivateMariadb(server, installer);
  const fallback = 'mysql://root@127.0.0.1:3306';
  try {
    const connection = await mysql.createConnection({ uri: fallback, connectTimeout: 5_000 });
    await connection.end();
    return { url: fallback, stop: async () => undefined };
  } catch (error) {
    throw new Error(
      'no MySQL/MariaDB for tests: install MariaDB (apt-get install mariadb-server) or set JITDB_MYSQL_URL=mysql://root:pw@host:3306',
      { cause: error },
    );
  }
}

async function startPrivateMariadb(server: string, installer: string) {
  const dir = await mkdtemp(path.join(tmpdir(), 'jitdb-mysql-'));
  const dataDir = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const port = await freePort();
  const password = randomBytes(18).toString('base64url');
  const output: string[] = [];
  let child: ChildProcess | undefined;
  try {
    await run(installer, [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--user=root',
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ]);
    const spawned = spawn(
      server,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--socket=${socket}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        '--user=root',
        `--pid-file=${path.join(dir, 'mysqld.pid')}`,
        '--skip-log-bin',
        '--innodb-buffer-pool-size=32M',
        '--max-connections=300',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
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
    const admin = await Promise.race([waitForSocket(socket, 60_000), exited]);
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
  } catch (error) {
    child?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`private MariaDB failed to start: ${String(error)}\n${output.join('')}`, {
      cause: error,
    });
  }
  const started = child;
  const stop = async () => {
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
    await rm(dir, { recursive: true, force: true });
  };
  return { url: `mysql://root:${encodeURIComponent(password)}@127.0.0.1:${port}`, stop };
}

async function waitForSocket(socketPath: string, timeoutMs: number): Promise<mysql.Connection> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (existsSync(socketPath)) {
      try {
        return await mysql.createConnection({ socketPath, user: 'root', connectTimeout: 2_000 });
      } catch (error) {
        last = error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`MariaDB did not answer on ${socketPath} within ${timeoutMs} ms: ${String(last)}`);
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
