/**
 * Audit anchoring on DynamoDB Local: the digest function's run, and verification against the signed digests,
 * including what a compromised writer of the requests and audit tables can and cannot do.
 */
import { randomBytes } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDigestStore } from '../../functions/adapters/dynamodb-digests.js';
import { ephemeralFileSigner } from '../../functions/adapters/file-signer.js';
import { anchorReport, auditDigest } from '../../functions/application/audit-digest.js';
import type { Deps, Signer } from '../../functions/application/ports.js';
import { chainEvent } from '../../functions/domain/audit-chain.js';
import { newRequestId } from '../../functions/domain/naming.js';
import type { AccessRequest, AuditDraft, AuditEvent } from '../../functions/domain/types.js';
import { TestClock } from '../support/deps.js';
import {
  type DynamoTestTables,
  dynamoTestTables,
  pendingRequest,
  requestedDraft,
} from '../support/dynamodb-local.js';
import { services } from '../support/services.js';

const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

interface Fixture {
  t: DynamoTestTables;
  clock: TestClock;
  digests: DynamoDigestStore;
  deps: Deps;
  metrics: Map<string, number>;
}

const open: DynamoTestTables[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.close();
});

/** Fresh tables (requests, audit, digests) per test: digests are global, so tests must not share them. */
async function fixture(signer: Signer = ephemeralFileSigner()): Promise<Fixture> {
  const t = await dynamoTestTables(services().dynamodbEndpoint, 'anchor');
  open.push(t);
  const clock = new TestClock(new Date(T0));
  const digests = new DynamoDigestStore({ client: t.doc, digestsTable: t.names.digestsTable ?? '' });
  const metrics = new Map<string, number>();
  const deps = {
    clock,
    audit: t.audit,
    metrics: { count: (name: string, value = 1) => metrics.set(name, (metrics.get(name) ?? 0) + value) },
    log: { info: () => undefined, warn: () => undefined },
    anchoring: { digests, signer },
  } as unknown as Deps;
  return { t, clock, digests, deps, metrics };
}

const note = (when: string, comment: string): AuditDraft => ({
  at: when,
  actor: 'bob@example.com',
  via: 'iam',
  action: 'approval-recorded',
  comment,
});

/** A request with `count` events, the first at `minute` and one a minute after another. */
async function requestWithEvents(f: Fixture, minute: number, count: number): Promise<AccessRequest> {
  let { request } = await f.t.requests.create(pendingRequest(), requestedDraft(at(minute)));
  for (let i = 1; i < count; i++) {
    request = await f.t.requests.recordEvent(request, note(at(minute + i), `note ${i}`));
  }
  return request;
}

/** A fresh fixture with a request of `count` events (minutes 0 on) that digest 1, at minute 5, anchored. */
async function anchoredRequest(count: number): Promise<{ f: Fixture; a: AccessRequest }> {
  const f = await fixture();
  const a = await requestWithEvents(f, 0, count);
  await digestAt(f, 5);
  return { f, a };
}

async function digestAt(f: Fixture, minute: number) {
  f.clock.set(at(minute));
  return auditDigest({}, f.deps);
}

/** What an attacker covering their tracks does: delete digest `seq` from the digests table. */
async function deleteDigest(f: Fixture, seq: number) {
  await f.t.doc.send(
    new DeleteCommand({ TableName: f.t.names.digestsTable, Key: { pk: 'digest', sk: seq } }),
  );
}

async function report(f: Fixture, request: AccessRequest) {
  return anchorReport(request.id, await f.t.audit.list(request.id), f.deps);
}

/** What a compromised writer does: rewrite event `seq`, recompute every later hash, move the head on the request. */
async function rewriteConsistently(f: Fixture, requestId: string, seq: number, comment: string) {
  const events = await f.t.audit.list(requestId);
  let prevHash = events[seq - 2]?.hash ?? '0'.repeat(64);
  let last: AuditEvent | undefined;
  for (const event of events.slice(seq - 1)) {
    const { requestId: _r, seq: s, prevHash: _p, hash: _h, ...draft } = event;
    const rewritten = chainEvent(s === seq ? { ...draft, comment } : draft, { requestId, seq: s, prevHash });
    await f.t.doc.send(
      new PutCommand({
        TableName: f.t.names.auditTable,
        Item: { ...rewritten, day: rewritten.at.slice(0, 10) },
      }),
    );
    prevHash = rewritten.hash;
    last = rewritten;
  }
  await f.t.doc.send(
    new UpdateCommand({
      TableName: f.t.names.requestsTable,
      Key: { id: requestId },
      UpdateExpression: 'SET auditHead = :head',
      ExpressionAttributeValues: { ':head': last?.hash },
    }),
  );
}

