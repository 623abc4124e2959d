import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_NAMES } from '../../functions/function-registry.js';
import { parsePolicyJson, readPolicyInput } from '../../functions/shared/config.js';
import { REPO_ROOT, readAssembly, synthesizeAssembly } from '../../local/assembly/cloud-assembly.js';
import type { AssemblyModel, FunctionModel, PolicyStatement } from '../../local/assembly/model.js';

const POLICY = join(REPO_ROOT, 'examples/policy.yaml');

let outdir: string;
let model: AssemblyModel;
let secretArns: Map<string, string>;
let policyFile: string;

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'jitdb-assembly-'));
  const synthesized = await synthesizeAssembly({ policyFile: POLICY, outdir });
  secretArns = synthesized.secretArns;
  policyFile = synthesized.policyFile;
  model = readAssembly(synthesized.dir);
}, 180_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

function byRegistryName(name: string): FunctionModel {
  const fn = model.functions.find((f) => f.registryName === name);
  if (fn === undefined) throw new Error(`no function ${name}`);
  return fn;
}

const tableName = (prefix: string) => model.tables.find((t) => t.logicalId.startsWith(prefix))?.tableName;

describe('synthesizeAssembly', () => {
  it('reuses the assembly when nothing changed', async () => {
    const started = Date.now();
    const again = await synthesizeAssembly({ policyFile: POLICY, outdir });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(again.dir).toBe(model.dir);
    expect([...again.secretArns]).toEqual([...secretArns]);
  });

  it("rejects with the child's error when the synth fails", async () => {
    const failing = mkdtempSync(join(tmpdir(), 'jitdb-assembly-failing-'));
    try {
      await expect(
        synthesizeAssembly({ policyFile: POLICY, outdir: failing, context: { digestEveryMinutes: 99 } }),
      ).rejects.toThrow(/cdk synth for assembly mode failed[\s\S]*digestEveryMinutes must be a whole number/);
      expect(existsSync(join(failing, 'manifest.json'))).toBe(false);
    } finally {
      rmSync(failing, { recursive: true, force: true });
    }
  }, 60_000);

  it('keeps every target and level of the local policy, adding only the local admin secrets', () => {
    const original = readPolicyInput(POLICY) as { targets: Record<string, unknown>[] };
    const derived = JSON.parse(readFileSync(policyFile, 'utf8')) as { targets: Record<string, unknown>[] };
    expect(derived.targets.map((t) => t.id)).toEqual(original.targets.map((t) => t.id));
    for (const [i, target] of derived.targets.entries()) {
      const { adminSecretArn, ...rest } = target;
      expect(rest).toEqual(original.targets[i]);
      expect(adminSecretArn).toBe(secretArns.get(String(target.id)));
    }
    expect({ ...derived, targets: [] }).toEqual({ ...original, targets: [] });
    // The project's schema accepts it, with every level of the original.
    const parsed = parsePolicyJson(readFileSync(policyFile, 'utf8'));
    for (const target of parsed.targets) {
      const source = original.targets.find((t) => t.id === target.id);
      expect(Object.keys(target.levels)).toEqual(Object.keys(source?.levels as object));
      expect(target.adminSecretArn).toMatch(
        /^arn:aws:secretsmanager:eu-west-1:000000000000:secret:jitdb-local\//,
      );
    }
  });
});

