import { createHash } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { fromAuditItem } from '../../functions/adapters/dynamodb-tables.js';
import { type ChainVerification, hashAuditEvent, verifyChain } from '../../functions/domain/audit-chain.js';
import { applyEvent, type LifecycleEvent } from '../../functions/domain/lifecycle.js';
import { AccessLevel } from '../../functions/domain/policy-schema.js';
import {
  type AccessRequest,
  type AuditDraft,
  type AuditEvent,
  GENESIS_HASH,
} from '../../functions/domain/types.js';
import { pendingRequest, requestedDraft } from '../support/dynamodb-local.js';
import { useDynamoTestTables } from '../support/dynamodb-suite.js';
import { onSchema } from '../unit/support/policy-samples.js';

const t = useDynamoTestTables('audit');

const bob = { principal: 'bob@example.com', email: 'bob@example.com', via: 'approval-link' as const };
const carol = { principal: 'carol@example.com', email: 'carol@example.com', via: 'iam' as const };
const level = AccessLevel.parse({
  privileges: onSchema('public', 'SELECT'),
  maxDuration: '1h',
  approvers: [bob.principal, carol.principal],
  approvalsRequired: 2,
});

/** Applies events through the domain and the store, as the use cases do. */
async function play(request: AccessRequest, events: LifecycleEvent[]): Promise<AccessRequest> {
  let current = request;
  for (const [i, event] of events.entries()) {
    const { next, audit } = applyEvent(current, event, {
      level,
      now: new Date(Date.UTC(2026, 10, 23, 10, 1 + i)),
    });
    current = await t.requests.transition(current, next, audit);
  }
  return current;
}

/** A request taken from PENDING through approval, grant and revoke: five chained events. */
async function fullFlow(overrides: Partial<AccessRequest> = {}): Promise<AccessRequest> {
  const { request } = await t.requests.create(pendingRequest(overrides), requestedDraft());
  return play(request, [
    { type: 'approve', by: bob },
    { type: 'approve', by: carol },
    {
      type: 'granted',
      grant: { engine: 'postgres', kind: 'password', host: '127.0.0.1', port: 5432, database: 'orders' },
    },
    { type: 'revoked', reason: 'expired', sessionsTerminated: 1 },
  ]);
}

async function storedEvent(requestId: string, seq: number): Promise<AuditEvent> {
  const result = await t.doc.send(new GetCommand({ TableName: t.names.auditTable, Key: { requestId, seq } }));
  return fromAuditItem<AuditEvent>(result.Item ?? {});
}

