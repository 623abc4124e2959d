import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { type Ran, spawnCollecting } from '../support/child-output.js';
import { JITDB_BIN, jitdbEnv, runJitdb } from '../support/jitdb-cli.js';
import { CAROL_READ, demoPolicyYaml, testRuntimeOptions } from '../support/runtime.js';

const suffix = randomBytes(4).toString('hex');
let workDir: string;
let fakeBin: string;
let runtime: Runtime | undefined;

function env(user: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return jitdbEnv(workDir, runtime?.url, user, extra);
}

function jitdb(user: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return runJitdb(args, env(user, extra));
}

/** `jitdb request demo --level <level> --for <duration> --reason <reason> …` as `user`. */
function request(
  user: string,
  level: string,
  duration: string,
  reason: string,
  ...extra: string[]
): Promise<Ran> {
  return jitdb(user, ['request', 'demo', '--level', level, '--for', duration, '--reason', reason, ...extra]);
}

async function requestAs(user: string, extraArgs: string[] = []): Promise<string> {
  const result = await request(user, 'read', '20m', 'cli flow', '--json', ...extraArgs);
  expect(result.code).toBe(0);
  return (JSON.parse(result.stdout) as { id: string }).id;
}

/** Alice asks for the auto-approved `quick` level. */
function requestQuick(duration: string, reason: string, ...extra: string[]): Promise<Ran> {
  return request('alice@example.com', 'quick', duration, reason, ...extra);
}

