import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../cdk/bundling.js';
import { LocalLambdaService } from '../../local/assembly/lambda-service.js';
import { alive, buildTiny, model, TINY_SOURCE } from './lambda-fixtures.js';

/**
 * The local Lambda service's processes never outlive it, even when its own process is SIGKILLed; and what it
 * does with a NODE_EXTRA_CA_CERTS file that only exists in Lambda.
 */

let work: string;
let tiny: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'jitdb-lambda-lifecycle-'));
  tiny = await buildTiny(work, 'tiny', { 'index.js': TINY_SOURCE, 'lazy.js': 'export const answer = 42;' });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return condition();
}

describe('orphans', () => {
  it('kills idle and stuck environments when the service process is SIGKILLed', async () => {
    // .mts: the temp dir has no package.json saying ESM, and the host awaits at top level.
    const host = join(work, 'host.mts');
    const functions = [
      model(tiny, { functionName: 'idle', handler: 'index.echo' }),
      model(tiny, { functionName: 'stuck', handler: 'index.spin', timeoutSeconds: 60 }),
    ];
    writeFileSync(
      host,
      `import { LocalLambdaService } from ${JSON.stringify(join(PROJECT_ROOT, 'local/assembly/lambda-service.ts'))};
const lambda = new LocalLambdaService(${JSON.stringify(functions)}, { log: () => {} });
await lambda.invoke('idle', {});
void lambda.invoke('stuck', {});
setTimeout(() => console.log(JSON.stringify(lambda.pids())), 500);
setInterval(() => {}, 1000);
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', host], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the host exited (${code}) before listing its pids`)));
    });
    const pids = JSON.parse(line) as number[];
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    child.kill('SIGKILL');
    // The idle one leaves on IPC disconnect; the stuck one by the watchdog (which polls every second).
    expect(await until(() => !pids.some(alive), 5000)).toBe(true);
  });
});

describe('NODE_EXTRA_CA_CERTS', () => {
  it('is a file Node only warns about when missing (checked here, so the service may drop it)', () => {
    const run = spawnSync(
      process.execPath,
      ['-e', 'require("node:tls").createSecureContext(); console.log("ran")'],
      {
        env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' },
        encoding: 'utf8',
      },
    );
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('ran\n');
    expect(run.stderr).toContain('Warning: Ignoring extra certs from `/var/runtime/ca-cert.pem`');
  });

  it('points a missing NODE_EXTRA_CA_CERTS at the local CA file given in the options', async () => {
    const caCertsFile = join(work, 'ca.pem');
    writeFileSync(caCertsFile, `${rootCertificates[0] ?? ''}\n`);
    const logs: string[] = [];
    const lambda = new LocalLambdaService(
      [model(tiny, { environment: { NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' } })],
      { caCertsFile, log: (_fn, line) => logs.push(line) },
    );
    try {
      const answer = await lambda.invoke('jitdb-tiny', {});
      if (!answer.ok) throw new Error(answer.errorMessage);
      const { env } = answer.result as { env: Record<string, string> };
      expect(env.NODE_EXTRA_CA_CERTS).toBe(caCertsFile);
      expect(logs.join('\n')).toContain(`using ${caCertsFile}`);
      expect(logs.filter((l) => l.includes('Ignoring extra certs'))).toEqual([]);
    } finally {
      await lambda.stop();
    }
  });
});
