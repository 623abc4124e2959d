import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RequestView } from '../../functions/application/request-view.js';
import { ALICE, CAROL, DAVE, ERIN, MALLORY, useAppSystem } from '../support/app-suite.js';
import { services } from '../support/services.js';
import { fileRequest, type Refusal, roleExists } from '../support/system.js';

/** Who decides, and how often: every way a pending request can end, on the real ASL and handlers. */

const database = `e2e_decide_${randomBytes(4).toString('hex')}`;
const system = useAppSystem(() => ({
  database,
  levels: {
    read: { maxDuration: '1h', approvers: [CAROL], approvalWindow: '1h' },
    quick: { maxDuration: '1h', approvers: [CAROL], approvalWindow: '2s' },
    pair: { maxDuration: '1h', approvers: [CAROL, DAVE, ERIN], approvalsRequired: 2, approvalWindow: '1h' },
    peer: { maxDuration: '1h', approvers: [ALICE, CAROL], approvalWindow: '1h' },
  },
}));

async function create(level: string, duration = '1h'): Promise<string> {
  const created = await fileRequest(system(), ALICE, {
    target: 'app',
    level,
    duration,
    reason: `e2e ${level}`,
  });
  expect(created.status).toBe('PENDING');
  return created.id;
}

/** The execution's end, once it has one. */
async function executionEnd(id: string) {
  return system().executionEnd(id);
}

/** The last state the execution entered. */
function lastState(id: string): string | undefined {
  const arn = system().execution(id)?.executionArn ?? '';
  return system()
    .workflow.history(arn)
    .filter((e) => e.type === 'StateEntered')
    .at(-1)?.state;
}

