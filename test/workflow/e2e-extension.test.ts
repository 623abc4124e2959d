import { randomBytes } from 'node:crypto';
import { describe, type ExpectStatic, it } from 'vitest';
import type { Credentials } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import type { AccessRequest } from '../../functions/domain/types.js';
import { ALICE, CAROL, useAppSystem } from '../support/app-suite.js';
import { services } from '../support/services.js';
import { canLogin, connect, grantedRequest, type Refusal, roleExists, sleep } from '../support/system.js';

/**
 * Extensions on a live grant: within the auto-approve allowance, through approvers beyond it, refused past
 * the maximum. The grant then lasts exactly until the new expiresAt: the workflow's Wait state wakes at the
 * old expiry, sees the later one and waits again. The three run concurrently (each grant takes seconds).
 */

/** How late a revoke may land after expiresAt: the Wait timer, the Revoke task, DynamoDB Local, 2 busy cores. */
const REVOKE_LAG_MS = 2000;
const database = `e2e_extend_${randomBytes(4).toString('hex')}`;
const system = useAppSystem(() => ({
  database,
  levels: {
    ext: {
      maxDuration: '10s',
      approvers: [CAROL],
      approvalWindow: '1h',
      autoApprove: true,
      extension: { autoApproveUpTo: '3s', maxTotal: '20s' },
    },
  },
}));

/**
 * Grants one at a time: concurrent grants on one target can fail with PostgreSQL's "tuple concurrently
 * updated" (see e2e-tour's concurrent-grants test); this file is about extensions, not that.
 */
let granting: Promise<unknown> = Promise.resolve();
function activeGrant(duration: string): Promise<{ request: AccessRequest; creds: Credentials }> {
  const next = granting.then(() => grantNow(duration));
  granting = next.catch(() => undefined);
  return next;
}

function grantNow(duration: string): Promise<{ request: AccessRequest; creds: Credentials }> {
  return grantedRequest(system(), ALICE, { target: 'app', level: 'ext', duration, reason: 'e2e extension' });
}

/** Asks to extend request `id` as its requester; the API must answer 200 (the request as it then stands). */
async function extend(id: string, duration: string, reason: string): Promise<RequestView> {
  const answer = await system().call<RequestView>('POST', `/requests/${id}/extend`, ALICE, {
    duration,
    reason,
  });
  if (answer.status !== 200) throw new Error(`extend answered ${answer.status}, not 200`);
  return answer.body;
}

function sleepUntil(iso: string | undefined, offsetMs: number): Promise<void> {
  return sleep(Math.max(0, Date.parse(iso ?? '') + offsetMs - Date.now()));
}

/** Waits for request `id` to be REVOKED; checks it was revoked at its expiry or after, within REVOKE_LAG_MS. */
async function revokedOnTime(id: string, expect: ExpectStatic): Promise<AccessRequest> {
  const revoked = await system().waitForStatus(id, 'REVOKED', 10_000);
  const lag = Date.parse(revoked.revokedAt ?? '') - Date.parse(revoked.expiresAt ?? '');
  expect(lag).toBeGreaterThanOrEqual(0);
  expect(lag).toBeLessThan(REVOKE_LAG_MS);
  return revoked;
}

/** `iso` plus `seconds`, as an ISO time. */
function later(iso: string, seconds: number): string {
  return new Date(Date.parse(iso) + seconds * 1000).toISOString();
}

/** Times the executions re-entered WaitUntilExpiry after an extension. */
function extensionWaits(id: string): number {
  const arn = system().execution(id)?.executionArn ?? '';
  return system()
    .workflow.history(arn)
    .filter((e) => e.type === 'StateEntered' && e.state === 'ApplyExtension').length;
}

/**
 * An active grant of `duration` whose requester asks to extend it by `seconds`: the request and credentials
 * as granted, what the API answered to the extension, and the expiry before and after it.
 */
async function extendedGrant(duration: string, seconds: number, reason: string) {
  const { request, creds } = await activeGrant(duration);
  const oldExpiresAt = request.expiresAt ?? '';
  const answer = await extend(request.id, `${seconds}s`, reason);
  return { request, creds, answer, oldExpiresAt, newExpiresAt: later(oldExpiresAt, seconds) };
}

/**
 * The extended grant logs in until just before `newExpiresAt`, is revoked at it (on time, with that expiry)
 * and then cannot log in; the workflow waited again once, after the extension. The revoked request.
 */
