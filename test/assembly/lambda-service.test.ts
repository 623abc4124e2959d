import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction, handlerEntry, PROJECT_ROOT, policyEngines } from '../../cdk/bundling.js';
import { readPolicyInput, validatePolicyData } from '../../functions/shared/config.js';
import { LocalLambdaService } from '../../local/assembly/lambda-service.js';
import type { FunctionModel } from '../../local/assembly/model.js';
import { alive, buildTiny, FAILING_SOURCE, model, TINY_SOURCE } from './lambda-fixtures.js';

/**
 * The local Lambda service runs real esbuild-built assets in processes of their own: small handlers written
 * here, and the project's evaluate-policy function built by cdk/bundling.ts's `buildFunction`.
 */

let work: string;
let tiny: string;
let failing: string;
let real: string;
const services: LocalLambdaService[] = [];

/** A service whose logs are captured (and stopped after the suite). */
function service(functions: FunctionModel[], options: { caCertsFile?: string } = {}) {
  const logs: string[] = [];
  const lambda = new LocalLambdaService(functions, {
    environment: () => ({ AWS_ACCESS_KEY_ID: 'AKIALOCAL', AWS_SECRET_ACCESS_KEY: 'secret' }),
    log: (fn, line) => logs.push(`${fn}: ${line}`),
    ...options,
  });
  services.push(lambda);
  return { lambda, logs };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'jitdb-lambda-service-'));
  tiny = await buildTiny(work, 'tiny', { 'index.js': TINY_SOURCE, 'lazy.js': 'export const answer = 42;' });
  failing = await buildTiny(work, 'failing', { 'index.js': FAILING_SOURCE });
  // The real function, built and staged as JitFunction stages it (cdk/build-function.ts, jit-function.ts).
  real = join(work, 'asset.evaluate-policy');
  const input = readPolicyInput(join(PROJECT_ROOT, 'examples/policy.yaml'));
  const engines = policyEngines(validatePolicyData(input));
  await buildFunction({ entry: handlerEntry('evaluate-policy'), outdir: real, engines });
  writeFileSync(join(real, 'policy.json'), `${JSON.stringify(input, null, 2)}\n`);
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('tiny assets', () => {
  it('round-trips a result as JSON, with Lambda context fields, cold then warm', async () => {
    const { lambda, logs } = service([model(tiny)]);
    const first = await lambda.invoke('jitdb-tiny', { hello: 'world' }, { awsRequestId: 'req-1' });
    expect(logs).toContain('jitdb-tiny: START RequestId: req-1 Version: $LATEST');
    expect(logs.some((l) => l.startsWith('jitdb-tiny: REPORT RequestId: req-1\tDuration: '))).toBe(true);
    const second = await lambda.invoke('TinyFn', { n: 2 });
    expect(first.ok && second.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    expect(first.coldStart).toBe(true);
    expect(second.coldStart).toBe(false);
    expect(lambda.coldStarts.get('jitdb-tiny')).toBe(1);
    const a = first.result as Record<string, unknown> & { context: Record<string, unknown> };
    const b = second.result as typeof a;
    expect(a.event).toEqual({ hello: 'world' });
    expect(a.date).toBe('1970-01-01T00:00:00.000Z');
    expect(a.pid).toBe(b.pid);
    expect(a.pid).not.toBe(process.pid);
    expect(a.context).toMatchObject({
      awsRequestId: 'req-1',
      functionName: 'jitdb-tiny',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:jitdb-tiny',
      memoryLimitInMB: '256',
      logGroupName: '/aws/lambda/jitdb-tiny',
      callbackWaitsForEmptyEventLoop: true,
    });
    expect(a.context.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(a.first as number).toBeLessThanOrEqual(5000);
    expect(a.first as number).toBeGreaterThan(4000);
    expect(a.second as number).toBeLessThan(a.first as number);
  });

  it('gives a function only its own environment, with /var/task rewritten to the asset', async () => {
    process.env.FOO_SECRET = 'from-the-shell';
    try {
      const { lambda, logs } = service([
        model(tiny, {
          environment: { POLICY: '/var/task/policy.json', NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' },
        }),
      ]);
      const answer = await lambda.invoke('jitdb-tiny', {});
      if (!answer.ok) throw new Error(answer.errorMessage);
      const { env, cwd } = answer.result as { env: Record<string, string>; cwd: string };
      expect(env.FOO_SECRET).toBeUndefined();
      expect(cwd).toBe(tiny);
      expect(env).toMatchObject({
        POLICY: join(tiny, 'policy.json'),
        LAMBDA_TASK_ROOT: tiny,
        AWS_REGION: 'eu-west-1',
        AWS_DEFAULT_REGION: 'eu-west-1',
        AWS_LAMBDA_FUNCTION_NAME: 'jitdb-tiny',
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
        AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/jitdb-tiny',
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
        _HANDLER: 'index.echo',
        TZ: ':UTC',
        AWS_ACCESS_KEY_ID: 'AKIALOCAL',
        AWS_SECRET_ACCESS_KEY: 'secret',
      });
      expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
      expect(logs.join('\n')).toContain('NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem does not exist here');
      const inherited = Object.keys(env).filter((k) => !/^(AWS_|LAMBDA_|_HANDLER|TZ|LANG|NODE_PATH)/.test(k));
      expect(inherited.sort()).toEqual(['HOME', 'PATH', 'POLICY'].filter((k) => k in env).sort());
    } finally {
      delete process.env.FOO_SECRET;
    }
  });

  it('loads lazily imported chunks and forwards errors with their own name', async () => {
    const { lambda } = service([
      model(tiny, { handler: 'index.lazy' }),
      model(tiny, { functionName: 'fails', handler: 'index.fails' }),
    ]);
    expect(await lambda.invoke('jitdb-tiny', {})).toMatchObject({ ok: true, result: 42 });
    const failed = await lambda.invoke('fails', {});
    expect(failed).toMatchObject({ ok: false, errorType: 'GrantError', errorMessage: 'no such grant' });
    expect(!failed.ok && failed.trace?.[0]).toBe('GrantError: no such grant');
  });

  it('times out like Lambda: Sandbox.Timedout, process killed, the next invoke cold-starts', async () => {
    const { lambda } = service([model(tiny, { handler: 'index.slow', timeoutSeconds: 1 })]);
    const warm = await lambda.invoke('jitdb-tiny', { ms: 1 });
    const pid = warm.ok ? (warm.result as number) : -1;
    const timedOut = await lambda.invoke('jitdb-tiny', { ms: 3000 }, { awsRequestId: 'late' });
    expect(timedOut).toMatchObject({
      ok: false,
      errorType: 'Sandbox.Timedout',
      errorMessage: 'RequestId: late Error: Task timed out after 1.00 seconds',
      coldStart: false,
    });
    expect(alive(pid)).toBe(false);
    const next = await lambda.invoke('jitdb-tiny', { ms: 1 });
    expect(next).toMatchObject({ ok: true, coldStart: true });
    expect(lambda.coldStarts.get('jitdb-tiny')).toBe(2);
  });

  it('answers a crash mid-invocation with Runtime.ExitError', async () => {
    const { lambda } = service([model(tiny, { handler: 'index.crash' })]);
    const crashed = await lambda.invoke('jitdb-tiny', {}, { awsRequestId: 'boom' });
    expect(crashed).toMatchObject({
      ok: false,
      errorType: 'Runtime.ExitError',
      errorMessage: 'RequestId: boom Error: Runtime exited with error: exit status 3',
    });
    expect(lambda.pids()).toEqual([]);
  });

  it('names init failures like Lambda, and retries init on every invoke', async () => {
    const { lambda } = service([
      model(tiny, { functionName: 'no-export', handler: 'index.nope' }),
      model(tiny, { functionName: 'no-module', handler: 'missing.handler' }),
      model(failing, { functionName: 'unconfigured', handler: 'index.handler' }),
      model(failing, {
        functionName: 'configured',
        handler: 'index.handler',
        environment: { NEEDED: 'yes' },
      }),
    ]);
    expect(await lambda.invoke('no-export', {})).toMatchObject({
      ok: false,
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: 'index.nope is undefined or not exported',
    });
    expect(await lambda.invoke('no-module', {})).toMatchObject({
      ok: false,
      errorType: 'Runtime.ImportModuleError',
    });
    for (let i = 0; i < 2; i++) {
      const answer = await lambda.invoke('unconfigured', {});
      expect(answer).toMatchObject({
        ok: false,
        errorType: 'ConfigurationError',
        errorMessage: 'NEEDED is not set',
        coldStart: true,
      });
      expect(!answer.ok && answer.trace?.join('\n')).toContain('index.mjs');
    }
    expect(lambda.coldStarts.get('unconfigured')).toBe(2);
    expect(await lambda.invoke('configured', {})).toMatchObject({ ok: true, result: 'configured' });
    expect(lambda.pids()).toHaveLength(1);
  });

  it('runs concurrent invokes in separate processes, throttled beyond reserved concurrency', async () => {
    const { lambda } = service([
      model(tiny, { handler: 'index.slow' }),
      model(tiny, { functionName: 'reserved', handler: 'index.slow', reservedConcurrency: 1 }),
    ]);
    const [a, b] = await Promise.all([
      lambda.invoke('jitdb-tiny', { ms: 300 }),
      lambda.invoke('jitdb-tiny', { ms: 300 }),
    ]);
    expect(a?.ok && b?.ok && a.result !== b.result).toBe(true);
    expect(lambda.coldStarts.get('jitdb-tiny')).toBe(2);
    const [c, d] = await Promise.all([
      lambda.invoke('reserved', { ms: 300 }),
      lambda.invoke('reserved', { ms: 300 }),
    ]);
    expect(c).toMatchObject({ ok: true });
    expect(d).toMatchObject({ ok: false, errorType: 'TooManyRequestsException' });
  });

  it('stop() leaves no process behind', async () => {
    const { lambda } = service([model(tiny, { handler: 'index.slow' })]);
    await Promise.all([1, 2, 3].map(() => lambda.invoke('jitdb-tiny', { ms: 50 })));
    const busy = lambda.invoke('jitdb-tiny', { ms: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    const pids = lambda.pids();
    expect(pids).toHaveLength(3);
    await lambda.stop();
    expect(await busy).toMatchObject({ ok: false, errorType: 'Runtime.ExitError' });
    expect(pids.filter(alive)).toEqual([]);
    expect(lambda.pids()).toEqual([]);
  });
});

describe('a real project function (evaluate-policy, built by buildFunction)', () => {
  const environment = {
    POWERTOOLS_SERVICE_NAME: 'jit-db-access',
    POWERTOOLS_METRICS_NAMESPACE: 'jit-db-access',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    JITDB_POLICY_FILE: '/var/task/policy.json',
    NODE_OPTIONS: '--enable-source-maps',
    REQUESTS_TABLE: 'jitdb-requests',
    AUDIT_TABLE: 'jitdb-audit',
  };
  const evaluate = (env: Record<string, string>) =>
    model(real, {
      functionName: 'jitdb-evaluate-policy',
      handler: 'index.handler',
      timeoutSeconds: 30,
      environment: env,
    });

  it('cold-starts its bundle with its environment and answers an invoke', async () => {
    const { lambda, logs } = service([evaluate(environment)]);
    const answer = await lambda.invoke('jitdb-evaluate-policy', { requestId: 'not-a-request-id' });
    expect(answer).toMatchObject({ ok: false, coldStart: true });
    expect(!answer.ok && answer.errorMessage).toContain('must be a lowercase ULID request id');
    expect(!answer.ok && answer.errorType).not.toMatch(/^Runtime\./);
    expect(lambda.pids()).toHaveLength(1);
    expect(answer).toMatchObject({ errorType: '$ZodError' });
    // The template's NODE_OPTIONS=--enable-source-maps reached the process: the trace names the source.
    expect(!answer.ok && answer.trace?.join('\n')).toContain('functions/handlers/lambda.ts');
    expect(logs.filter((line) => line.includes('Warning'))).toEqual([]);
  });

  it("without REQUESTS_TABLE fails with the handler's own configuration error", async () => {
    const { REQUESTS_TABLE: _, ...withoutTable } = environment;
    const { lambda } = service([evaluate(withoutTable)]);
    const answer = await lambda.invoke('jitdb-evaluate-policy', { requestId: '01hzzzzzzzzzzzzzzzzzzzzzzz' });
    expect(answer).toMatchObject({
      ok: false,
      errorType: 'Error',
      errorMessage: 'REQUESTS_TABLE is not set',
    });
  });
});
