import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { createMysqlFixture, type MysqlFixture } from '../support/provisioner-databases.js';
import { testRuntimeOptions } from '../support/runtime.js';
import { services } from '../support/services.js';

/*
 * What a MySQL user is given works as printed with the real mysql/mariadb client: `creds --env` eval'd in a
 * shell, the `client` command line of `creds`, and `connect`. The mysql:// URI is for drivers only (the
 * client does not take URIs), and `creds` says so.
 */

const BIN = path.resolve('cli/bin.js');

function whichSync(program: string): string {
  return spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
}
/** The client binaries installed here: the test runs each one that is. */
const CLIENTS = ['mariadb', 'mysql'].filter(
  (program) => spawnSync(program, ['--version'], { stdio: 'ignore' }).status === 0,
);
const suffix = randomBytes(4).toString('hex');
let workDir: string;
let fixture: MysqlFixture;
let runtime: Runtime | undefined;

function env(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: workDir,
    JITDB_ENDPOINT: runtime?.url,
    JITDB_USER: 'alice@example.com',
  };
}

function run(
  file: string,
  args: string[],
  extra: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...env(), ...extra }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error && typeof error.code === 'number' ? error.code : error ? 1 : 0, stdout, stderr });
    });
  });
}

const jitdb = (args: string[]) => run(process.execPath, [BIN, ...args]);
/** A shell line as a user types it; `$JITDB` runs the CLI. */
const shell = (line: string) => run('sh', ['-c', `JITDB="${process.execPath} ${BIN}"; ${line}`]);

async function grantedRequest(): Promise<string> {
  const result = await jitdb([
    'request',
    'shop',
    '--level',
    'read',
    '--for',
    '10m',
    '--reason',
    'mysql client',
    '--wait',
  ]);
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return /^(\S+) is ACTIVE$/m.exec(result.stdout)?.[1] ?? '';
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-cli-mysql-'));
  fixture = await createMysqlFixture('cli');
  const admin = new URL(services().mysqlAdminUrl);
  const policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
targets:
  - id: shop
    engine: mysql
    environment: local
    connection: { host: ${admin.hostname}, port: ${admin.port} }
    database: ${fixture.app}
    credentialKind: password
    tls: disable
    levels:
      read:
        privileges: { schemas: [{ name: ${fixture.app}, privileges: [SELECT] }] }
        maxDuration: 1h
        approvers: [carol@example.com]
        autoApprove: { maxDuration: 30m }
`,
  );
  runtime = await startRuntime(
    testRuntimeOptions(
      policyFile,
      { tablePrefix: `cli-mysql-${suffix}`, demoDatabase: `demo_cli_mysql_${suffix}` },
      { mysqlUrl: services().mysqlAdminUrl },
    ),
  );
});

afterAll(async () => {
  await runtime?.stop();
  await fixture?.drop();
  rmSync(workDir, { recursive: true, force: true });
});

describe.skipIf(CLIENTS.length === 0)(
  'MySQL credentials, used as printed with the mysql/mariadb client',
  () => {
    it('creds --env, eval’d, logs the client in as the grant’s user on its database', async () => {
      const id = await grantedRequest();
      const printed = await jitdb(['creds', id, '--env']);
      expect(printed.stdout).toMatch(/^export MYSQL_HOST='.+'$/m);
      expect(printed.stdout).toMatch(
        new RegExp(`^export JITDB_MYSQL_USER='jit_${id}' JITDB_MYSQL_DATABASE='${fixture.app}'$`, 'm'),
      );
      for (const client of CLIENTS) {
        const result = await shell(
          `eval "$($JITDB creds ${id} --env)" && ${client} --user="$JITDB_MYSQL_USER" "$JITDB_MYSQL_DATABASE" -N -e 'select current_user(), database(), count(*) from orders'`,
        );
        expect(result.stderr, client).toBe('');
        expect(result.stdout.trim(), client).toBe(`jit_${id}@%\t${fixture.app}\t1`);
      }
      expect((await jitdb(['revoke', id])).code).toBe(0);
    });

    it("creds prints a client command line that works as printed, and labels the URI as the drivers'", async () => {
      const id = await grantedRequest();
      const shown = await jitdb(['creds', id]);
      expect(shown.stdout).toMatch(/^uri:\s+mysql:\/\/\S+ {3}\(for drivers\)$/m);
      const line = /^client:\s+(.+)$/m.exec(shown.stdout)?.[1] ?? '';
      expect(line).toMatch(/^MYSQL_PWD='[^']+' mysql --host=/);
      for (const client of CLIENTS) {
        const result = await shell(`${line.replace(' mysql ', ` ${client} `)} -N -e 'select current_user()'`);
        expect(result.stdout.trim(), client).toBe(`jit_${id}@%`);
      }
      const connected = await jitdb(['connect', id, '--', '-N', '-e', 'select current_user()']);
      expect(connected.stdout.trim()).toBe(`jit_${id}@%`);
      if (CLIENTS.includes('mariadb')) {
        // Only `mariadb` on PATH (MariaDB 11 installs no `mysql`): connect uses it.
        const onlyMariadb = path.join(workDir, 'only-mariadb');
        mkdirSync(onlyMariadb, { recursive: true });
        symlinkSync(whichSync('mariadb'), path.join(onlyMariadb, 'mariadb'));
        const fallback = await run(process.execPath, [BIN, 'connect', id, '--', '-N', '-e', 'select 1'], {
          PATH: onlyMariadb,
        });
        expect(fallback.stdout.trim()).toBe('1');
      }
      expect((await jitdb(['revoke', id])).code).toBe(0);
    });
  },
);
