import { describe, expect, it } from 'vitest';
import { createRequest } from '../../functions/application/create-request.js';
import { getRequest } from '../../functions/application/get-request.js';
import { listRequests } from '../../functions/application/list-requests.js';
import { requestAudit } from '../../functions/application/request-audit.js';
import { reviewRequest } from '../../functions/application/review-request.js';
import type { PolicyInput } from '../../functions/domain/policy-schema.js';
import type { Identity } from '../../functions/domain/types.js';
import { ERIN, ordersPolicy, useOrdersSystem } from '../support/deps.js';
import { onSchema } from '../unit/support/policy-samples.js';

/** `orders` with a break-glass level whose notify address is a reviewer, and a global security reviewer. */
function reviewedPolicy(base: PolicyInput): PolicyInput {
  const [orders, ...rest] = base.targets;
  if (!orders) throw new Error('ordersPolicy has no target');
  return {
    ...base,
    reviewers: ['audit@example.com'],
    targets: [
      {
        ...orders,
        levels: {
          ...orders.levels,
          breakglass: {
            privileges: onSchema('app', 'SELECT'),
            maxDuration: '1h',
            approvers: ['alice@example.com'],
            breakGlass: {
              allowed: true,
              requesters: ['erin@example.com'],
              notify: ['security@example.com'],
            },
          },
        },
      },
      ...rest,
    ],
  };
}

const person = (email: string): Identity => ({ principal: email, email, via: 'local' });
const SECURITY = person('security@example.com');
const AUDITOR = person('audit@example.com');
const MALLORY = person('mallory@example.com');

const { sys } = useOrdersSystem('uc-review', 'ucreview', (db) => reviewedPolicy(ordersPolicy(db)));

async function breakGlass(): Promise<string> {
  const { request } = await createRequest(
    {
      body: {
        target: 'orders',
        level: 'breakglass',
        duration: '30m',
        reason: 'outage INC-9',
        breakGlass: true,
      },
      caller: ERIN,
    },
    sys().deps,
  );
  expect(request.breakGlass).toBe(true);
  return request.id;
}

const flaggedFor = async (caller: Identity) =>
  (await listRequests({ query: { view: 'flagged' }, caller }, sys().deps)).items.map((r) => r.id);
const review = (requestId: string, caller: Identity, body: unknown = {}) =>
  reviewRequest({ requestId, caller, body }, sys().deps);
const events = (id: string) => sys().deps.audit.list(id);

describe('reviewers of a break-glass request', () => {
  it('see it in the flagged list (notify addresses and global reviewers), nobody else does', async () => {
    const id = await breakGlass();

    expect(await flaggedFor(SECURITY)).toContain(id);
    expect(await flaggedFor(AUDITOR)).toContain(id);
    expect(await flaggedFor(MALLORY)).not.toContain(id);
    expect(await flaggedFor(ERIN)).not.toContain(id); // the requester cannot acknowledge it
  });

  it('lists flagged requests newest first', async () => {
    const older = await breakGlass();
    sys().clock.advance(1);
    const newer = await breakGlass();

    const ids = await flaggedFor(SECURITY);
    expect(ids.indexOf(newer)).toBeLessThan(ids.indexOf(older));
    expect(ids.indexOf(newer)).toBeGreaterThanOrEqual(0);
  });

  it('may show it and read its audit; an unrelated caller still may not', async () => {
    const id = await breakGlass();

    for (const reviewer of [SECURITY, AUDITOR]) {
      const view = await getRequest({ requestId: id, caller: reviewer }, sys().deps);
      expect(view).toMatchObject({ id, breakGlass: true, flagged: true });
      const audit = await requestAudit({ requestId: id, caller: reviewer }, sys().deps);
      expect(audit.events.map((e) => e.action)).toEqual(['break-glass']);
      expect(audit.verification.ok).toBe(true);
    }
    await expect(getRequest({ requestId: id, caller: MALLORY }, sys().deps)).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
    });
    await expect(requestAudit({ requestId: id, caller: MALLORY }, sys().deps)).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
    });
  });
});

describe('acknowledging a break-glass request', () => {
  it('records the review with its audit event and takes it off the flagged list; a second one is refused', async () => {
    const id = await breakGlass();
    sys().clock.advance(60);

    const view = await review(id, SECURITY, { comment: 'checked with the on-call' });

    expect(view.flagged).toBe(false);
    expect(view.review).toEqual({
      by: 'security@example.com',
      email: 'security@example.com',
      at: sys().clock.now().toISOString(),
      comment: 'checked with the on-call',
      via: 'local',
    });
    const last = (await events(id)).at(-1);
    expect(last).toMatchObject({
      action: 'reviewed',
      actor: 'security@example.com',
      fromStatus: view.status,
      toStatus: view.status,
      comment: 'checked with the on-call',
    });
    expect(await flaggedFor(SECURITY)).not.toContain(id);
    expect(await flaggedFor(AUDITOR)).not.toContain(id);
    expect((await getRequest({ requestId: id, caller: AUDITOR }, sys().deps)).flagged).toBe(false);

    await expect(review(id, AUDITOR)).rejects.toMatchObject({ code: 'ALREADY_REVIEWED' });
    expect((await sys().deps.audit.verify(id)).ok).toBe(true);
  });

  it.each([
    ['refuses a non-reviewer with NOT_A_REVIEWER, audited on the request', MALLORY, 'NOT_A_REVIEWER'],
    [
      'refuses the requester with SELF_REVIEW_FORBIDDEN, audited on the request',
      ERIN,
      'SELF_REVIEW_FORBIDDEN',
    ],
  ])('%s', async (_name, reviewer, code) => {
    const id = await breakGlass();

    await expect(review(id, reviewer)).rejects.toMatchObject({ code });

    expect((await events(id)).at(-1)).toMatchObject({
      action: 'refused',
      actor: reviewer.principal,
      details: { code },
    });
    expect(await flaggedFor(SECURITY)).toContain(id);
    expect((await sys().deps.audit.verify(id)).ok).toBe(true);
  });

  it('refuses a request that is not break-glass with NOT_FLAGGED', async () => {
    const { request } = await createRequest(
      {
        body: { target: 'orders', level: 'read', duration: '1h', reason: 'INC-7', ticket: 'INC-7' },
        caller: ERIN,
      },
      sys().deps,
    );

    await expect(review(request.id, AUDITOR)).rejects.toMatchObject({ code: 'NOT_FLAGGED' });
    expect((await getRequest({ requestId: request.id, caller: AUDITOR }, sys().deps)).flagged).toBe(false);
    expect((await events(request.id)).map((e) => e.action)).toEqual(['requested']);
  });
});