async function statusOf(id: string): Promise<string> {
  const result = await jitdb('alice@example.com', ['show', id, '--json']);
  return (JSON.parse(result.stdout) as { status: string }).status;
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-cli-flow-'));
  fakeBin = path.join(workDir, 'bin');
  mkdirSync(fakeBin);
  // A stand-in psql: prints its argv and the NAMES of the PG* variables it was given, never their values.
  writeFileSync(
    path.join(fakeBin, 'psql'),
    `#!/bin/sh
echo "argv: $*"
env | grep '^PG' | cut -d= -f1 | sort | tr '\\n' ' '
echo
`,
  );
  chmodSync(path.join(fakeBin, 'psql'), 0o755);
  const policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(
    policyFile,
    demoPolicyYaml(`demo_cli_${suffix}`, {
      read: { description: 'Read the public schema', ...CAROL_READ },
      breakglass: {
        ...CAROL_READ,
        breakGlass: '{ allowed: true, requesters: [alice@example.com], notify: [security@example.com] }',
      },
      quick: {
        ...CAROL_READ,
        autoApprove: "{ maxDuration: '30m' }",
        extension: { autoApproveUpTo: '1m', maxTotal: '2h' },
      },
    }),
  );
  runtime = await startRuntime(
    testRuntimeOptions(policyFile, { tablePrefix: `cli-${suffix}`, demoDatabase: `demo_cli_${suffix}` }),
  );
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe('jitdb against the local runtime', () => {
  it('lists targets and levels as a table', async () => {
    const result = await jitdb('alice@example.com', ['targets']);
    expect(result.code).toBe(0);
    const [header, row] = result.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual([
      'TARGET',
      'ENGINE',
      'ENV',
      'LEVEL',
      'MAX',
      'APPROVAL',
      'DESCRIPTION',
    ]);
    expect(row?.split(/\s{2,}/)).toEqual([
      'demo',
      'postgres',
      'local',
      'read',
      '1h',
      '1 approver(s)',
      'Read the public schema',
    ]);
  });

  it('requests, is approved by the approver, and connects with the password only in the environment', async () => {
    const id = await requestAs('alice@example.com');
    expect(await statusOf(id)).toBe('PENDING');

    const toApprove = await jitdb('carol@example.com', ['list', '--to-approve']);
    expect(toApprove.code).toBe(0);
    expect(toApprove.stdout).toContain(id);

    const approved = await jitdb('carol@example.com', ['approve', id, '--comment', 'ok']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toBe(`${id} is APPROVED\n`);

    const deadline = Date.now() + 20_000;
    while ((await statusOf(id)) !== 'ACTIVE') {
      if (Date.now() > deadline) throw new Error('never became ACTIVE');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }

    const uri = await jitdb('alice@example.com', ['creds', id, '--uri']);
    expect(uri.code).toBe(0);
    expect(uri.stdout).toMatch(new RegExp(`^postgres://jit_${id}:[^@]+@`));

    const connect = await jitdb('alice@example.com', ['connect', id], {
      PATH: `${fakeBin}:${process.env.PATH}`,
    });
    expect(connect.code).toBe(0);
    const [argvLine, envLine] = connect.stdout.trimEnd().split('\n');
    expect(argvLine).toBe('argv: ');
    expect(envLine?.trim().split(' ')).toEqual([
      'PGDATABASE',
      'PGHOST',
      'PGPASSWORD',
      'PGPORT',
      'PGSSLMODE',
      'PGUSER',
    ]);
    expect(connect.stderr).toContain(`connecting as jit_${id} to`);

    await runtime?.digest();
    const audit = await jitdb('alice@example.com', ['audit', id, '--verify']);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(
      /\nchain verified: \d+ events\nanchored: events 1–\d+ by digest \d+ \(.+\)\n/,
    );

    const revoked = await jitdb('alice@example.com', ['revoke', id]);
    expect(revoked.code).toBe(0);
  });

  it('flags a break-glass request for its reviewers until one acknowledges it with jitdb review', async () => {
    const created = await request(
      'alice@example.com',
      'breakglass',
      '10m',
      'outage',
      '--break-glass',
      '--json',
    );
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;

    const flagged = await jitdb('security@example.com', ['list', '--flagged']);
    expect(flagged.code).toBe(0);
    expect(flagged.stdout).toContain(id);
    expect((await jitdb('bob@example.com', ['list', '--flagged'])).stdout).not.toContain(id);
    expect((await jitdb('security@example.com', ['show', id])).stdout).toMatch(/^flagged:\s+yes$/m);

    const self = await jitdb('alice@example.com', ['review', id]);
    expect(self).toEqual({
      code: 2,
      stdout: '',
      stderr: 'refused: SELF_REVIEW_FORBIDDEN: you cannot review your own request\n',
    });

    const reviewed = await jitdb('security@example.com', ['review', id, '--comment', 'seen']);
    expect(reviewed).toEqual({ code: 0, stdout: `${id} reviewed by security@example.com\n`, stderr: '' });
    const shown = (await jitdb('security@example.com', ['show', id])).stdout;
    expect(shown).toMatch(/^reviewed:\s+security@example\.com \d{4}-\d\d-\d\dT[\d:.]+Z: seen$/m);
    expect(shown).not.toMatch(/^flagged:/m);
    expect((await jitdb('security@example.com', ['list', '--flagged'])).stdout).not.toContain(id);

    const deadline = Date.now() + 20_000;
    while ((await statusOf(id)) !== 'ACTIVE') {
      if (Date.now() > deadline) throw new Error('never became ACTIVE');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect((await jitdb('alice@example.com', ['revoke', id])).code).toBe(0);
  });

  it('connects to a target by asking for access itself: shows who was asked and the approval, then opens psql; a second connect reuses the grant', async () => {
    const { output, exited } = spawnCollecting(
      process.execPath,
      [
        JITDB_BIN,
        'connect',
        'demo',
        '--level',
        'read',
        '--for',
        '10m',
        '--reason',
        'connect asks',
        '--',
        '-c',
        'select 1',
      ],
      { env: env('dave@example.com', { PATH: `${fakeBin}:${process.env.PATH}` }) },
    );
    const deadline = Date.now() + 20_000;
    let id: string | undefined;
    while (!id || !output.stderr.includes('asked: carol@example.com')) {
      if (Date.now() > deadline) throw new Error(`no request or approvers shown: ${output.stderr}`);
      id = /request ([0-7][0-9a-hjkmnp-tv-z]{25}) is PENDING/.exec(output.stderr)?.[1];
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(output.stdout).toBe(''); // nothing connected while it waits
    const approved = await jitdb('carol@example.com', ['approve', id, '--comment', 'go']);
    expect(approved.code).toBe(0);
    expect(await exited).toBe(0);
    expect(output.stderr).toContain('approved by carol@example.com (1 of 1)');
    expect(output.stderr).toContain(`${id} is ACTIVE`);
    expect(output.stderr).toContain(`connecting as jit_${id} to`);
    expect(output.stdout.split('\n')[0]).toBe('argv: -c select 1');

    // Connecting again reuses the ACTIVE grant: no new request is filed.
    const again = await jitdb(
      'dave@example.com',
      ['connect', 'demo', '--level', 'read', '--for', '10m', '--reason', 'connect asks'],
      { PATH: `${fakeBin}:${process.env.PATH}` },
    );
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`using your active grant ${id}`);
    const mine = await jitdb('dave@example.com', ['list', '--json']);
    expect((JSON.parse(mine.stdout) as { id: string }[]).map((r) => r.id)).toEqual([id]);

    // Without --level the argument must be a request id.
    const bare = await jitdb('dave@example.com', ['connect', 'demo']);
    expect(bare.code).toBe(1); // a usage error
    expect(bare.stderr).toContain('--level');
    await jitdb('dave@example.com', ['revoke', id]);
  });

  it('exits 4 when a request waited on with --wait is denied', async () => {
    const { output, exited } = spawnCollecting(
      process.execPath,
      [JITDB_BIN, 'request', 'demo', '--level', 'read', '--for', '10m', '--reason', 'wait for me', '--wait'],
      { env: env('alice@example.com') },
    );
    const deadline = Date.now() + 20_000;
    let id: string | undefined;
    while (!id) {
      if (Date.now() > deadline) throw new Error(`no request id printed: ${output.stdout}`);
      id = /^([0-7][0-9a-hjkmnp-tv-z]{25}) is PENDING$/m.exec(output.stdout)?.[1];
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const denied = await jitdb('carol@example.com', ['deny', id, '--comment', 'not today']);
    expect(denied.code).toBe(0);
    expect(await exited).toBe(4);
    expect(output.stdout.trimEnd().split('\n').at(-1)).toBe(`${id} is DENIED`);
  });

  it('exits 2 with the code when the server refuses', async () => {
    const unknown = await request('alice@example.com', 'admin', '5m', 'x');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^refused: UNKNOWN_LEVEL: /);

    const id = await requestAs('alice@example.com');
    const notMine = await jitdb('bob@example.com', ['cancel', id]);
    expect(notMine).toEqual({
      code: 2,
      stdout: '',
      stderr: 'refused: NOT_REQUESTER: only the requester may cancel this request\n',
    });

    const cancelled = await jitdb('alice@example.com', ['cancel', id]);
    expect(cancelled).toEqual({ code: 0, stdout: `${id} is CANCELLED\n`, stderr: '' });
  });

  it("refuses a scope that is a pattern before storing anything, and takes 'schema.*' as the whole schema", async () => {
    const before = (await jitdb('alice@example.com', ['list', '--json'])).stdout;
    for (const scope of ['public.ord*', '*.orders', 'public.']) {
      const refused = await requestQuick('5m', 'scope', '--scope', scope);
      expect(refused.code, scope).toBe(1);
      expect(refused.stderr, scope).toMatch(/^error: scope '.*'/);
    }
    // The API refuses the same pattern with a code when a client sends it as a table name.
    const api = await fetch(`${runtime?.url}/requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-jitdb-user': 'alice@example.com' },
      body: JSON.stringify({
        target: 'demo',
        level: 'quick',
        duration: '5m',
        reason: 'scope',
        scope: { schemas: [{ name: 'public', tables: ['*'] }] },
      }),
    });
    expect(api.status).toBe(400);
    const body = (await api.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('SCOPE_INVALID');
    expect(body.error.message).toContain('give the schema without tables (CLI: --scope public)');
    expect((await jitdb('alice@example.com', ['list', '--json'])).stdout).toBe(before);

    const whole = await requestQuick('5m', 'all of public', '--scope', 'public.*', '--wait');
    expect(whole.code).toBe(0);
    const id = /^(\S+) is ACTIVE$/m.exec(whole.stdout)?.[1] ?? '';
    const shown = await jitdb('alice@example.com', ['show', id]);
    expect(shown.stdout).toMatch(/^scope:\s+public\.\*$/m);
    expect((await jitdb('alice@example.com', ['revoke', id])).code).toBe(0);
  });

  it('says why a request with a table the database does not have ended FAILED: under --wait, in show and in list', async () => {
    const waited = await requestQuick('5m', 'missing table', '--scope', 'public.no_such_table', '--wait');
    expect(waited.code).toBe(3);
    const last = waited.stdout.trimEnd().split('\n').at(-1) ?? '';
    const id = /^(\S+) is FAILED: /.exec(last)?.[1] ?? '';
    expect(last).toContain(
      'ScopeObjectMissingError: relation "public.no_such_table" does not exist in database',
    );
    expect(last).toContain('the scope names a table or schema the database does not have');
    const shown = await jitdb('alice@example.com', ['show', id]);
    expect(shown.stdout).toMatch(/^failed:\s+ScopeObjectMissingError: .*public\.no_such_table/m);
    expect(shown.stdout).toMatch(/^scope:\s+public\.no_such_table$/m);
    const listed = await jitdb('alice@example.com', ['list', '--status', 'failed']);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+FAILED\\s+.*failed: ScopeObjectMissingError`, 'm'));
  });

  it('shows an extension waiting for approval with its approvals, and the extended duration once approved', async () => {
    const granted = await requestQuick('10m', 'extend me', '--wait');
    const id = /^(\S+) is ACTIVE$/m.exec(granted.stdout)?.[1] ?? '';
    const asked = await jitdb('alice@example.com', ['extend', id, '--for', '20m', '--reason', 'slow']);
    expect(asked.stdout).toBe(
      `${id}: extension of 20m waiting for approval (0 of 1); follow it with: jitdb show ${id}\n`,
    );
    const waiting = (await jitdb('alice@example.com', ['show', id])).stdout;
    expect(waiting).toMatch(/^extension pending:\s+\+1200s: slow$/m);
    expect(waiting).toMatch(/^extension approvals:\s+0 of 1$/m);
    expect(waiting).toMatch(/^duration:\s+600s$/m);

    expect((await jitdb('carol@example.com', ['approve', id])).code).toBe(0);
    const deadline = Date.now() + 20_000;
    let shown = '';
    while (!/^duration:.*extended/m.test(shown)) {
      if (Date.now() > deadline) throw new Error(`extension never applied:\n${shown}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      shown = (await jitdb('alice@example.com', ['show', id])).stdout;
    }
    expect(shown).toMatch(/^duration:\s+1800s \(600s asked \+ 1200s extended\)$/m);
    expect(shown).not.toMatch(/^extension/m);
    expect((await jitdb('alice@example.com', ['revoke', id])).code).toBe(0);
  });

  it('takes global options before the command as well as after, and gives every command a --help', async () => {
    const before = await jitdb('alice@example.com', ['--json', 'targets']);
    const after = await jitdb('alice@example.com', ['targets', '--json']);
    expect(before.code).toBe(0);
    expect(before.stdout).toBe(after.stdout);
    expect((JSON.parse(before.stdout) as { id: string }[])[0]?.id).toBe('demo');
    const endpointFirst = await jitdb('alice@example.com', ['--endpoint', 'http://127.0.0.1:9', 'targets']);
    expect(endpointFirst.code).toBe(3);
    expect(endpointFirst.stderr).toContain('cannot reach http://127.0.0.1:9');

    const { COMMANDS } = await import('../../cli/main.js');
    for (const command of COMMANDS) {
      const help = await jitdb('alice@example.com', [command.name, '--help']);
      expect(help.code, command.name).toBe(0);
      const text = help.stdout;
      expect(text, command.name).toMatch(new RegExp(`^usage: jitdb ${command.name}`));
      expect(text, command.name).toMatch(/\nexamples?:\n {2}jitdb /);
      for (const option of Object.keys(command.options)) expect(text, command.name).toContain(`--${option}`);
    }
  });
});
