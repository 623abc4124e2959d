import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/embedded-postgres.js';
import { findMariadb } from '../../local/mariadb.js';
import { postgresPolicyYaml } from '../support/policies.js';
import { CAROL_READ, fileLocalRequest } from '../support/runtime.js';

const MAIN = path.resolve('local/main.ts');
// The subprocess runs in a temp dir, so tsx is named by its resolved URL.
const TSX = pathToFileURL(path.resolve('node_modules/tsx/dist/loader.mjs')).href;
let workDir: string;

function npmStart(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, MAIN, ...args],
      { cwd: workDir, env: { PATH: process.env.PATH, HOME: workDir }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({
          code: error && typeof error.code === 'number' ? error.code : error ? 1 : 0,
          stdout,
          stderr,
        });
      },
    );
  });
}

const VALID_POLICY = postgresPolicyYaml({
  id: 'demo',
  host: '127.0.0.1',
  port: 54329,
  database: 'demo',
  levels: { read: CAROL_READ },
});

/** A policy's YAML lines for a demo-mysql target on `port`, its read level auto-approved. */
function demoMysqlTarget(port: number): string[] {
  return [
    '  - id: demo-mysql',
    '    engine: mysql',
    `    connection: { host: 127.0.0.1, port: ${port} }`,
    '    database: demo',
    '    credentialKind: password',
    '    tls: disable',
    '    levels:',
    '      read:',
    '        privileges: { schemas: [{ name: demo, privileges: [SELECT] }] }',
    '        maxDuration: 1h',
    '        autoApprove: {}',
  ];
}

