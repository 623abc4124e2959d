/**
 * Issue #12, item 6: forged and replayed approval links through the real approval-links handler on DynamoDB
 * Local. A refused attempt is counted in a per-minute tally beside the request, never written to the request
 * item, so a flood neither slows nor conflicts with a real decision, and no attempt is lost.
 */
import { randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createRequest } from '../../functions/application/create-request.js';
import type { Deps, RequestStore } from '../../functions/application/ports.js';
import { requestAudit } from '../../functions/application/request-audit.js';
import { ConflictError } from '../../functions/domain/errors.js';
import {
  linkRefusalStream,
  linkRefusalWindowOfSeq,
  refusalWindowOf,
  UNKNOWN_SCOPE,
} from '../../functions/domain/link-refusals.js';
import { csrfTokenFor, parseLinkToken } from '../../functions/domain/link-tokens.js';
import { newRequestId } from '../../functions/domain/naming.js';
import { createHandler as linksHandler } from '../../functions/handlers/approval-links.js';
import { createHandler as requestApprovalHandler } from '../../functions/handlers/request-approval.js';
import { linkEvent } from '../support/apigw-events.js';
import {
  lambdaContext as context,
  delegatingStore,
  ERIN,
  linksIn,
  useOrdersSystem,
} from '../support/deps.js';

const { sys } = useOrdersSystem('link-flood', 'linkflood');
const quiet = { error: () => undefined };

/** The request store, counting every write to the request (a transition or an audit-only event) and every one that lost a race. */
function countingStore(real: RequestStore) {
  const counts = { transitions: 0, conflicts: 0 };
  const counted = async <T>(write: () => Promise<T>): Promise<T> => {
    counts.transitions++;
    try {
      return await write();
    } catch (error) {
      if (error instanceof ConflictError) counts.conflicts++;
      throw error;
    }
  };
  const store = delegatingStore(real, {
    transition: (...args) => counted(() => real.transition(...args)),
    recordEvent: (...args) => counted(() => real.recordEvent(...args)),
  });
  return { store, counts };
}

async function link(
  deps: Deps,
  method: 'GET' | 'POST',
  token: string,
  options: { sourceIp?: string; form?: Record<string, string> } = {},
) {
  const res = (await linksHandler(deps, { logger: quiet })(
    linkEvent(method, token, { ...options, sourceIp: options.sourceIp ?? '198.51.100.7' }),
    context,
  )) as APIGatewayProxyResult;
  return { status: res.statusCode, html: res.body };
}

/** A token of the right shape whose secret was never issued. */
function forgedToken(requestId: string): string {
  return `${requestId}.${randomBytes(32).toString('base64url')}`;
}

async function pendingWithLinks(): Promise<{ id: string; links: Map<string, string> }> {
  const { request } = await createRequest(
    {
      body: { target: 'orders', level: 'read', duration: '1h', reason: 'INC-12', ticket: 'INC-12' },
      caller: ERIN,
    },
    sys().deps,
  );
  const sent = sys().outbox.length;
  await requestApprovalHandler(sys().deps)({ requestId: request.id, taskToken: `tt-${request.id}` }, context);
  return { id: request.id, links: linksIn(sys().outbox.slice(sent)) };
}

async function tallied(scope: string): Promise<number> {
  const markers = await sys().deps.audit.list(linkRefusalStream(scope));
  const counts = await sys().deps.requests.linkRefusalCounts(
    scope,
    markers.map((m) => linkRefusalWindowOfSeq(m.seq)),
  );
  return counts.reduce((sum, c) => sum + c.attempts, 0);
}

async function itemCount(): Promise<number> {
  const names = sys().tables.names;
  const count = async (TableName: string) =>
    (await sys().tables.client.send(new ScanCommand({ TableName, Select: 'COUNT' }))).Count ?? 0;
  return (await count(names.requestsTable)) + (await count(names.auditTable));
}

