import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../functions/application/ports.js';
import type { AuditEvent } from '../../functions/domain/types.js';
import { type Runtime, type RuntimeOptions, startRuntime } from '../../local/runtime.js';
import {
  CAROL_READ,
  demoPolicyYaml,
  openApprovalLink,
  submitApprovalForm,
  testRuntimeOptions,
} from '../support/runtime.js';

interface RequestBody {
  id: string;
  status: string;
  expiresAt?: string;
  revokedAt?: string;
  revokeReason?: string;
}

const suffix = randomBytes(4).toString('hex');
const demoDatabase = `demo_tour_${suffix}`;
let workDir: string;
let policyFile: string;
let runtime: Runtime | undefined;

function runtimeOptions(): RuntimeOptions {
  return testRuntimeOptions(
    policyFile,
    { tablePrefix: `tour-${suffix}`, demoDatabase },
    { sweepIntervalMs: 500 },
  );
}

async function call<T>(
  method: string,
  url: string,
  user: string | undefined,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method,
    headers: {
      ...(user ? { 'x-jitdb-user': user } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Alice asks for the demo target's read level: POST /requests. */
function fileRequest(base: string, duration: string, reason: string) {
  return call<RequestBody>('POST', `${base}/requests`, 'alice@example.com', {
    target: 'demo',
    level: 'read',
    duration,
    reason,
  });
}

/** POST /requests/{id}/{action} with an empty body, as `user`. */
function postAction(base: string, id: string, action: string, user: string) {
  return call<RequestBody>('POST', `${base}/requests/${id}/${action}`, user, {});
}

async function waitForStatus(
  base: string,
  id: string,
  wanted: string,
  timeoutMs = 20_000,
): Promise<RequestBody> {
  const deadline = Date.now() + timeoutMs;
  let last: RequestBody | undefined;
  while (Date.now() < deadline) {
    last = (await call<RequestBody>('GET', `${base}/requests/${id}`, 'alice@example.com')).body;
    if (last.status === wanted) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`request ${id} is ${last?.status ?? 'unknown'}, not ${wanted}, after ${timeoutMs} ms`);
}

/** On the running runtime: Alice asks, Carol approves, the grant is ACTIVE. */
async function approvedAndActive(duration: string, reason: string) {
  const first = runtime;
  if (!first) throw new Error('runtime did not start');
  const created = await fileRequest(first.url, duration, reason);
  const id = created.body.id;
  await first.outbox.waitFor((e) => e.text.includes(id));
  expect((await postAction(first.url, id, 'approve', 'carol@example.com')).status).toBe(200);
  const active = await waitForStatus(first.url, id, 'ACTIVE');
  return { first, id, active };
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-tour-'));
  policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(policyFile, demoPolicyYaml(demoDatabase, { read: { ...CAROL_READ, approvalWindow: '1h' } }));
  runtime = await startRuntime(runtimeOptions());
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe('the five-minute tour, over HTTP', () => {
  it('goes request → email → link page → approve → ACTIVE → creds → query → expiry kills the session → REVOKED → audit verifies', async () => {
    const rt = runtime;
    if (!rt) throw new Error('runtime did not start');
    const base = rt.url;

    const created = await fileRequest(base, '6s', 'look at order 101');
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('PENDING');
    const id = created.body.id;

    const email = await rt.outbox.waitFor((e) => e.to.includes('carol@example.com') && e.text.includes(id));
    const link = email.links.find((l) => l.startsWith(`${base}/approvals/`));
    if (!link) throw new Error(`no approval link in ${JSON.stringify(email.links)}`);

    // A GET shows the facts and decides nothing (mail scanners follow links).
    const page = await openApprovalLink(link);
    expect(page.status).toBe(200);
    expect(page.html).toContain('alice@example.com');
    expect(page.html).toContain('look at order 101');
    expect((await call<RequestBody>('GET', `${base}/requests/${id}`, 'alice@example.com')).body.status).toBe(
      'PENDING',
    );

    const decided = await submitApprovalForm(link, { csrf: page.csrf, decision: 'approve' });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('Your approval was recorded');

    const active = await waitForStatus(base, id, 'ACTIVE');
    expect(active.expiresAt).toBeDefined();

    const creds = await call<Credentials>('GET', `${base}/requests/${id}/credentials`, 'alice@example.com');
    expect(creds.status).toBe(200);
    expect(creds.body.username).toBe(`jit_${id}`);
    expect(creds.body.database).toBe(demoDatabase);

    const session = new pg.Client({ connectionString: creds.body.uri });
    const sessionErrors: Error[] = [];
    session.on('error', (error) => sessionErrors.push(error));
    await session.connect();
    const orders = await session.query('SELECT count(*)::int AS n FROM public.orders');
    expect(orders.rows).toEqual([{ n: 4 }]);
    await expect(session.query('DELETE FROM public.orders')).rejects.toThrow(/permission denied/);

    const revoked = await waitForStatus(base, id, 'REVOKED', 30_000);
    expect(revoked.revokeReason).toBe('expired');

    // The open session was ended, and a new login is refused.
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => undefined);
    const again = new pg.Client({ connectionString: creds.body.uri });
    again.on('error', () => undefined);
    await expect(again.connect()).rejects.toThrow();
    await again.end().catch(() => undefined);

    const audit = await call<{ events: AuditEvent[]; verification: { ok: boolean; events: number } }>(
      'GET',
      `${base}/requests/${id}/audit`,
      'alice@example.com',
    );
    expect(audit.status).toBe(200);
    expect(audit.body.verification.ok).toBe(true);
    expect(audit.body.verification.events).toBe(audit.body.events.length);
    const actions = audit.body.events.map((e) => e.action);
    expect(actions[0]).toBe('requested');
    expect(actions).toContain('approved');
    expect(actions).toContain('granted');
    expect(actions).toContain('credentials-issued');
    expect(actions.at(-1)).toBe('revoked');
  });

  it('does not strand a PENDING request across a restart', async () => {
    const first = runtime;
    if (!first) throw new Error('runtime did not start');
    const created = await fileRequest(first.url, '30m', 'restart check');
    expect(created.status).toBe(201);
    const id = created.body.id;
    const email = await first.outbox.waitFor((e) => e.text.includes(id));
    const token = email.links.find((l) => l.includes('/approvals/'))?.split('/approvals/')[1];
    if (!token) throw new Error('no approval link');

    await first.stop();
    runtime = undefined;
    const second = await startRuntime(runtimeOptions());
    runtime = second;
    expect(
      (await call<RequestBody>('GET', `${second.url}/requests/${id}`, 'alice@example.com')).body.status,
    ).toBe('PENDING');

    // The link emailed before the restart still works, and the resumed execution goes on to grant.
    const link = `${second.url}/approvals/${token}`;
    const page = await openApprovalLink(link);
    const decided = await submitApprovalForm(link, { csrf: page.csrf, decision: 'approve' });
    expect(decided.status).toBe(200);
    await waitForStatus(second.url, id, 'ACTIVE');

    const revoke = await postAction(second.url, id, 'revoke', 'alice@example.com');
    expect(revoke.status).toBe(200);
    await waitForStatus(second.url, id, 'REVOKED');
  });
  it('still revokes an ACTIVE grant on time when the runtime restarts in between', async () => {
    const { first, id } = await approvedAndActive('5s', 'restart while active');
    const creds = await call<Credentials>(
      'GET',
      `${first.url}/requests/${id}/credentials`,
      'alice@example.com',
    );
    expect(creds.status).toBe(200);

    // The execution waiting for expiry dies with the runtime; the sweeper of the next one revokes.
    await first.stop();
    runtime = undefined;
    const second = await startRuntime(runtimeOptions());
    runtime = second;
    const revoked = await waitForStatus(second.url, id, 'REVOKED', 30_000);
    expect(revoked.revokeReason).toBe('expired');
    // Never past expiry by more than a sweep (500 ms here) plus the revoke itself.
    const lateBy = Date.parse(revoked.revokedAt ?? '') - Date.parse(revoked.expiresAt ?? '');
    expect(lateBy).toBeGreaterThanOrEqual(0);
    expect(lateBy).toBeLessThan(5_000);
    const login = new pg.Client({ connectionString: creds.body.uri });
    login.on('error', () => undefined);
    await expect(login.connect()).rejects.toThrow();
    await login.end().catch(() => undefined);
  });

  it('revokes at start-up a grant that expired while no runtime ran, before the first timed sweep', async () => {
    const { first, id, active } = await approvedAndActive('3s', 'expires while stopped');
    await first.stop();
    runtime = undefined;
    const wait = Date.parse(active.expiresAt ?? '') - Date.now() + 300;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));

    // The timed sweep is an hour away: only the start-up sweep can have revoked it.
    const second = await startRuntime({ ...runtimeOptions(), sweepIntervalMs: 3_600_000 });
    runtime = second;
    const shown = await call<RequestBody>('GET', `${second.url}/requests/${id}`, 'alice@example.com');
    expect(shown.body.status).toBe('REVOKED');
    expect(shown.body.revokeReason).toBe('expired');
  });
});
