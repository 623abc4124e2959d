import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Credentials } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import type { AuditEvent } from '../../functions/domain/types.js';
import { ALICE, CAROL, useAppSystem } from '../support/app-suite.js';
import { AUTO_READ } from '../support/policies.js';
import { services } from '../support/services.js';
import {
  canLogin,
  connect,
  fileRequest,
  grantedRequest,
  type Refusal,
  roleExists,
} from '../support/system.js';

/**
 * The approval workflow end to end: the real ASL on the local runner, the real handlers behind the local HTTP
 * server, DynamoDB Local and PostgreSQL. Grants last a few seconds; expiry is the ASL's own Wait state.
 */

const database = `e2e_tour_${randomBytes(4).toString('hex')}`;

/** Everything secret the tests saw: none of it may show up in logs, tables or audit events. */
const secrets = {
  passwords: [] as string[],
  linkTokens: [] as string[],
  csrf: [] as string[],
  taskTokens: [] as string[],
};

const system = useAppSystem(() => ({
  database,
  environment: 'staging',
  levels: { read: { maxDuration: '1h', approvers: [CAROL], approvalWindow: '1h' }, auto: AUTO_READ },
}));

async function credentialsFor(id: string): Promise<Credentials> {
  const answer = await system().call<Credentials>('GET', `/requests/${id}/credentials`, ALICE);
  expect(answer.status).toBe(200);
  secrets.passwords.push(answer.body.password);
  return answer.body;
}

