/**
 * Assembly mode started as `npm start -- --assembly --pg-port 0` would be: the embedded PostgreSQL on a free
 * port, while the policy names the demo port. The targets must follow the server into the synthesized bundles
 * (else every grant fails at the demo port), and one sweep runs before the runtime is handed over, as in
 * source mode (a grant that expired while nothing ran is revoked at start, not a sweep later).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/client.js';
import type { RequestView } from '../../functions/application/request-view.js';
import { type AssemblyRuntime, startAssemblyRuntime } from '../../local/assembly/runtime.js';
import { DEFAULT_PG_PORT } from '../../local/servers.js';
import { postgresPolicyYaml } from '../support/policies.js';

const work = mkdtempSync(join(tmpdir(), 'jitdb-assembly-ports-'));
let runtime: AssemblyRuntime;
let startedPort: number;

beforeAll(async () => {
  const policyFile = join(work, 'policy.yaml');
  writeFileSync(
    policyFile,
    postgresPolicyYaml({
      id: 'demo-pg',
      environment: 'dev',
      host: '127.0.0.1',
      port: DEFAULT_PG_PORT,
      database: 'demo',
      levels: { auto: { maxDuration: '1h', autoApprove: true } },
    }),
  );
  runtime = await startAssemblyRuntime({
    policyFile,
    ephemeral: true,
    port: 0,
    pgPort: 0,
    printEmails: false,
    log: () => undefined,
    outdir: join(work, 'assembly'),
    retryIntervalMs: 50,
  });
  startedPort = Number(new URL(runtime.pgAdminUrl).port);
}, 600_000);

afterAll(async () => {
  await runtime?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('assembly mode with --pg-port 0', () => {
  it('points the demo target at the port the server got, in the runtime and in every bundled policy', () => {
    expect(startedPort).not.toBe(DEFAULT_PG_PORT);
    const target = runtime.policy.targets.find((t) => t.id === 'demo-pg');
    expect(target?.connection).toMatchObject({ host: '127.0.0.1', port: startedPort });
    for (const fn of runtime.model.functions) {
      const bundled = JSON.parse(readFileSync(join(fn.assetDir, 'policy.json'), 'utf8')) as {
        targets: { id: string; connection: { port: number } }[];
      };
      expect({ fn: fn.registryName, port: bundled.targets[0]?.connection.port }).toEqual({
        fn: fn.registryName,
        port: startedPort,
      });
    }
  });

  it('ran one sweep before handing the runtime over (the timed sweeps are a minute apart)', () => {
    const sweeper = runtime.model.functions.find((f) => f.registryName === 'expiry-sweeper');
    expect(runtime.gatekeeper.calls.some((call) => call.holder === sweeper?.logicalId)).toBe(true);
  });

  it('grants on the moved target', async () => {
    const dave = new ApiClient({
      endpoint: runtime.url,
      user: 'dave@example.com',
      json: true,
      region: undefined,
      ssoUrl: runtime.ssoUrl,
    });
    const created = await dave.post<RequestView>('/requests', {
      target: 'demo-pg',
      level: 'auto',
      duration: '10m',
      reason: 'ports follow the server',
    });
    const deadline = Date.now() + 60_000;
    let status = created.status;
    while (status !== 'ACTIVE' && status !== 'FAILED' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = (await dave.get<RequestView>(`/requests/${created.id}`)).status;
    }
    expect(status).toBe('ACTIVE');
  });
});