/** The status a request settles in once it has left PENDING and APPROVED, with its error if any. */
async function settled(id: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const request = await system().request(id);
    if (!['PENDING', 'APPROVED'].includes(request.status) || Date.now() > deadline) {
      return `${request.status}${request.lastError ? ` (${request.lastError.code}: ${request.lastError.message})` : ''}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function revokeToCleanUp(id: string): Promise<void> {
  const revoked = await system().call<RequestView>('POST', `/requests/${id}/revoke`, ALICE, {});
  expect(revoked.body.status).toBe('REVOKED');
}

describe('deciding a pending request', () => {
  it('denies from the link: DENIED, nothing granted, the workflow ends at ApprovalClosed', async () => {
    const id = await create('read');
    const link = await system().approvalLink(id, CAROL);
    const page = await system().openLink(link);
    const denied = await system().postLink(link, 'deny', page.csrf ?? '');
    expect(denied.status).toBe(200);
    expect(denied.html).toContain('Your denial was recorded');

    expect((await executionEnd(id)).status).toBe('SUCCEEDED');
    expect(lastState(id)).toBe('ApprovalClosed');
    const request = await system().request(id);
    expect(request.status).toBe('DENIED');
    expect(request.denial?.by).toBe(CAROL);
    expect(request.grant).toBeUndefined();
    expect(await roleExists(services().pgAdminUrl, `jit_${id}`)).toBe(false);
    expect(await system().auditActions(id)).toEqual(['requested', 'approval-requested', 'denied']);
  });

  it('expires when the approval window ends, and the emailed link stops working', async () => {
    const started = Date.now();
    const id = await create('quick');
    const link = await system().approvalLink(id, CAROL);

    const expired = await system().waitForStatus(id, 'EXPIRED', 10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(expired.grant).toBeUndefined();
    expect((await executionEnd(id)).status).toBe('SUCCEEDED');
    expect(lastState(id)).toBe('ApprovalExpired');
    expect(await system().auditActions(id)).toEqual(['requested', 'approval-requested', 'approval-expired']);

    const page = await system().openLink(link);
    expect(page.status).toBe(410);
    expect(page.csrf).toBeUndefined();
  });

  it('lets the requester cancel: CANCELLED, the workflow ends, the approver link is retired', async () => {
    const id = await create('read');
    const link = await system().approvalLink(id, CAROL);
    const cancelled = await system().call<RequestView>('POST', `/requests/${id}/cancel`, ALICE, {
      comment: 'not needed',
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');

    expect((await executionEnd(id)).status).toBe('SUCCEEDED');
    expect(lastState(id)).toBe('ApprovalClosed');
    const page = await system().openLink(link);
    expect(page.status).toBe(410);
    expect(page.html).toContain('APPROVAL_LINK_USED');
    // A genuine link's GET after the decision writes nothing: the decision is already on the chain.
    expect(await system().auditActions(id)).toEqual(['requested', 'approval-requested', 'cancelled']);
    expect(await system().linkRefusals(id)).toEqual([]);
  });

  it('needs 2 of 3 approvers: one approval waits, the same person twice counts once, the second grants', async () => {
    const id = await create('pair');
    const carolLink = await system().approvalLink(id, CAROL);
    const erinLink = await system().approvalLink(id, ERIN);
    const page = await system().openLink(carolLink);
    expect((await system().postLink(carolLink, 'approve', page.csrf ?? '')).status).toBe(200);

    const afterOne = await system().request(id);
    expect(afterOne.status).toBe('PENDING');
    expect(afterOne.approvals.map((a) => a.by)).toEqual([CAROL]);
    // Who was asked stays visible to the requester while the request waits, Carol's used link included.
    const view = await system().call<RequestView>('GET', `/requests/${id}`, ALICE);
    expect([...view.body.asked].sort()).toEqual([CAROL, DAVE, ERIN].sort());

    // Carol again, now through the API: still one approval.
    const twice = await system().call<Refusal>('POST', `/requests/${id}/approve`, CAROL, {});
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('ALREADY_APPROVED_BY_YOU');
    expect((await system().request(id)).status).toBe('PENDING');

    const second = await system().call<RequestView>('POST', `/requests/${id}/approve`, DAVE, {
      comment: 'ok',
    });
    expect(second.status).toBe(200);
    const active = await system().waitForStatus(id, 'ACTIVE');
    expect(active.approvals.map((a) => a.email)).toEqual([CAROL, DAVE]);

    // Erin's link was retired by the decision.
    expect((await system().openLink(erinLink)).status).toBe(410);
    await revokeToCleanUp(id);
  });

  it.each([
    [
      'refuses self-approval, audited, and the request stays pending',
      'peer',
      ALICE,
      'SELF_APPROVAL_FORBIDDEN',
    ],
    [
      'refuses an approver the policy does not list, audited, and the request stays pending',
      'read',
      MALLORY,
      'NOT_AN_APPROVER',
    ],
  ])('%s', async (_name, level, approver, code) => {
    const id = await create(level);
    const refusal = await system().call<Refusal>('POST', `/requests/${id}/approve`, approver, {});
    expect(refusal.status).toBe(403);
    expect(refusal.body.error.code).toBe(code);

    const request = await system().request(id);
    expect(request.status).toBe('PENDING');
    expect(request.approvals).toEqual([]);
    const refused = (await system().audit(id)).filter((e) => e.action === 'refused');
    expect(refused.map((e) => [e.actor, e.details?.code])).toEqual([[approver, code]]);
  });

  it('decides exactly once when the same link is POSTed 20 times at once', async () => {
    const id = await create('read');
    const link = await system().approvalLink(id, CAROL);
    const page = await system().openLink(link);
    const csrf = page.csrf ?? '';

    const answers = await Promise.all(
      Array.from({ length: 20 }, () => system().postLink(link, 'approve', csrf)),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 410)).toHaveLength(19);

    // The 19 refusals are counted beside the request, never on it, while the workflow grants.
    const end = await settled(id);
    const actions = await system().auditActions(id);
    expect(end).toBe('ACTIVE');
    const counted = (await system().linkRefusals(id)).filter((r) => r.code === 'APPROVAL_LINK_USED');
    expect(counted.reduce((sum, r) => sum + r.attempts, 0)).toBe(19);
    expect(actions).not.toContain('link-refused');
    expect(actions.filter((a) => a === 'approved')).toHaveLength(1);
    expect(actions.filter((a) => a === 'granted')).toHaveLength(1);
    expect((await system().request(id)).approvals).toHaveLength(1);
    await revokeToCleanUp(id);
  });

  it('refuses a token of request A used on request B, and A’s own link still works afterwards', async () => {
    const a = await create('read');
    const b = await create('read');
    const linkA = await system().approvalLink(a, CAROL);
    const secretA = linkA.split('/approvals/')[1]?.split('.')[1] ?? '';
    const forged = `${system().url}/approvals/${b}.${secretA}`;

    const shown = await system().openLink(forged);
    expect(shown.status).toBe(404);
    expect(shown.html).toContain('APPROVAL_LINK_INVALID');
    const csrfA = (await system().openLink(linkA)).csrf ?? '';
    const posted = await system().postLink(forged, 'approve', csrfA);
    expect(posted.status).toBe(404);

    const requestB = await system().request(b);
    expect(requestB.status).toBe('PENDING');
    expect(requestB.approvals).toEqual([]);
    expect(await system().auditActions(b)).not.toContain('link-refused');
    const refusals = await system().linkRefusals(b);
    expect(refusals.map((r) => [r.code, r.method])).toEqual([
      ['APPROVAL_LINK_INVALID', 'GET'],
      ['APPROVAL_LINK_INVALID', 'POST'],
    ]);

    expect((await system().postLink(linkA, 'deny', csrfA)).status).toBe(200);
    expect((await system().request(a)).status).toBe('DENIED');
    await system().call('POST', `/requests/${b}/cancel`, ALICE, {});
  });
});
