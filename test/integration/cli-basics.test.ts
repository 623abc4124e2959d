import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regionFromEndpoint } from '../../cli/config.js';
import { signForApiGateway } from '../../cli/sigv4.js';

const BIN = path.resolve('cli/bin.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function jitdb(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH, HOME: workDir, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === 'number' ? error.code : error ? 1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let workDir: string;

const GOOD_POLICY = `version: 1
targets:
  - id: demo
    engine: postgres
    environment: local
    connection: { host: 127.0.0.1, port: 54329 }
    database: demo
    credentialKind: password
    tls: disable
    levels:
      read:
        privileges:
          schemas:
            - name: public
              privileges: [SELECT]
        maxDuration: 1h
        approvers: [carol@example.com]
      write:
        privileges:
          schemas:
            - name: public
              privileges: [SELECT, INSERT, UPDATE]
        maxDuration: 30m
        approvers: [carol@example.com, dan@example.com]
        approvalsRequired: 2
`;

/** The good policy with one mistake: its read level may last past the 12h ceiling. */
const BAD_POLICY = GOOD_POLICY.replace('maxDuration: 1h\n', 'maxDuration: 13h\n');

beforeAll(() => {
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-cli-'));
  writeFileSync(path.join(workDir, 'good.yaml'), GOOD_POLICY);
  writeFileSync(path.join(workDir, 'bad.yaml'), BAD_POLICY);
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('jitdb policy check', () => {
  it('accepts a valid policy file and counts its targets and levels', async () => {
    const file = path.join(workDir, 'good.yaml');
    const result = await jitdb(['policy', 'check', file]);
    expect(result).toEqual({ code: 0, stdout: `${file}: ok (1 target(s), 2 level(s))\n`, stderr: '' });
  });

  it('prints each problem of an invalid file and exits 1', async () => {
    const file = path.join(workDir, 'bad.yaml');
    const result = await jitdb(['policy', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `${file}: 1 problem(s)\n  targets[0].levels.read.maxDuration: must be ≤ 12h\n`,
    );
  });

  it('reports a missing file as a problem, not a stack trace', async () => {
    const file = path.join(workDir, 'missing.yaml');
    const result = await jitdb(['policy', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^.*missing\.yaml: 1 problem\(s\)\n {2}.+\n$/);
    expect(result.stderr).not.toContain('    at ');
  });

  it('gives the problems as JSON with --json', async () => {
    const result = await jitdb(['policy', 'check', path.join(workDir, 'bad.yaml'), '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      ok: false,
      problems: ['targets[0].levels.read.maxDuration: must be ≤ 12h'],
    });
  });
});

describe('jitdb policy check, as a person reads it', () => {
  it("names each problem by its path in plain words, never zod's own text", async () => {
    const file = path.join(workDir, 'plain.yaml');
    writeFileSync(
      file,
      GOOD_POLICY.replace('engine: postgres', 'engine: oracle')
        .replace('    database: demo\n', '')
        .replace('maxDuration: 1h\n', 'maxDuration: 1h\n        autoApprove: { maxDuration: 2h }\n'),
    );
    const result = await jitdb(['policy', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      [
        `${file}: 3 problem(s)`,
        '  targets[0].engine: must be one of: postgres, mysql',
        '  targets[0].database: is required',
        "  targets[0].levels.read.autoApprove.maxDuration: must be ≤ the level's maxDuration (1h): auto-approve cannot grant longer than the level allows",
        '',
      ].join('\n'),
    );
  });

  it("prints what README's policy-file section shows", async () => {
    const readme = readFileSync(path.resolve('README.md'), 'utf8');
    const block = /```console\n\$ npx jitdb (policy check (\S+))\n([\s\S]*?)```/.exec(readme);
    if (!block) throw new Error('README shows no `npx jitdb policy check` console block');
    const [, command = '', file = '', shown = ''] = block;
    writeFileSync(path.join(workDir, file), BAD_POLICY);
    const result = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...command.split(' ')],
        { cwd: workDir, env: { PATH: process.env.PATH, HOME: workDir } },
        (_error, stdout, stderr) => resolve(stdout + stderr),
      );
    });
    expect(result).toBe(shown);
  });
});

describe('jitdb usage and transport errors', () => {
  it('exits 1 with the usage on an unknown flag', async () => {
    const result = await jitdb(['show', 'abc', '--bogus']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Unknown option '--bogus'");
    expect(result.stderr).toContain('usage: jitdb show <id>');
  });

  it('reads global options before the command, and names an unknown one there', async () => {
    const before = await jitdb(['--endpoint', 'http://127.0.0.1:9', '--json', 'targets']);
    expect(before.code).toBe(3);
    expect(JSON.parse(before.stdout)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    const stray = await jitdb(['--bogus', 'show', 'abc']);
    expect(stray.code).toBe(1);
    expect(stray.stderr).toMatch(/^unknown option '--bogus' before the command\n/);
    const help = await jitdb(['help', 'creds']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: jitdb creds <id> \[--uri\] \[--env\]\n/);
  });

  it('exits 1 on a malformed duration without calling the server', async () => {
    const result = await jitdb(['request', 'demo', '--level', 'read', '--for', '10q', '--reason', 'x']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: "--for '10q' is not a duration (use 30m, 4h, 1h30m)\n",
    });
  });

  it('exits 3 when the endpoint cannot be reached', async () => {
    const result = await jitdb(['targets', '--endpoint', 'http://127.0.0.1:9']);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:9 .*is `npm start` running/);
  });

  describe('against a server that refuses and fails', () => {
    let server: Server;
    let endpoint: string;
    const seen: { url: string; user: string | undefined }[] = [];

    beforeAll(async () => {
      server = createServer((req, res) => {
        seen.push({ url: req.url ?? '', user: req.headers['x-jitdb-user'] as string | undefined });
        res.setHeader('content-type', 'application/json');
        if (req.url?.startsWith('/requests/refused')) {
          res.statusCode = 403;
          res.end(
            JSON.stringify({ error: { code: 'NOT_REQUESTER', message: 'only the requester may cancel' } }),
          );
        } else {
          res.statusCode = 503;
          res.end(
            JSON.stringify({ error: { code: 'TARGET_UNAVAILABLE', message: 'target demo is unavailable' } }),
          );
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('exits 2 and prints the code and message of a 4xx, sending the local user header', async () => {
      const result = await jitdb(['cancel', 'refused'], {
        JITDB_ENDPOINT: endpoint,
        JITDB_USER: 'bob@example.com',
      });
      expect(result).toEqual({
        code: 2,
        stdout: '',
        stderr: 'refused: NOT_REQUESTER: only the requester may cancel\n',
      });
      expect(seen.at(-1)).toEqual({ url: '/requests/refused/cancel', user: 'bob@example.com' });
    });

    it('exits 3 on a 5xx', async () => {
      const result = await jitdb(['show', 'other', '--endpoint', endpoint, '--user', 'bob@example.com']);
      expect(result).toEqual({
        code: 3,
        stdout: '',
        stderr: 'error: TARGET_UNAVAILABLE: target demo is unavailable\n',
      });
    });

    it('reads the endpoint from ~/.config/jitdb/config.json when no flag or variable names one', async () => {
      const configDir = path.join(workDir, '.config', 'jitdb');
      await import('node:fs/promises').then((fs) => fs.mkdir(configDir, { recursive: true }));
      writeFileSync(
        path.join(configDir, 'config.json'),
        JSON.stringify({ endpoint, user: 'erin@example.com' }),
      );
      const result = await jitdb(['show', 'other']);
      expect(result.code).toBe(3);
      expect(seen.at(-1)).toEqual({ url: '/requests/other', user: 'erin@example.com' });
      rmSync(configDir, { recursive: true, force: true });
    });
  });
});

describe('SigV4 for API Gateway endpoints', () => {
  it('signs for execute-api in the endpoint region with the caller credentials', async () => {
    const url = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/prod/requests?view=mine');
    expect(regionFromEndpoint(url.toString())).toBe('eu-west-1');
    const headers = await signForApiGateway(
      { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
      'eu-west-1',
      {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        sessionToken: 'tok',
      },
    );
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(headers['x-amz-security-token']).toBe('tok');
    expect(Object.keys(headers).map((h) => h.toLowerCase())).not.toContain('host');
  });
});
