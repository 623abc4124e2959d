import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  clearPolicyCache,
  loadPolicyFile,
  PolicyFileError,
  parsePolicy,
  policyFromEnv,
  policyPathFromEnv,
} from '../../functions/shared/config.js';
import { validPolicy } from './support/policy-samples.js';

const dir = mkdtempSync(join(tmpdir(), 'jitdb-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => clearPolicyCache());

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyFileError);
    expect((error as PolicyFileError).code).toBe('POLICY_INVALID');
    return (error as PolicyFileError).problems;
  }
  throw new Error('expected a PolicyFileError');
}

describe('parsePolicy', () => {
  it('parses valid YAML into a validated policy with seconds for durations', () => {
    const policy = parsePolicy(stringify(validPolicy()));
    expect(policy.targets[0]?.id).toBe('app-db');
    expect(policy.targets[0]?.levels.read?.maxDuration).toBe(3600);
  });

  it('reports YAML syntax errors with line and column', () => {
    const text = 'version: 1\ntargets:\n  - id: a\n    levels: [1, 2\n  - id: b\n';
    expect(problemsOf(() => parsePolicy(text, 'broken.yaml'))).toEqual([
      'line 5, column 3: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('refuses duplicate keys with their position', () => {
    expect(problemsOf(() => parsePolicy('version: 1\nversion: 1\ntargets: []\n'))).toEqual([
      'line 2, column 1: Map keys must be unique',
    ]);
  });

  it('refuses unknown keys with their path', () => {
    const policy = validPolicy();
    const text = stringify(policy).replace('maxDuration: 1h', 'maxDuration: 1h\n        maxDurration: 2h');
    expect(text).toContain('maxDurration');
    expect(problemsOf(() => parsePolicy(text))).toEqual(['targets[0].levels.read.maxDurration: unknown key']);
  });

  it('reports schema problems with their paths, all at once', () => {
    const text = stringify(validPolicy())
      .replace('maxDuration: 1h', 'maxDuration: 13h')
      .replace('port: 5432', 'port: 0');
    expect(problemsOf(() => parsePolicy(text))).toEqual([
      'targets[0].connection.port: must be ≥ 1',
      'targets[0].levels.read.maxDuration: must be ≤ 12h',
    ]);
  });

  it('names the source, the count and the first problem in a one-line message', () => {
    try {
      parsePolicy('version: 2\ntargets: []\n', 'my-policy.yaml');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toBe(
        'my-policy.yaml is not a valid policy (2 problems: version: must be 1)',
      );
      expect((error as PolicyFileError).source).toBe('my-policy.yaml');
    }
  });

  it('refuses an empty file', () => {
    expect(problemsOf(() => parsePolicy(''))).toEqual(['(root): the file is empty']);
    expect(problemsOf(() => parsePolicy('# only a comment\n'))).toEqual(['(root): the file is empty']);
  });

  it('refuses alias bombs', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) {
      lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
    }
    const problems = problemsOf(() => parsePolicy(`${lines.join('\n')}\n`));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^\(root\): Excessive alias count/);
  });

  it('refuses a __proto__ key instead of silently dropping it', () => {
    const text = stringify(validPolicy()).replace(
      '    levels:\n      read:',
      '    levels:\n      __proto__:\n        maxDuration: 12h\n      read:',
    );
    expect(text).toContain('__proto__:');
    expect(problemsOf(() => parsePolicy(text))).toEqual(['targets[0].levels.__proto__: reserved key']);
  });

  it('refuses identifiers with NUL bytes written as YAML escapes', () => {
    const text = stringify(validPolicy()).replace('name: public', 'name: "pub\\0lic"');
    expect(problemsOf(() => parsePolicy(text))).toEqual([
      'targets[0].levels.read.privileges.schemas[0].name: must not contain control characters',
    ]);
  });
});

