/**
 * checkAnchor's time bounds: which of a chain's events must a digest cover, judged only from what a writer of
 * the audit and digests tables without the signing key cannot choose (signed digests, the request id), never
 * from the events' own `at` or the anchor pointers alone.
 */
import { describe, expect, it } from 'vitest';
import {
  checkAnchor,
  type DigestEvidence,
  type DigestHead,
  nextDigest,
  type SignedDigest,
  type UnsignedDigest,
} from '../../functions/domain/audit-anchor.js';
import { chainEvent } from '../../functions/domain/audit-chain.js';
import { newRequestId } from '../../functions/domain/naming.js';
import { type AuditEvent, GENESIS_HASH } from '../../functions/domain/types.js';

const signature = { signature: 'c2lnbmVk', keyId: 'digest-key', algorithm: 'ECDSA_SHA_256' as const };
const ms = (iso: string) => Date.parse(iso);

function signed(previous: UnsignedDigest | undefined, at: string, heads: DigestHead[] = []): SignedDigest {
  return { ...nextDigest(previous, new Date(at), heads), ...signature };
}
const ok = (digest: SignedDigest) => ({ digest, signatureOk: true });

/** Digest 1 starts anchoring on Nov 1; digests 2 and 3 are the newest, on Nov 20. */
const d1 = signed(undefined, '2026-11-01T00:00:00.000Z');
const d2 = signed(d1, '2026-11-20T00:00:00.000Z');
const d3 = signed(d2, '2026-11-20T00:05:00.000Z');
const latestIsD3: DigestEvidence = { latest: ok(d3), beforeLatest: ok(d2), first: ok(d1) };

function requestCreated(iso: string): string {
  return newRequestId(ms(iso), new Uint8Array(10).fill(7));
}

/** A chain of `times.length` events of `stream`, event n dated times[n-1]. */
function chain(stream: string, times: readonly string[]): AuditEvent[] {
  let prevHash = GENESIS_HASH;
  return times.map((at, index) => {
    const event = chainEvent(
      {
        at,
        actor: 'erin@example.com',
        via: 'iam',
        action: 'approval-recorded',
        comment: `note ${index + 1}`,
      },
      { requestId: stream, seq: index + 1, prevHash },
    );
    prevHash = event.hash;
    return event;
  });
}

describe('checkAnchor: a chain no pointer names', () => {
  it('fails for a request made after anchoring started, however its events are dated (pointer removed, chain backdated)', () => {
    const id = requestCreated('2026-11-10T00:00:00.000Z');
    for (const times of [
      ['2026-10-01T00:00:00.000Z', '2026-10-01T00:01:00.000Z'], // before digest 1
      ['2026-11-25T00:00:00.000Z'], // after the newest digest
      ['not a time'],
      [], // every event deleted
    ]) {
      expect(checkAnchor(id, chain(id, times), latestIsD3)).toEqual({
        ok: false,
        problem:
          `request ${id} was created at 2026-11-10T00:00:00.000Z (its id says so), before digest 3, but no ` +
          'digest anchors its chain: its anchor pointer was removed, or its events were kept from the digests',
        latestDigest: { seq: 3, at: d3.at },
      });
    }
  });

  it('passes a request made before anchoring started, or too recently for the newest digest to have seen it', () => {
    for (const created of ['2026-10-31T23:59:59.000Z', '2026-11-20T00:03:30.000Z']) {
      const id = requestCreated(created);
      expect(checkAnchor(id, chain(id, [created]), latestIsD3)).toEqual({
        ok: true,
        unanchoredSince: { seq: 1, at: created },
        latestDigest: { seq: 3, at: d3.at },
      });
    }
  });

  it('holds a loose stream (no request id) to its events\u2019 times, as before', () => {
    const stream = 'security#2026-11-10';
    expect(checkAnchor(stream, chain(stream, ['2026-11-10T00:00:00.000Z']), latestIsD3)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^event 1 \(2026-11-10T00:00:00.000Z\) is older than digest 3/),
    });
    expect(checkAnchor(stream, chain(stream, ['2026-11-20T00:04:00.000Z']), latestIsD3)).toMatchObject({
      ok: true,
    });
  });
});

describe('checkAnchor: events after the anchored head', () => {
  const id = requestCreated('2026-11-10T00:00:00.000Z');
  const anchoredTwo = (events: AuditEvent[]) => {
    const head = { stream: id, seq: 2, hash: events[1]?.hash ?? '' };
    const a1 = signed(undefined, '2026-11-10T00:05:00.000Z', [head]);
    const a2 = signed(a1, '2026-11-20T00:00:00.000Z');
    const a3 = signed(a2, '2026-11-20T00:05:00.000Z');
    return {
      latest: ok(a3),
      beforeLatest: ok(a2),
      first: ok(a1),
      anchor: { ...head, digestSeq: 1 },
      anchorDigest: ok(a1),
      afterAnchor: ok(a2),
    } satisfies DigestEvidence;
  };

  /** The check of a chain whose first two events digest 1 anchored, and whose third is dated `third`. */
  const withThirdAt = (third: string) => {
    const events = chain(id, ['2026-11-10T00:00:00.000Z', '2026-11-10T00:01:00.000Z', third]);
    return checkAnchor(id, events, anchoredTwo(events));
  };

  it('fails when the first unanchored event is dated before the digest that anchored the head before it', () => {
    expect(withThirdAt('2026-10-01T00:00:00.000Z')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(
        /^event 3 \(2026-10-01T00:00:00.000Z\) is older than digest 3 but no digest anchors it/,
      ),
    });
  });

  it('passes an event written after the newest digest, naming the window', () => {
    expect(withThirdAt('2026-11-20T00:06:00.000Z')).toEqual({
      ok: true,
      anchored: { digestSeq: 1, digestAt: '2026-11-10T00:05:00.000Z', upToSeq: 2 },
      unanchoredSince: { seq: 3, at: '2026-11-20T00:06:00.000Z' },
      latestDigest: { seq: 3, at: '2026-11-20T00:05:00.000Z' },
    });
  });
});

describe('checkAnchor: when anchoring started comes from the signed first digest', () => {
  const id = requestCreated('2026-11-10T00:00:00.000Z');
  const events = chain(id, ['2026-11-10T00:00:00.000Z']);

  it('fails when digest 1 is gone (it would move the start to the newest digest and excuse everything)', () => {
    const { first: _gone, ...evidence } = latestIsD3;
    expect(checkAnchor(id, events, evidence)).toMatchObject({ ok: false, problem: 'digest 1 is missing' });
  });

  it('fails when digest 1 does not verify (a later `at` would excuse events before it)', () => {
    const moved = { ...d1, at: '2026-11-15T00:00:00.000Z' };
    expect(
      checkAnchor(id, events, { ...latestIsD3, first: { digest: moved, signatureOk: false } }),
    ).toMatchObject({
      ok: false,
      problem: "digest 1's signature does not verify",
    });
  });
});