describe('a flood of forged approval links', () => {
  it('leaves a concurrent real approval on its first attempt, off the request, and counts every forged GET', async () => {
    const { id, links } = await pendingWithLinks();
    const before = await sys().deps.requests.get(id);
    const { store, counts } = countingStore(sys().deps.requests);
    const deps: Deps = { ...sys().deps, requests: store };
    const token = links.get('alice@example.com') ?? '';
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('no link in the email');

    const forged = Array.from({ length: 200 }, (_, i) =>
      link(deps, 'GET', forgedToken(id), { sourceIp: `203.0.113.${i % 4}` }),
    );
    const approval = link(deps, 'POST', token, { form: { decision: 'approve', csrf: csrfTokenFor(parsed) } });
    const [decided, ...refused] = await Promise.all([approval, ...forged]);

    expect(decided.status).toBe(200);
    expect(refused.map((r) => r.status)).toEqual(Array(200).fill(404));
    expect(refused[0]?.html).toContain('APPROVAL_LINK_INVALID');
    expect(counts).toEqual({ transitions: 1, conflicts: 0 });
    const after = await sys().deps.requests.get(id);
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    const actions = (await sys().deps.audit.list(id)).map((e) => e.action);
    expect(actions).not.toContain('link-refused');
    expect(actions.at(-1)).toBe('approval-recorded');
    expect((await sys().deps.audit.verify(id)).ok).toBe(true);

    expect(await tallied(id)).toBe(200);
    const view = await requestAudit({ requestId: id, caller: ERIN }, sys().deps);
    const window = refusalWindowOf(sys().clock.now());
    expect(view.linkRefusals).toEqual(
      [0, 1, 2, 3].map((n) => ({
        window,
        code: 'APPROVAL_LINK_INVALID',
        method: 'GET',
        sourceIp: `203.0.113.${n}`,
        attempts: 50,
      })),
    );
    // The window's first refusal is on the audit table once, write-once, beside the chain.
    const markers = await sys().deps.audit.list(linkRefusalStream(id));
    expect(markers).toHaveLength(1);
    expect(markers[0]).toMatchObject({
      action: 'link-refused',
      actor: 'anonymous',
      details: { code: 'APPROVAL_LINK_INVALID', method: 'GET', window },
    });
  });

  it('decides on the read the link check made: one read and one write per approval', async () => {
    const { id, links } = await pendingWithLinks();
    let reads = 0;
    const { store, counts } = countingStore(
      delegatingStore(sys().deps.requests, {
        get: (rid) => {
          reads++;
          return sys().deps.requests.get(rid);
        },
      }),
    );
    const token = links.get('alice@example.com') ?? '';
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('no link in the email');
    const decided = await link({ ...sys().deps, requests: store }, 'POST', token, {
      form: { decision: 'approve', csrf: csrfTokenFor(parsed) },
    });
    expect(decided.status).toBe(200);
    expect({ reads, ...counts }).toEqual({ reads: 1, transitions: 1, conflicts: 0 });
    const last = (await sys().deps.audit.list(id)).at(-1);
    expect(last).toMatchObject({ action: 'approval-recorded', actor: 'alice@example.com' });
  });

  it('re-reads when the request changed after the link check, and then refuses the link as used', async () => {
    const { id, links } = await pendingWithLinks();
    const bobToken = links.get('bob@example.com') ?? '';
    const bob = parseLinkToken(bobToken);
    const aliceToken = links.get('alice@example.com') ?? '';
    const alice = parseLinkToken(aliceToken);
    if (!bob || !alice) throw new Error('no links in the email');
    let reads = 0;
    const racing = delegatingStore(sys().deps.requests, {
      get: async (rid) => {
        const read = await sys().deps.requests.get(rid);
        // Between alice's link check and her write, bob decides through his own link.
        if (++reads === 1) {
          const bobs = await link(sys().deps, 'POST', bobToken, {
            form: { decision: 'deny', csrf: csrfTokenFor(bob) },
          });
          expect(bobs.status).toBe(200);
        }
        return read;
      },
    });
    const { store, counts } = countingStore(racing);
    const alices = await link({ ...sys().deps, requests: store }, 'POST', aliceToken, {
      form: { decision: 'approve', csrf: csrfTokenFor(alice) },
    });
    expect(alices.status).toBe(410);
    expect(alices.html).toContain('APPROVAL_LINK_USED');
    expect({ reads, ...counts }).toEqual({ reads: 2, transitions: 1, conflicts: 1 });
    expect((await sys().deps.requests.get(id))?.status).toBe('DENIED');
  });

  it('counts every one of 200 concurrent forged tokens for unknown requests, losing none', async () => {
    const before = await tallied(UNKNOWN_SCOPE);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        link(sys().deps, 'GET', forgedToken(newRequestId(Date.now() + i, randomBytes(10)))),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(200).fill(404));
    expect((await tallied(UNKNOWN_SCOPE)) - before).toBe(200);
    const markers = await sys().deps.audit.list(linkRefusalStream(UNKNOWN_SCOPE));
    expect(markers.at(-1)?.details).toMatchObject({
      code: 'APPROVAL_LINK_INVALID',
      sourceIp: '198.51.100.7',
    });
    expect(markers.at(-1)?.details?.claimedRequestId).toMatch(/^[0-9a-z]{26}$/);
  });

  it('writes nothing for 50 repeated GETs of a link already used', async () => {
    const { id, links } = await pendingWithLinks();
    const token = links.get('bob@example.com') ?? '';
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('no link in the email');
    const decided = await link(sys().deps, 'POST', token, {
      form: { decision: 'approve', csrf: csrfTokenFor(parsed) },
    });
    expect(decided.status).toBe(200);
    const stored = await itemCount();
    const version = (await sys().deps.requests.get(id))?.version;

    for (let i = 0; i < 50; i++) {
      const again = await link(sys().deps, 'GET', token);
      expect(again.status).toBe(410);
      expect(again.html).toContain('APPROVAL_LINK_USED');
    }
    expect(await itemCount()).toBe(stored);
    expect((await sys().deps.requests.get(id))?.version).toBe(version);
  });

  it('counts a replayed POST of a used link beside the request, not on it', async () => {
    const { id, links } = await pendingWithLinks();
    const token = links.get('carol@example.com') ?? '';
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('no link in the email');
    const form = { decision: 'approve', csrf: csrfTokenFor(parsed) };
    expect((await link(sys().deps, 'POST', token, { form })).status).toBe(200);
    const version = (await sys().deps.requests.get(id))?.version;
    const replayed = await link(sys().deps, 'POST', token, { form });
    expect(replayed.status).toBe(410);
    expect((await sys().deps.requests.get(id))?.version).toBe(version);
    const view = await requestAudit({ requestId: id, caller: ERIN }, sys().deps);
    expect(view.linkRefusals).toMatchObject([{ code: 'APPROVAL_LINK_USED', method: 'POST', attempts: 1 }]);
    expect(view.events.map((e) => e.action)).not.toContain('link-refused');
  });
});