describe('loadPolicyFile', () => {
  it('reads and validates a file, then serves it from the cache', () => {
    const path = join(dir, 'cached.yaml');
    writeFileSync(path, stringify(validPolicy()));
    const first = loadPolicyFile(path);
    writeFileSync(path, 'not: a policy\n');
    expect(loadPolicyFile(path)).toBe(first);
    clearPolicyCache();
    expect(problemsOf(() => loadPolicyFile(path))).toEqual([
      'version: must be 1',
      'targets: is required',
      'not: unknown key',
    ]);
  });

  it('does not cache a failure', () => {
    const path = join(dir, 'later.yaml');
    writeFileSync(path, 'version: 1\n');
    expect(() => loadPolicyFile(path)).toThrow(PolicyFileError);
    writeFileSync(path, stringify(validPolicy()));
    expect(loadPolicyFile(path).version).toBe(1);
  });

  it('reports a missing file', () => {
    const path = join(dir, 'missing.yaml');
    expect(problemsOf(() => loadPolicyFile(path))).toEqual([`(file): cannot read ${path} (ENOENT)`]);
  });

  it.each([
    [
      'examples/policy.yaml',
      [
        ['demo-pg', ['read', 'write', 'admin-breakglass']],
        ['demo-mysql', ['read']],
      ],
    ],
    [
      'examples/policy.aws.yaml',
      [
        ['orders-pg', ['read', 'write', 'admin-breakglass']],
        ['billing-mysql', ['read']],
      ],
    ],
    ['examples/policy.localstack.yaml', [['demo-pg', ['read']]]],
  ])('loads the example %s', (path, expected) => {
    const policy = loadPolicyFile(path);
    expect(policy.targets.map((t) => [t.id, Object.keys(t.levels)])).toEqual(expected);
  });
});

describe('the example policies', () => {
  it('describe the local demo as documented', () => {
    const [pg, mysql] = loadPolicyFile('examples/policy.yaml').targets;
    expect(pg).toMatchObject({
      id: 'demo-pg',
      engine: 'postgres',
      environment: 'dev',
      connection: { host: '127.0.0.1', port: 54329 },
      database: 'demo',
      credentialKind: 'password',
      tls: 'disable',
    });
    expect(pg?.levels.read).toMatchObject({
      privileges: { roles: [], schemas: [{ name: 'public', tables: '*', privileges: ['SELECT'] }] },
      maxDuration: 3600,
      autoApprove: { maxDuration: 900 },
      approvers: ['alice@example.com', 'bob@example.com'],
      approvalsRequired: 1,
      approvalWindow: 3600,
      extension: { allowed: true, autoApproveUpTo: 900 },
    });
    expect(pg?.levels.write).toMatchObject({
      privileges: {
        schemas: [{ name: 'public', tables: '*', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] }],
      },
      maxDuration: 7200,
      approvers: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
      approvalsRequired: 2,
      ticketPattern: '^(INC|CHG)-[0-9]+$',
      escalation: { after: 1800, approvers: ['dba-oncall@example.com'] },
    });
    expect(pg?.levels['admin-breakglass']).toMatchObject({
      privileges: {
        roles: [],
        schemas: [{ name: 'public', tables: '*', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] }],
      },
      maxDuration: 1800,
      approvers: ['carol@example.com'],
      breakGlass: { allowed: true, notify: ['security@example.com'] },
    });
    expect(mysql).toMatchObject({
      id: 'demo-mysql',
      engine: 'mysql',
      connection: { host: '127.0.0.1', port: 33069 },
      database: 'demo',
      credentialKind: 'password',
      tls: 'disable',
    });
  });

  it('describe AWS targets with IAM authentication, admin secrets and TLS', () => {
    const targets = loadPolicyFile('examples/policy.aws.yaml').targets;
    for (const target of targets) {
      expect(target.credentialKind).toBe('iam');
      expect(target.tls).toBe('verify-full');
      expect(target.environment).toBe('production');
      expect(target.adminSecretArn).toMatch(/^arn:aws:secretsmanager:/);
    }
    expect(targets.map((t) => t.connection)).toEqual([
      { rdsInstanceId: 'orders-prod', region: 'eu-west-1' },
      { rdsClusterId: 'billing-prod', region: 'eu-west-1' },
    ]);
  });
});

describe('policyFromEnv', () => {
  it('reads JITDB_POLICY_FILE', () => {
    expect(policyFromEnv({ JITDB_POLICY_FILE: 'examples/policy.yaml' }).targets[0]?.id).toBe('demo-pg');
  });

  it('falls back to the bundled policy.json in a Lambda', () => {
    expect(policyPathFromEnv({ LAMBDA_TASK_ROOT: '/var/task' })).toBe('/var/task/policy.json');
  });

  it('refuses when nothing names a policy', () => {
    expect(problemsOf(() => policyFromEnv({}))).toEqual(['(env): JITDB_POLICY_FILE is not set']);
  });
});