describe('DynamoAuditLog.list and verify', () => {
  it('lists a request’s events in seq order, each linked to the one before', async () => {
    const request = await fullFlow();

    const events = await t.audit.list(request.id);

    expect(events.map((e) => [e.seq, e.action, e.fromStatus, e.toStatus])).toEqual([
      [1, 'requested', undefined, 'PENDING'],
      [2, 'approval-recorded', 'PENDING', 'PENDING'],
      [3, 'approved', 'PENDING', 'APPROVED'],
      [4, 'granted', 'APPROVED', 'ACTIVE'],
      [5, 'revoked', 'ACTIVE', 'REVOKED'],
    ]);
    expect(events[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < events.length; i++) expect(events[i]?.prevHash).toBe(events[i - 1]?.hash);
    expect(request.auditHead).toBe(events[4]?.hash);
  });

  it('lists nothing for an unknown request, and verifies it as an empty chain', async () => {
    expect(await t.audit.list('01jd8x3k5q7r9s1t3v5w7y9z1z')).toEqual([]);
    expect(await t.audit.verify('01jd8x3k5q7r9s1t3v5w7y9z1z')).toEqual({ ok: true, events: 0 });
  });

  it('verifies an untouched chain', async () => {
    const request = await fullFlow();

    expect(await t.audit.verify(request.id)).toEqual({ ok: true, events: 5 });
  });

  it('fails after a detail is added to an event', async () => {
    const request = await fullFlow();
    await t.doc.send(
      new UpdateCommand({
        TableName: t.names.auditTable,
        Key: { requestId: request.id, seq: 4 },
        UpdateExpression: 'SET details.expiresAt = :later',
        ExpressionAttributeValues: { ':later': '2026-11-24T10:00:00.000Z' },
      }),
    );

    expect(await t.audit.verify(request.id)).toMatchObject({ ok: false, brokenAt: 4 });
  });

  /** A tampering of a stored chain, and what verify then says. */
  type Tampering = [
    name: string,
    tamper: (requestId: string) => Promise<unknown>,
    verdict: ChainVerification,
  ];
  const deleteEvent = (requestId: string, seq: number) =>
    t.doc.send(new DeleteCommand({ TableName: t.names.auditTable, Key: { requestId, seq } }));
  const putEvent = (item: AuditEvent) =>
    t.doc.send(new PutCommand({ TableName: t.names.auditTable, Item: item }));

  it.each<Tampering>([
    [
      'fails after one event is edited behind the system’s back',
      (requestId) =>
        t.doc.send(
          new UpdateCommand({
            TableName: t.names.auditTable,
            Key: { requestId, seq: 3 },
            UpdateExpression: 'SET actor = :actor',
            ExpressionAttributeValues: { ':actor': 'mallory@example.com' },
          }),
        ),
      { ok: false, events: 5, brokenAt: 3, problem: 'event 3 was altered: its hash does not match' },
    ],
    [
      'fails after an event in the middle is deleted',
      (requestId) => deleteEvent(requestId, 2),
      { ok: false, events: 4, brokenAt: 2, problem: 'event 2 is missing (found 3)' },
    ],
    [
      'fails after the last event is deleted, by comparing with the head on the request',
      (requestId) => deleteEvent(requestId, 5),
      { ok: false, events: 4, brokenAt: 5, problem: 'the chain ends at 4 but the request records 5 events' },
    ],
    [
      'fails after two events are swapped',
      async (requestId) => {
        const second = await storedEvent(requestId, 2);
        const third = await storedEvent(requestId, 3);
        await putEvent({ ...third, seq: 2 });
        await putEvent({ ...second, seq: 3 });
      },
      { ok: false, events: 5, brokenAt: 2, problem: "event 2 does not link to the previous event's hash" },
    ],
    [
      'fails after an event is forged onto the end of the chain',
      async (requestId) => {
        const last = await storedEvent(requestId, 5);
        const { hash: _h, ...rest } = last;
        const forged = { ...rest, seq: 6, prevHash: last.hash, action: 'granted' as const };
        await putEvent({ ...forged, hash: hashAuditEvent(forged) });
      },
      { ok: false, events: 6, brokenAt: 6, problem: 'event 6 is not recorded on the request (head is 5)' },
    ],
  ])('%s', async (_name, tamper, verdict) => {
    const request = await fullFlow();
    await tamper(request.id);

    expect(await t.audit.verify(request.id)).toEqual(verdict);
  });
});

describe('DynamoAuditLog.appendLoose', () => {
  const draft = (n: number): AuditDraft => ({
    at: `2026-11-23T10:00:${String(n % 60).padStart(2, '0')}.000Z`,
    actor: 'anonymous',
    via: 'approval-link',
    action: 'link-refused',
    details: { code: 'APPROVAL_LINK_INVALID', attempt: n },
  });

  it('chains security events under their stream', async () => {
    const first = await t.audit.appendLoose('security#2026-11-23', draft(1));
    const second = await t.audit.appendLoose('security#2026-11-23', draft(2));

    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(first.prevHash).toBe(GENESIS_HASH);
    expect(second.prevHash).toBe(first.hash);
    expect(await t.audit.list('security#2026-11-23')).toEqual([first, second]);
  });

  it('gives 20 concurrent appends distinct consecutive seqs on one valid chain', async () => {
    const stream = 'security#2026-11-24';

    const appended = await Promise.all(
      Array.from({ length: 20 }, (_, i) => t.audit.appendLoose(stream, draft(i))),
    );

    expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const events = await t.audit.list(stream);
    expect(events).toHaveLength(20);
    expect(verifyChain(events)).toEqual({ ok: true, events: 20 });
    expect(await t.audit.verify(stream)).toEqual({ ok: true, events: 20 });
    expect(new Set(events.map((e) => e.details?.attempt)).size).toBe(20);
  });
});

describe('secrets never reach DynamoDB', () => {
  it('stores no password, IAM token or approval-link token after a full flow', async () => {
    const linkToken = `link-PLANTED-${createHash('sha256').update('a').digest('base64url')}`;
    const password = 'Pw-PLANTED-7f3a9c1e2b';
    const iamToken = 'db.internal:5432/?Action=connect&DBUser=jit_x&X-Amz-Signature=PLANTEDSIG';
    const request = await fullFlow({
      approvalLinks: [
        {
          approver: bob.principal,
          tokenHash: createHash('sha256').update(linkToken).digest('hex'),
          purpose: 'request',
          expiresAt: '2026-11-23T11:00:00.000Z',
        },
      ],
      taskToken: 'AQCEAAAAKgAAAAMAAAAA-server-side-capability',
    });
    // What the credentials use case records after handing `password` / `iamToken` to the requester.
    const issued: AuditDraft = {
      at: '2026-11-23T10:30:00.000Z',
      actor: 'erin@example.com',
      via: 'iam',
      action: 'credentials-issued',
      fromStatus: request.status,
      toStatus: request.status,
      details: {
        kind: 'password',
        username: request.dbUser,
        credentialExpiresAt: '2026-11-23T10:45:00.000Z',
      },
    };
    await t.requests.recordEvent(request, issued);
    await t.audit.appendLoose('security#2026-11-23', {
      at: '2026-11-23T10:31:00.000Z',
      actor: 'anonymous',
      via: 'approval-link',
      action: 'link-refused',
      details: {
        code: 'APPROVAL_LINK_INVALID',
        tokenHashPrefix: createHash('sha256').update('forged').digest('hex').slice(0, 12),
      },
    });

    const dump = JSON.stringify(
      await Promise.all(
        [t.names.requestsTable, t.names.auditTable].map(
          async (TableName) => (await t.client.send(new ScanCommand({ TableName }))).Items,
        ),
      ),
    );

    expect(dump).toContain(request.id);
    for (const secret of [linkToken, password, iamToken, 'PLANTED', 'X-Amz-Signature']) {
      expect(dump).not.toContain(secret);
    }
    const attributeNames = [...dump.matchAll(/"([A-Za-z]+)":\{"(?:S|N|BOOL|M|L|NULL)"/g)].map((m) => m[1]);
    expect(attributeNames).toEqual(expect.arrayContaining(['tokenHash', 'dbUser', 'auditHead', 'taskToken']));
    expect(
      attributeNames.filter((name) => /password|secret|credential(?!ExpiresAt)/i.test(name ?? '')),
    ).toEqual([]);
    expect((await t.audit.list(request.id)).map((e) => e.action).at(-1)).toBe('credentials-issued');
  });

  it('keeps the task token off every audit event', async () => {
    const request = await fullFlow({ taskToken: 'task-token-marker-4d2e' });
    const events = JSON.stringify(await t.audit.list(request.id));

    expect(events).toContain(request.id);
    expect(events).not.toContain('task-token-marker-4d2e');
  });
});