async function lastsUntil(
  id: string,
  creds: Credentials,
  newExpiresAt: string,
  expect: ExpectStatic,
): Promise<AccessRequest> {
  await sleepUntil(newExpiresAt, -1000);
  expect(await canLogin(creds.uri)).toBe(true);
  const revoked = await revokedOnTime(id, expect);
  expect(revoked.expiresAt).toBe(newExpiresAt);
  expect(await canLogin(creds.uri)).toBe(false);
  expect(extensionWaits(id)).toBe(1);
  return revoked;
}

describe.concurrent('extending an active grant', () => {
  it('auto-approves within the allowance; the grant then lasts until the new expiresAt and not a second longer', async ({
    expect,
  }) => {
    const extended = await extendedGrant('4s', 3, 'one more query');
    const { request, creds, oldExpiresAt, newExpiresAt } = extended;
    expect(extended.answer.expiresAt).toBe(newExpiresAt);
    expect(extended.answer.extension).toBeUndefined();

    // A session opened before the old expiry outlives it; it dies at the new one.
    const { client: session } = await connect(creds.uri);
    await sleepUntil(oldExpiresAt, 500);
    expect((await session.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await lastsUntil(request.id, creds, newExpiresAt, expect);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => undefined);
    expect(await roleExists(services().pgAdminUrl, `jit_${request.id}`)).toBe(false);
    expect(await system().auditActions(request.id)).toEqual([
      'auto-approved',
      'granted',
      'credentials-issued',
      'extension-approved',
      'revoked',
    ]);
  });

  it('sends an extension beyond the allowance to the approvers; once approved the grant lasts until the new expiry', async ({
    expect,
  }) => {
    const asked = await extendedGrant('5s', 4, 'the migration runs long');
    const { request, creds, oldExpiresAt, newExpiresAt } = asked;
    // Asked, not applied: the expiry stays where it was until an approver decides.
    expect(asked.answer).toMatchObject({ expiresAt: oldExpiresAt, extension: { newExpiresAt } });

    const link = await system().approvalLink(request.id, CAROL, { purpose: 'extension' });
    // The requester sees who was asked to decide the extension (the request's own approvers are long done).
    const waiting = await system().call<RequestView>('GET', `/requests/${request.id}`, ALICE);
    expect(waiting.body.asked).toEqual([CAROL]);
    const page = await system().openLink(link);
    expect(page.status).toBe(200);
    expect(page.html).toContain('the migration runs long');
    expect((await system().request(request.id)).expiresAt).toBe(oldExpiresAt);
    const decided = await system().postLink(link, 'approve', page.csrf ?? '');
    expect(decided.status).toBe(200);
    const approved = await system().request(request.id);
    expect(approved.expiresAt).toBe(newExpiresAt);
    expect(approved.extension).toBeUndefined();
    expect(approved.extensions.map((e) => [e.durationSeconds, e.newExpiresAt])).toEqual([[4, newExpiresAt]]);
    expect((await system().call<RequestView>('GET', `/requests/${request.id}`, ALICE)).body.asked).toEqual(
      [],
    );

    await sleepUntil(oldExpiresAt, 500);
    expect((await system().request(request.id)).status).toBe('ACTIVE');
    await lastsUntil(request.id, creds, newExpiresAt, expect);
    expect(await system().auditActions(request.id)).toEqual([
      'auto-approved',
      'granted',
      'credentials-issued',
      'extension-requested',
      'extension-approved',
      'revoked',
    ]);
  });

  it('refuses an extension past the maximum total and leaves expiry where it was', async ({ expect }) => {
    const { request, creds } = await activeGrant('10s');
    const refused = await system().call<Refusal>('POST', `/requests/${request.id}/extend`, ALICE, {
      duration: '11s',
      reason: 'all day please',
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('EXTENSION_EXCEEDS_MAX');
    const after = await system().request(request.id);
    expect(after.expiresAt).toBe(request.expiresAt);
    expect(after.extension).toBeUndefined();
    expect(after.extensions).toEqual([]);
    expect(await canLogin(creds.uri)).toBe(true);
    expect(
      system()
        .outbox.list()
        .filter((e) => e.links.some((l) => l.includes(request.id))),
    ).toEqual([]);

    const revoked = await system().call<RequestView>('POST', `/requests/${request.id}/revoke`, ALICE, {});
    expect(revoked.body.status).toBe('REVOKED');
  });
});
