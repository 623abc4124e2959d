/**
 * `jitdb run` and `jitdb result` against the local runtime (real PostgreSQL, DynamoDB Local, the real ASL): a
 * statement request from a file, approved by its approver, run once, its result printed as a table, JSON and CSV.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import type { Ran } from '../support/child-output.js';
import { jitdbEnv, runJitdb } from '../support/jitdb-cli.js';
import { hostPortOf } from '../support/policies.js';
import { testRuntimeOptions } from '../support/runtime.js';
import { services } from '../support/services.js';

const suffix = randomBytes(4).toString('hex');
let workDir: string;
let runtime: Runtime | undefined;

function jitdb(user: string, args: string[]): Promise<Ran> {
  return runJitdb(args, jitdbEnv(workDir, runtime?.url, user));
}

/** Alice's `jitdb run demo --level change …`. */
function runChange(...args: string[]): Promise<Ran> {
  return jitdb('alice@example.com', ['run', 'demo', '--level', 'change', ...args]);
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-cli-statements-'));
  const { host, port } = hostPortOf(services().pgAdminUrl);
  const policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
targets:
  - id: demo
    engine: postgres
    environment: local
    connection: { host: ${host}, port: ${port} }
    database: demo_stmt_${suffix}
    credentialKind: password
    tls: disable
    levels:
      change:
        privileges: { schemas: [{ name: public, privileges: [SELECT, UPDATE] }] }
        maxDuration: 1h
        approvers: [carol@example.com]
        requests: [statement]
        statement: { timeout: 10s, maxRows: 100, retention: 1h }
`,
  );
  runtime = await startRuntime(
    testRuntimeOptions(policyFile, { tablePrefix: `clistmt-${suffix}`, demoDatabase: `demo_stmt_${suffix}` }),
  );
});

afterAll(async () => {
  await runtime?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('jitdb run and jitdb result', () => {
  it('files a statement request from a file, waits for its approval and run, and prints the result', async () => {
    const file = path.join(workDir, 'change.sql');
    writeFileSync(
      file,
      `-- refund order 104's customer note
UPDATE public.orders SET status = 'paid' WHERE id = 104;
SELECT id, status, 'a;b' AS "note, quoted" FROM public.orders WHERE id IN (103, 104) ORDER BY id;
`,
    );
    const waiting = runChange('--reason', 'fix a refund', '--file', file, '--wait');
    const runtimeNow = runtime as Runtime;
    const mail = await runtimeNow.outbox.waitFor((e) => e.to.includes('carol@example.com'), 30_000);
    const id = /\/approvals\/([0-9a-z]{26})\./.exec(mail.links.join(' '))?.[1] ?? '';
    expect(mail.text).toContain("UPDATE public.orders SET status = 'paid' WHERE id = 104");
    const approved = await jitdb('carol@example.com', ['approve', id]);
    expect(approved.code).toBe(0);
    const done = await waiting;
    // Only the progress of the wait on stderr: who was asked (when a poll saw it waiting), and the approval.
    expect(done.stderr).toContain('approved by carol@example.com (1 of 1)\n');
    expect(
      done.stderr
        .split('\n')
        .filter((line) => line !== '')
        .filter(
          (line) => line !== 'asked: carol@example.com' && line !== 'approved by carol@example.com (1 of 1)',
        ),
    ).toEqual([]);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`${id} is EXECUTED`);
    expect(done.stdout).toContain('statement 1: UPDATE, 1 row(s)');
    expect(done.stdout).toMatch(/id\s+status\s+note, quoted\n103\s+placed\s+a;b\n104\s+paid\s+a;b/);

    const csv = await jitdb('alice@example.com', ['result', id, '--csv']);
    expect(csv.stdout).toBe('id,status,"note, quoted"\n103,placed,a;b\n104,paid,a;b\n');
    const json = await jitdb('alice@example.com', ['result', id, '--json']);
    expect(JSON.parse(json.stdout).statements[0]).toEqual({ command: 'UPDATE', rowCount: 1 });
    const other = await jitdb('carol@example.com', ['result', id]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('NOT_REQUESTER');
  });

  it('lists a statement-only level as such in jitdb targets, and in GET /targets', async () => {
    const listed = await jitdb('alice@example.com', ['targets']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/\bchange \(statements only\)\s/);
    const json = await jitdb('alice@example.com', ['targets', '--json']);
    expect(
      (JSON.parse(json.stdout) as { levels: { name: string; requests: string[] }[] }[])[0]?.levels,
    ).toMatchObject([{ name: 'change', requests: ['statement'] }]);
  });

  it('refuses --sql with --file, and no SQL at all, before calling the API', async () => {
    const both = await runChange('--sql', 'SELECT 1', '--file', 'x');
    expect([both.code, both.stderr.trim()]).toEqual([1, 'give --sql or --file, not both']);
    const none = await runChange();
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('--sql');
  });
});