describe('the audit digest', () => {
  it('anchors every chain that changed since the last digest, in signed digests chained to each other', async () => {
    const f = await fixture();
    const a = await requestWithEvents(f, 0, 3);
    const b = await requestWithEvents(f, 0, 2);

    const first = await digestAt(f, 5);
    const digest1 = await f.digests.get(1);
    expect(first).toMatchObject({ digests: [1], heads: 2, streams: 2, mismatches: [] });
    expect(digest1?.heads).toEqual(
      [
        { stream: a.id, seq: 3, hash: a.auditHead },
        { stream: b.id, seq: 2, hash: b.auditHead },
      ].sort((x, y) => x.stream.localeCompare(y.stream)),
    );
    expect(digest1).toMatchObject({ algorithm: 'ECDSA_SHA_256', previousDigestHash: '0'.repeat(64) });

    const a4 = await f.t.requests.recordEvent(a, note(at(6), 'after the digest'));
    expect(await report(f, a4)).toEqual({
      ok: true,
      anchored: { digestSeq: 1, digestAt: at(5), upToSeq: 3 },
      unanchoredSince: { seq: 4, at: at(6) },
      latestDigest: { seq: 1, at: at(5) },
    });

    // b's events are in the overlap again, but its head has not moved: only a is anchored anew.
    expect(await digestAt(f, 10)).toMatchObject({ digests: [2], heads: 1 });
    expect((await f.digests.get(2))?.heads).toEqual([{ stream: a.id, seq: 4, hash: a4.auditHead }]);
    expect(await report(f, a4)).toEqual({
      ok: true,
      anchored: { digestSeq: 2, digestAt: at(10), upToSeq: 4 },
      latestDigest: { seq: 2, at: at(10) },
    });
    expect(await report(f, b)).toMatchObject({ ok: true, anchored: { digestSeq: 1, upToSeq: 2 } });
  });

  it('signs an empty digest when nothing changed, so a stopped digest function shows', async () => {
    const f = await fixture();
    expect(await digestAt(f, 5)).toMatchObject({ digests: [1], heads: 0, streams: 0 });
    expect(await digestAt(f, 10)).toMatchObject({ digests: [2], heads: 0 });
  });

  it('says nothing is anchored before the first digest', async () => {
    const f = await fixture();
    const a = await requestWithEvents(f, 0, 2);
    expect(await report(f, a)).toEqual({
      ok: true,
      note: 'no digest yet: nothing is anchored',
      unanchoredSince: { seq: 1, at: at(0) },
    });
  });
});

describe('a compromised writer of the requests and audit tables', () => {
  it('cannot rewrite an anchored event unnoticed, even after recomputing the whole chain', async () => {
    const { f, a } = await anchoredRequest(4);

    await rewriteConsistently(f, a.id, 2, 'nothing to see here');

    // The chain alone is consistent again (hashes recomputed, head moved on the request)…
    expect(await f.t.audit.verify(a.id)).toEqual({ ok: true, events: 4 });
    // …but it no longer matches the head the signed digest recorded.
    expect(await report(f, a)).toEqual({
      ok: false,
      problem:
        `event 4 does not match the head digest 1 anchored at ${at(5)}: ` +
        'the chain was rewritten (and recomputed) after it was anchored',
      latestDigest: { seq: 1, at: at(5) },
    });
    // The next digest does not re-anchor the rewritten chain; it reports it.
    const next = await digestAt(f, 10);
    expect(next.mismatches).toEqual([
      { stream: a.id, problem: 'event 4 differs from the head digest anchored' },
    ]);
    expect(next.heads).toBe(0);
    expect(f.metrics.get('AuditAnchorMismatch')).toBe(1);
    expect(await f.digests.anchorOf(a.id)).toMatchObject({ digestSeq: 1, seq: 4, hash: a.auditHead });
  });

  it('can rewrite events not yet anchored: the report names that window', async () => {
    const { f, a } = await anchoredRequest(2);
    const a3 = await f.t.requests.recordEvent(a, note(at(6), 'after the digest'));
    await rewriteConsistently(f, a.id, 3, 'rewritten before any digest saw it');

    expect(await report(f, a3)).toMatchObject({
      ok: true,
      anchored: { digestSeq: 1, upToSeq: 2 },
      unanchoredSince: { seq: 3, at: at(6) },
    });
  });

  it('cannot keep an event from the digests unnoticed: once a digest is past it, it is reported', async () => {
    const { f, a } = await anchoredRequest(2);
    // Written without the by-day index attribute, so no digest finds the chain.
    const hidden = chainEvent(note(at(6), 'kept from the digest'), {
      requestId: a.id,
      seq: 3,
      prevHash: a.auditHead,
    });
    await f.t.doc.send(new PutCommand({ TableName: f.t.names.auditTable, Item: hidden }));
    await digestAt(f, 10);

    expect(await report(f, a)).toMatchObject({
      ok: false,
      problem: `event 3 (${at(6)}) is older than digest 2 but no digest anchors it: it was kept from the digest, or written with a false time`,
    });
  });
});