beforeAll(() => {
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-start-'));
  writeFileSync(path.join(workDir, 'policy.yaml'), VALID_POLICY);
  writeFileSync(
    path.join(workDir, 'broken.yaml'),
    VALID_POLICY.replace('maxDuration: 1h', 'maxDuration: 13h').replace('engine: postgres', 'engine: oracle'),
  );
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('npm start refuses to start with one friendly line and the fix', () => {
  it('lists every problem of a broken policy file, without a stack trace', async () => {
    const result = await npmStart(['--policy', 'broken.yaml', '--ephemeral', '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(
      '✗ policy file broken.yaml is not valid — fix these and start again (check with: npx jitdb policy check broken.yaml):',
    );
    expect(lines.slice(1).map((l) => l.trim())).toContain(
      'targets[0].levels.read.maxDuration: must be ≤ 12h',
    );
    expect(lines.slice(1).some((l) => l.trim().startsWith('targets[0].engine:'))).toBe(true);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('says which port is taken and how to choose another', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const started = Date.now();
      const result = await npmStart(['--policy', 'policy.yaml', '--ephemeral', '--port', String(port)]);
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: `✗ port ${port} is already in use — stop whatever listens there, or start with --port <another>\n`,
      });
      // Checked before any database starts, so the answer is quick.
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('refuses a state directory another live runtime holds', async () => {
    const stateDir = path.join(workDir, 'held');
    mkdirSync(stateDir, { recursive: true });
    // This test process is alive, so its pid makes the lock current.
    writeFileSync(path.join(stateDir, 'runtime.pid'), `${process.pid}\n`);
    const result = await npmStart(['--policy', 'policy.yaml', '--state-dir', stateDir, '--port', '0']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `✗ ${stateDir} is in use by another jit-db-access runtime (pid ${process.pid}) — stop it first, or start with --state-dir <another> or --ephemeral\n`,
    });
  });

  it('rejects a malformed flag with the usage line', async () => {
    const result = await npmStart(['--port', 'abc']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "--port 'abc' is not a port\nusage: npm start -- [--assembly] [--port 3000] [--policy examples/policy.yaml] [--ephemeral] [--state-dir .jitdb] [--user you@example.com] [--sweep-interval 5s] [--pg-port 54329] [--mysql-port 33069]\n",
    );
  });
});

/** A running `npm start -- args` (local/main.ts in workDir) whose banner has printed. */
interface RunningStart {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
  /** The API's URL, from the banner. */
  api: string;
  /** SIGINT to the runtime, or to its whole process group (a terminal's Ctrl-C) when it was started detached. */
  interrupt(): void;
}

async function runningStart(
  args: string[],
  options: { ownProcessGroup?: boolean; viaNpm?: boolean } = {},
): Promise<RunningStart> {
  // viaNpm: `npm start -- args` itself, from the repository (its paths must then be absolute).
  const child = options.viaNpm
    ? spawn('npm', ['start', '--', ...args], {
        cwd: path.resolve('.'),
        env: { PATH: process.env.PATH, HOME: workDir, npm_config_update_notifier: 'false' },
      })
    : spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
        cwd: workDir,
        env: { PATH: process.env.PATH, HOME: workDir },
        ...(options.ownProcessGroup ? { detached: true } : {}),
      });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const interrupt = () => {
    if (child.pid === undefined || child.exitCode !== null) return;
    if (options.ownProcessGroup) process.kill(-child.pid, 'SIGINT');
    else child.kill('SIGINT');
  };
  try {
    const deadline = Date.now() + 120_000;
    while (!output.stdout.includes('try this:')) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`did not start: ${output.stdout}${output.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const api = /^ {2}api {8}(http:\/\/localhost:\d+)/m.exec(output.stdout)?.[1];
    if (!api) throw new Error(`no api line in ${output.stdout}`);
    return { child, output, exited, api, interrupt };
  } catch (error) {
    interrupt();
    throw error;
  }
}

describe('npm start, for real', () => {
  it('starts DynamoDB Local and PostgreSQL, serves the API, prints where, and stops cleanly on SIGINT', async () => {
    const pgPort = await freePort();
    writeFileSync(path.join(workDir, 'real.yaml'), VALID_POLICY.replace('port: 54329', `port: ${pgPort}`));
    const run = await runningStart([
      '--policy',
      'real.yaml',
      '--ephemeral',
      '--port',
      '0',
      '--pg-port',
      String(pgPort),
    ]);
    const { api, output } = run;
    try {
      expect(output.stdout).toMatch(/^jit-db-access is running \(started in \d+\.\ds, ephemeral\)\n/);
      expect(output.stdout).toContain(`  outbox     ${api}/outbox`);
      expect(output.stdout).toMatch(
        /^ {2}dynamodb {3}http:\/\/127\.0\.0\.1:\d+ {3}\(DynamoDB Local, in memory\)$/m,
      );
      expect(output.stdout).toContain(
        `  postgres   postgres://postgres:***@127.0.0.1:${pgPort}/postgres   (embedded, throw-away), database demo`,
      );
      expect(output.stdout).not.toMatch(/postgres:\/\/postgres:(?!\*\*\*)/);

      const targets = await fetch(`${api}/targets`, { headers: { 'x-jitdb-user': 'alice@example.com' } });
      expect(targets.status).toBe(200);
      const body = (await targets.json()) as { targets: { id: string }[] };
      expect(body.targets.map((t) => t.id)).toEqual(['demo']);
    } finally {
      run.interrupt();
    }
    expect(await run.exited).toBe(0);
    expect(output.stdout).toContain('SIGINT: stopping…');
  });

  it.skipIf(findMariadb() === undefined)(
    'starts a private MariaDB for a mysql target (MariaDB installed), grants on its demo database, and stops everything on a terminal Ctrl-C',
    async () => {
      const pgPort = await freePort();
      const mysqlPort = await freePort();
      const policy = [
        VALID_POLICY.replace('port: 54329', `port: ${pgPort}`).trimEnd(),
        ...demoMysqlTarget(mysqlPort),
        '',
      ].join('\n');
      writeFileSync(path.join(workDir, 'mysql.yaml'), policy);
      // A kept state dir, as npm start uses: run as root, PostgreSQL's own OS user must reach it.
      chmodSync(workDir, 0o711);
      // Its own process group, as a terminal runs it: a Ctrl-C reaches the runtime and every child that
      // shares the group (the embedded PostgreSQL); DynamoDB Local and MariaDB run in groups of their own.
      const run = await runningStart(
        [
          '--policy',
          'mysql.yaml',
          '--state-dir',
          'state',
          '--port',
          '0',
          '--pg-port',
          String(pgPort),
          '--mysql-port',
          String(mysqlPort),
        ],
        { ownProcessGroup: true },
      );
      const { api, output } = run;
      try {
        const stateDir = path.join(workDir, 'state');
        expect(output.stdout).toContain(
          `  mysql      mysql://root:***@127.0.0.1:${mysqlPort}   (MariaDB, ${stateDir}/mysql), database demo`,
        );
        const headers = { 'x-jitdb-user': 'dave@example.com', 'content-type': 'application/json' };
        const id = await fileLocalRequest(api, 'dave@example.com', {
          target: 'demo-mysql',
          level: 'read',
          duration: '10m',
          reason: 'look at orders',
        });
        let status = '';
        for (let i = 0; i < 100 && status !== 'ACTIVE'; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const got = await fetch(`${api}/requests/${id}`, { headers });
          status = ((await got.json()) as { status: string }).status;
        }
        expect(status).toBe('ACTIVE');
        const credentials = await fetch(`${api}/requests/${id}/credentials`, { headers });
        const { uri } = (await credentials.json()) as { uri: string };
        const user = await mysql.createConnection(uri);
        try {
          const [rows] = await user.query('SELECT id, status FROM orders ORDER BY id');
          expect(rows).toEqual([
            { id: 101, status: 'paid' },
            { id: 102, status: 'shipped' },
            { id: 103, status: 'placed' },
            { id: 104, status: 'refunded' },
          ]);
        } finally {
          await user.end();
        }
      } finally {
        run.interrupt();
      }
      expect(await run.exited).toBe(0);
      expect(output.stdout).toContain('SIGINT: stopping…');
      // MariaDB was stopped, not orphaned.
      await expect(
        mysql.createConnection({ host: '127.0.0.1', port: mysqlPort, connectTimeout: 2_000 }),
      ).rejects.toThrow();
    },
  );

  it('npm start with --port 0 --pg-port 0 (and --mysql-port 0): the banner names the endpoint, the demo targets follow the ports chosen, and SIGINT to the npm process stops it', async () => {
    const withMysql = findMariadb() !== undefined;
    const policy = [
      VALID_POLICY.replace('approvers: [carol@example.com]', 'autoApprove: {}').trimEnd(),
      ...(withMysql ? [...demoMysqlTarget(33069)] : []),
      '',
    ].join('\n');
    const policyFile = path.join(workDir, 'free-ports.yaml');
    writeFileSync(policyFile, policy);
    expect(policy).toContain('port: 54329');
    const run = await runningStart(
      ['--policy', policyFile, '--ephemeral', '--port', '0', '--pg-port', '0', '--mysql-port', '0'],
      { viaNpm: true },
    );
    const { api, output } = run;
    try {
      expect(output.stdout).toMatch(new RegExp(`\\n {2}export JITDB_ENDPOINT=${api} JITDB_USER=\\S+\\n`));
      expect(output.stdout).toContain('  npx jitdb request demo --level read');
      const headers = { 'x-jitdb-user': 'dave@example.com', 'content-type': 'application/json' };
      for (const target of withMysql ? ['demo', 'demo-mysql'] : ['demo']) {
        const created = await fetch(`${api}/requests`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ target, level: 'read', duration: '10m', reason: 'free ports' }),
        });
        expect(created.status).toBe(201);
        const { id } = (await created.json()) as { id: string };
        let status = '';
        for (let i = 0; i < 100 && !['ACTIVE', 'FAILED'].includes(status); i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const got = await fetch(`${api}/requests/${id}`, { headers });
          status = ((await got.json()) as { status: string }).status;
        }
        expect(status, target).toBe('ACTIVE');
      }
    } finally {
      run.interrupt();
    }
    const stoppedIn = await Promise.race([
      run.exited.then(() => 'exited'),
      new Promise((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000)),
    ]);
    if (stoppedIn !== 'exited') run.child.kill('SIGKILL');
    expect(stoppedIn).toBe('exited');
    expect(output.stdout).toContain('SIGINT: stopping…');
  });
});