/** The status a request settles in after leaving APPROVED (with the error, if any). */
async function settledStatus(id: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const request = await system().request(id);
    if (request.status !== 'APPROVED' || Date.now() > deadline) {
      return `${request.status}${request.lastError ? ` (${request.lastError.message})` : ''}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function autoApprovedGrant(duration: string): Promise<{ id: string; creds: Credentials }> {
  const { request, creds } = await grantedRequest(system(), ALICE, {
    target: 'app',
    level: 'auto',
    duration,
    reason: 'e2e auto-approved grant',
  });
  secrets.passwords.push(creds.password);
  return { id: request.id, creds };
}

describe('the approval workflow, end to end', () => {
  it('takes a request from creation through an emailed approval to a grant that ends on time, and audits it all', async () => {
    const created = await fileRequest(system(), ALICE, {
      target: 'app',
      level: 'read',
      duration: '4s',
      reason: 'look at order 101',
    });
    expect(created.status).toBe('PENDING');
    const id = created.id;
    expect(id).toMatch(/^[0-9a-hjkmnp-tv-z]{26}$/);

    const link = await system().approvalLink(id, CAROL);
    secrets.linkTokens.push(link.split('/approvals/')[1] ?? '');
    const waiting = system().workflow.waitingTokens(system().execution(id)?.executionArn ?? '');
    expect(waiting).toHaveLength(1);
    secrets.taskTokens.push(...waiting);

    // A GET shows the facts and decides nothing: mail scanners follow links.
    const page = await system().openLink(link);
    expect(page.status).toBe(200);
    expect(page.html).toContain(ALICE);
    expect(page.html).toContain('look at order 101');
    expect(page.csrf).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    const afterGet = await system().request(id);
    expect(afterGet.status).toBe('PENDING');
    expect(afterGet.approvals).toEqual([]);
    secrets.csrf.push(page.csrf ?? '');

    // A POST that did not come from the page (a scanner, a forged form) is refused and decides nothing.
    const forged = await system().postLink(link, 'approve', 'not-the-page-value');
    expect(forged.status).toBe(403);
    expect(forged.html).toContain('CSRF_TOKEN_INVALID');
    expect((await system().request(id)).status).toBe('PENDING');

    const decided = await system().postLink(link, 'approve', page.csrf ?? '');
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('Your approval was recorded');

    const active = await system().waitForStatus(id, 'ACTIVE');
    expect(active.grant?.dbUser).toBe(`jit_${id}`);
    // The duration, rounded up to the next whole second (a Wait state drops milliseconds).
    const granted = Date.parse(active.grant?.grantedAt ?? '');
    expect(Date.parse(active.expiresAt ?? '')).toBe(Math.ceil((granted + 4000) / 1000) * 1000);

    const creds = await credentialsFor(id);
    expect(creds.username).toBe(`jit_${id}`);
    expect(creds.database).toBe(database);
    expect(creds.expiresAt).toBe(active.expiresAt);

    // The level is enforced: SELECT on public, nothing else.
    const { client: session, errors } = await connect(creds.uri);
    expect((await session.query('SELECT id FROM public.orders ORDER BY id')).rows).toEqual([
      { id: 101 },
      { id: 102 },
      { id: 103 },
    ]);
    await expect(session.query("INSERT INTO public.orders VALUES (999, 'eve', 1)")).rejects.toThrow(
      /permission denied/,
    );
    await expect(session.query('SELECT * FROM hr.salaries')).rejects.toThrow(/permission denied/);

    // An open session running a long query when expiry comes is killed, not left to finish.
    const sleeping = session.query('SELECT pg_sleep(60)').then(
      () => 'finished',
      (error: Error) => error.message,
    );
    const revoked = await system().waitForStatus(id, 'REVOKED', 15_000);
    expect(revoked.revokeReason).toBe('expired');
    const lagMs = Date.parse(revoked.revokedAt ?? '') - Date.parse(active.expiresAt ?? '');
    expect(lagMs).toBeGreaterThanOrEqual(0);
    expect(lagMs).toBeLessThan(2000);
    expect(await sleeping).toMatch(/terminat/i);
    expect(errors.map((e) => e.message).join()).toMatch(/^$|terminat/i);
    await session.end().catch(() => undefined);
    expect(await canLogin(creds.uri)).toBe(false);
    expect(await roleExists(services().pgAdminUrl, `jit_${id}`)).toBe(false);

    const audit = await system().call<{
      events: AuditEvent[];
      verification: { ok: boolean; events: number };
      linkRefusals: { code: string; method: string; attempts: number }[];
    }>('GET', `/requests/${id}/audit`, ALICE);
    expect(audit.status).toBe(200);
    // The forged form POST is counted beside the chain, not on it.
    expect(audit.body.linkRefusals).toMatchObject([
      { code: 'CSRF_TOKEN_INVALID', method: 'POST', attempts: 1 },
    ]);
    expect(audit.body.verification).toEqual({
      ok: true,
      events: audit.body.events.length,
      // This system is wired without the digests (test/support/system.ts); the runtime's are in audit-anchor tests.
      anchor: { ok: true, note: 'audit anchoring is not configured here' },
    });
    expect(audit.body.events.map((e) => e.action)).toEqual([
      'requested',
      'approval-requested',
      'approved',
      'granted',
      'credentials-issued',
      'revoked',
    ]);
    expect(audit.body.events.map((e) => e.toStatus)).toEqual([
      'PENDING',
      'PENDING',
      'APPROVED',
      'ACTIVE',
      'ACTIVE',
      'REVOKED',
    ]);
    expect(audit.body.events.find((e) => e.action === 'approved')?.actor).toBe(CAROL);

    const execution = await system().executionEnd(id);
    expect(execution.status).toBe('SUCCEEDED');
  });

  it('revokes early: access is gone within 2 s and the execution is stopped (ABORTED)', async () => {
    const { id, creds } = await autoApprovedGrant('1h');
    const { client: session } = await connect(creds.uri);
    const sleeping = session.query('SELECT pg_sleep(60)').then(
      () => 'finished',
      (error: Error) => error.message,
    );

    const asked = Date.now();
    const revoked = await system().call<RequestView>('POST', `/requests/${id}/revoke`, ALICE, {
      comment: 'done early',
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe('REVOKED');
    expect(revoked.body.revokeReason).toBe('early');
    expect(await sleeping).toMatch(/terminat/i);
    expect(await canLogin(creds.uri)).toBe(false);
    expect(Date.now() - asked).toBeLessThan(2000);
    await session.end().catch(() => undefined);

    const execution = await system().executionEnd(id);
    expect(execution.status).toBe('ABORTED');
    expect(execution.cause).toBe('revoked early');
    expect((await system().request(id)).status).toBe('REVOKED');
    expect(await system().auditActions(id)).toEqual([
      'auto-approved',
      'granted',
      'credentials-issued',
      'revoked',
    ]);
  });

  it('revokes through the status-change path when an ACTIVE execution is aborted by hand', async () => {
    const { id, creds } = await autoApprovedGrant('1h');
    expect(await canLogin(creds.uri)).toBe(true);
    await system().workflow.stop(id, 'stopped by an operator');
    expect(system().execution(id)?.status).toBe('ABORTED');

    const revoked = await system().waitForStatus(id, 'REVOKED', 5_000);
    expect(revoked.revokeReason).toBe('execution-ended');
    expect(await canLogin(creds.uri)).toBe(false);
    expect(await roleExists(services().pgAdminUrl, `jit_${id}`)).toBe(false);
    const events = await system().audit(id);
    expect(events.map((e) => e.action)).toEqual([
      'auto-approved',
      'granted',
      'credentials-issued',
      'revoked',
    ]);
    expect(events.at(-1)?.actor).toBe('system');
  });

  it('grants 8 requests for the same level at once, all of them', async () => {
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        system().call<RequestView>('POST', '/requests', ALICE, {
          target: 'app',
          level: 'auto',
          duration: '1h',
          reason: `concurrent grant ${i}`,
        }),
      ),
    );
    expect(created.map((c) => c.status)).toEqual(Array(8).fill(201));
    const ids = created.map((c) => c.body.id);
    const settled = await Promise.all(ids.map((id) => settledStatus(id)));
    await Promise.all(ids.map((id) => system().call('POST', `/requests/${id}/revoke`, ALICE, {})));
    expect(settled).toEqual(Array(8).fill('ACTIVE'));
  });

  it('revokes 8 grants of the same level at once, all of them', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await autoApprovedGrant('1h')).id);
    const revoked = await Promise.all(
      ids.map((id) =>
        system().call<RequestView & Partial<Refusal>>('POST', `/requests/${id}/revoke`, ALICE, {}),
      ),
    );
    expect(revoked.map((r) => r.body.status ?? `${r.status} ${r.body.error?.message}`)).toEqual(
      Array(8).fill('REVOKED'),
    );
    for (const id of ids) expect(await roleExists(services().pgAdminUrl, `jit_${id}`)).toBe(false);
  });

  it('never writes a password, link token, CSRF value or task token to a log line, a table item or an audit event', async () => {
    expect(secrets.passwords.length).toBeGreaterThanOrEqual(3);
    expect(secrets.linkTokens).toHaveLength(1);
    expect(secrets.taskTokens).toHaveLength(1);
    const linkSecrets = secrets.linkTokens.map((token) => token.split('.')[1] ?? token);
    const adminPassword = decodeURIComponent(new URL(services().pgAdminUrl).password);
    const everySecret = [
      ...secrets.passwords,
      ...secrets.linkTokens,
      ...linkSecrets,
      ...secrets.csrf,
      adminPassword,
    ];
    for (const secret of [...everySecret, ...secrets.taskTokens])
      expect(secret.length).toBeGreaterThanOrEqual(16);

    const logs = system().logs().join('\n');
    // The capture did see the handlers' Powertools lines, so their absence of secrets means something.
    expect(logs).toContain('"service":"jit-db-access"');
    for (const secret of [...everySecret, ...secrets.taskTokens]) expect(logs).not.toContain(secret);

    // The task token is kept on the request by design (server-side only); nothing else secret is stored.
    const items = await system().scanTables();
    for (const secret of everySecret) expect(items).not.toContain(secret);

    const auditEvents = JSON.stringify(
      (JSON.parse(items) as Record<string, unknown>[]).filter((item) => 'seq' in item),
    );
    expect(auditEvents).toContain('credentials-issued');
    for (const secret of [...everySecret, ...secrets.taskTokens]) expect(auditEvents).not.toContain(secret);
  });
});