describe('a writer of the audit and digests tables without the key', () => {
  it('cannot hide a rewritten chain by deleting its anchor pointer and dating its events before anchoring began', async () => {
    const f = await fixture();
    await digestAt(f, -10);
    // A request made after digest 1, as its id says (ids carry their creation time).
    const id = newRequestId(T0, randomBytes(10));
    const { request } = await f.t.requests.create(pendingRequest({ id }), requestedDraft(at(0)));
    const a = await f.t.requests.recordEvent(request, note(at(1), 'the real note'));
    await digestAt(f, 5);
    await digestAt(f, 10);
    expect(await report(f, a)).toMatchObject({ ok: true, anchored: { digestSeq: 2, upToSeq: 2 } });

    await f.t.doc.send(
      new DeleteCommand({ TableName: f.t.names.digestsTable, Key: { pk: `anchor#${id}`, sk: 2 } }),
    );
    let prevHash = '0'.repeat(64);
    for (const event of await f.t.audit.list(id)) {
      const { requestId: _r, seq, prevHash: _p, hash: _h, ...draft } = event;
      const backdated = chainEvent(
        { ...draft, at: at(-60 + seq), ...(seq === 2 ? { comment: 'a different note' } : {}) },
        { requestId: id, seq, prevHash },
      );
      await f.t.doc.send(new PutCommand({ TableName: f.t.names.auditTable, Item: backdated }));
      prevHash = backdated.hash;
    }
    await f.t.doc.send(
      new UpdateCommand({
        TableName: f.t.names.requestsTable,
        Key: { id },
        UpdateExpression: 'SET auditHead = :head',
        ExpressionAttributeValues: { ':head': prevHash },
      }),
    );

    expect(await f.t.audit.verify(id)).toEqual({ ok: true, events: 2 });
    expect(await report(f, a)).toEqual({
      ok: false,
      problem:
        `request ${id} was created at ${at(0)} (its id says so), before digest 3, but no digest anchors its ` +
        'chain: its anchor pointer was removed, or its events were kept from the digests',
      latestDigest: { seq: 3, at: at(10) },
    });
  });
});

describe('tampering with the digests', () => {
  it('reports a digest whose signature does not verify', async () => {
    const { f, a } = await anchoredRequest(2);
    const stored = await f.t.doc.send(
      new GetCommand({ TableName: f.t.names.digestsTable, Key: { pk: 'digest', sk: 1 } }),
    );
    await f.t.doc.send(
      new PutCommand({ TableName: f.t.names.digestsTable, Item: { ...stored.Item, at: at(4) } }),
    );

    expect(await report(f, a)).toMatchObject({ ok: false, problem: "digest 1's signature does not verify" });
  });

  it('reports digests signed with any other key', async () => {
    const { f, a } = await anchoredRequest(2);
    const other = { ...f.deps, anchoring: { digests: f.digests, signer: ephemeralFileSigner() } } as Deps;

    expect(await anchorReport(a.id, await f.t.audit.list(a.id), other)).toMatchObject({
      ok: false,
      problem: "digest 1's signature does not verify",
    });
  });

  it('detects a deleted latest digest that anchored the chain, through its anchor pointer', async () => {
    const { f, a } = await anchoredRequest(2);
    const a3 = await f.t.requests.recordEvent(a, note(at(6), 'anchored by digest 2'));
    await digestAt(f, 10);
    await deleteDigest(f, 2);

    expect(await report(f, a3)).toMatchObject({
      ok: false,
      problem: 'digest 2, which anchored event 3, is missing',
    });
  });

  it.each([
    {
      title: 'detects a deleted digest through the chain of digests',
      deleted: 1,
      reported: { ok: false, problem: 'digest 1 is missing' },
    },
    {
      // Only the age of the newest digest gives it away.
      title:
        'cannot tell a deleted latest digest that anchored nothing from one never written (the limitation)',
      deleted: 2,
      reported: { ok: true, latestDigest: { seq: 1, at: at(5) } },
    },
  ])('$title', async ({ deleted, reported }) => {
    const { f, a } = await anchoredRequest(2);
    await digestAt(f, 10);
    await deleteDigest(f, deleted);

    expect(await report(f, a)).toMatchObject(reported);
  });
});