describe('readAssembly', () => {
  it('has every function of the registry, each with its registry name and a staged asset holding index.mjs', () => {
    expect(model.functions.map((f) => f.registryName).sort()).toEqual([...FUNCTION_NAMES].sort());
    for (const fn of model.functions) {
      expect(existsSync(join(fn.assetDir, 'index.mjs'))).toBe(true);
      expect(fn.assetDir.startsWith(model.dir)).toBe(true);
      expect(fn.arn).toBe(`arn:aws:lambda:eu-west-1:000000000000:function:${fn.functionName}`);
      expect(fn.handler).toBe('index.handler');
      expect(model.roles.some((r) => r.logicalId === fn.roleLogicalId)).toBe(true);
    }
  });

  it('resolves every environment variable to a plain string', () => {
    for (const fn of model.functions) {
      for (const [name, value] of Object.entries(fn.environment)) {
        expect(typeof value, `${fn.registryName} ${name}`).toBe('string');
        expect(value, `${fn.registryName} ${name}`).not.toMatch(
          /\[object Object\]|undefined|\$\{|Fn::|"Ref"/,
        );
      }
    }
  });

  it('points REQUESTS_TABLE, AUDIT_TABLE and DIGESTS_TABLE at the stateful stack tables', () => {
    expect(tableName('RequestsTable')).toBe('JitDbAccessStateful-RequestsTable');
    expect(tableName('AuditTable')).toBe('JitDbAccessStateful-AuditTable');
    for (const fn of model.functions) {
      if ('REQUESTS_TABLE' in fn.environment)
        expect(fn.environment.REQUESTS_TABLE).toBe(tableName('RequestsTable'));
      if ('AUDIT_TABLE' in fn.environment) expect(fn.environment.AUDIT_TABLE).toBe(tableName('AuditTable'));
      if ('DIGESTS_TABLE' in fn.environment)
        expect(fn.environment.DIGESTS_TABLE).toBe(tableName('DigestsTable'));
    }
    expect(byRegistryName('grant').environment.REQUESTS_TABLE).toBeDefined();
    const api = byRegistryName('api').environment;
    expect(api.STATE_MACHINE_ARN).toBe(model.stateMachine.arn);
    expect(api.REVOKE_FUNCTION_ARN).toBe(byRegistryName('revoke').arn);
    expect(model.kmsKeys.map((k) => k.arn)).toContain(api.DIGEST_KEY_ID);
    expect(api.PUBLIC_BASE_URL).toBe(
      `https://${model.api.restApiId}.execute-api.eu-west-1.amazonaws.com/prod`,
    );
  });

  it('reads the tables with their keys, indexes and TTL', () => {
    const requests = model.tables.find((t) => t.tableName === 'JitDbAccessStateful-RequestsTable');
    expect(requests?.keySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(requests?.globalSecondaryIndexes.map((i) => i.IndexName)).toContain('by-status');
    expect(requests?.timeToLiveAttribute).toBe('ttl');
    expect(model.tables).toHaveLength(3);
  });

  it('gives the state machine its definition with every Task naming one of the functions', () => {
    const definition = JSON.parse(model.stateMachine.definition) as {
      States: Record<string, { Type: string; Resource?: string; Parameters?: { FunctionName?: string } }>;
    };
    const arns = new Set(model.functions.map((f) => f.arn));
    const tasks = Object.entries(definition.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks.length).toBeGreaterThan(0);
    for (const [name, state] of tasks) {
      const target = state.Resource?.startsWith('arn:aws:states:::')
        ? state.Parameters?.FunctionName
        : state.Resource;
      expect(arns.has(String(target)), `${name}: ${String(target)}`).toBe(true);
    }
    expect(model.stateMachine.definition).not.toMatch(/\$\{[A-Za-z]+FunctionArn\}/);
    expect(model.stateMachine.arn).toBe(
      `arn:aws:states:eu-west-1:000000000000:stateMachine:${model.stateMachine.name}`,
    );
    expect(model.roles.some((r) => r.logicalId === model.stateMachine.roleLogicalId)).toBe(true);
  });

  it('maps the REST API: approval links and the OpenAPI document unauthenticated, everything else AWS_IAM', () => {
    const methods = model.api.methods;
    const links = methods.filter((m) => m.path === '/approvals/{token}');
    expect(links.map((m) => m.httpMethod).sort()).toEqual(['GET', 'POST']);
    const unauthenticated = new Set([
      'GET /approvals/{token}',
      'POST /approvals/{token}',
      'GET /openapi.json',
    ]);
    for (const method of methods) {
      const key = `${method.httpMethod} ${method.path}`;
      expect(method.authorizationType, key).toBe(unauthenticated.has(key) ? 'NONE' : 'AWS_IAM');
      expect(method.functionLogicalId, key).toBeDefined();
    }
    const linkFunction = byRegistryName('approval-links').logicalId;
    expect(links.every((m) => m.functionLogicalId === linkFunction)).toBe(true);
    expect(links[0]?.throttle).toEqual({ rateLimit: 10, burstLimit: 20 });
    const credentials = methods.find((m) => m.path === '/requests/{id}/credentials');
    expect(credentials?.functionLogicalId).toBe(byRegistryName('credentials').logicalId);
    expect(model.api.stageName).toBe('prod');
    expect(model.api.gatewayResponses.map((r) => r.responseType)).toContain('DEFAULT_4XX');
  });

  it('reads the EventBridge rules: schedules for the sweeper and digest, a status pattern for the status-change function', () => {
    const ruleFor = (name: string) =>
      model.rules.find((r) => r.targets.some((t) => t.functionLogicalId === byRegistryName(name).logicalId));
    expect(ruleFor('expiry-sweeper')?.scheduleExpression).toMatch(/^rate\(/);
    expect(ruleFor('audit-digest')?.scheduleExpression).toMatch(/^rate\(/);
    const status = ruleFor('execution-status-change');
    expect(status?.eventPattern).toMatchObject({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [model.stateMachine.arn] },
    });
    expect(model.rules.every((r) => r.state === 'ENABLED')).toBe(true);
  });

  it("lets the grant function's role read the derived admin secret of each target", () => {
    const role = model.roles.find((r) => r.logicalId === byRegistryName('grant').roleLogicalId);
    const statements = (role?.policies ?? []).flatMap((p) =>
      Array.isArray(p.document.Statement) ? p.document.Statement : [p.document.Statement],
    );
    const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    const allows = (s: PolicyStatement, action: string, resource: string) =>
      s.Effect === 'Allow' && list(s.Action).includes(action) && list(s.Resource).includes(resource);
    expect(secretArns.size).toBeGreaterThan(0);
    for (const arn of secretArns.values()) {
      expect(
        statements.some((s) => allows(s, 'secretsmanager:GetSecretValue', arn)),
        arn,
      ).toBe(true);
    }
  });

  it('reads the KMS keys and the SES sender identity', () => {
    expect(model.kmsKeys.find((k) => k.keyUsage === 'SIGN_VERIFY')?.arn).toMatch(
      /^arn:aws:kms:eu-west-1:000000000000:key\/[0-9a-f-]{36}$/,
    );
    expect(model.emailIdentities).toEqual([
      {
        identity: 'jit-db-access@example.com',
        arn: 'arn:aws:ses:eu-west-1:000000000000:identity/jit-db-access@example.com',
      },
    ]);
  });
});
