import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type ChainHead,
  type ChainVerification,
  canonicalAuditEvent,
  canonicalJson,
  chainEvent,
  hashAuditEvent,
  verifyChain,
} from '../../functions/domain/audit-chain.js';
import { type AuditDraft, type AuditEvent, GENESIS_HASH } from '../../functions/domain/types.js';

const REQUEST_ID = '01jd8x3k5q7r9s1t3v5w7y9z1b';

function draft(action: AuditDraft['action'], minute: number, extra: Partial<AuditDraft> = {}): AuditDraft {
  return {
    at: `2026-11-23T10:${String(minute).padStart(2, '0')}:00.000Z`,
    actor: 'alice@example.com',
    via: 'iam',
    action,
    ...extra,
  };
}

function chain(drafts: AuditDraft[]): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const [index, d] of drafts.entries()) {
    const prevHash = events[index - 1]?.hash ?? GENESIS_HASH;
    events.push(chainEvent(d, { requestId: REQUEST_ID, seq: index + 1, prevHash }));
  }
  return events;
}

const fourEvents = () =>
  chain([
    draft('requested', 0, { toStatus: 'PENDING', details: { approvalsRequired: 2 } }),
    draft('approval-recorded', 1, {
      actor: 'bob@example.com',
      via: 'approval-link',
      details: { approvals: 1 },
    }),
    draft('approved', 2, { actor: 'carol@example.com', fromStatus: 'PENDING', toStatus: 'APPROVED' }),
    draft('granted', 3, {
      actor: 'system',
      via: 'system',
      details: { expiresAt: '2026-11-23T11:03:00.000Z' },
    }),
  ]);

/** The head a request records for the four events. */
const headOf = (events: AuditEvent[]): ChainHead => ({ seq: 4, hash: events[3]?.hash ?? '' });

function four(events: AuditEvent[]): [AuditEvent, AuditEvent, AuditEvent, AuditEvent] {
  const [a, b, c, d] = events;
  if (!a || !b || !c || !d) throw new Error('fixture');
  return [a, b, c, d];
}

/** An intact chain of events, tampered with; and the head recorded on the request, where the check is given one. */
type Tampering = (events: AuditEvent[]) => { chain: AuditEvent[]; head?: ChainHead };

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: true, y: null }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('gives the same text whatever the key order', () => {
    expect(canonicalJson({ x: 'é', y: 2 })).toBe(canonicalJson({ y: 2, x: 'é' }));
  });

  it('refuses non-finite numbers, which JSON cannot represent', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow('non-finite number in audit event');
  });
});

describe('chainEvent', () => {
  it('numbers the event, links it to the previous hash and hashes sha256(prevHash + newline + canonical)', () => {
    const event = chainEvent(draft('requested', 0, { toStatus: 'PENDING' }), {
      requestId: REQUEST_ID,
      seq: 1,
      prevHash: GENESIS_HASH,
    });
    const canonical =
      '{"action":"requested","actor":"alice@example.com","at":"2026-11-23T10:00:00.000Z",' +
      `"prevHash":"${GENESIS_HASH}","requestId":"${REQUEST_ID}","seq":1,"toStatus":"PENDING","via":"iam"}`;
    expect(canonicalAuditEvent(event)).toBe(canonical);
    expect(event.hash).toBe(createHash('sha256').update(`${GENESIS_HASH}\n${canonical}`).digest('hex'));
    expect(event.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps undefined optional fields out of the stored event', () => {
    const event = chainEvent(draft('requested', 0, { comment: undefined }), {
      requestId: REQUEST_ID,
      seq: 1,
      prevHash: GENESIS_HASH,
    });
    expect(Object.keys(event).sort()).toEqual([
      'action',
      'actor',
      'at',
      'hash',
      'prevHash',
      'requestId',
      'seq',
      'via',
    ]);
  });

  it('gives a different hash for the same draft at another position', () => {
    const d = draft('approval-recorded', 1);
    const first = chainEvent(d, { requestId: REQUEST_ID, seq: 2, prevHash: 'a'.repeat(64) });
    const second = chainEvent(d, { requestId: REQUEST_ID, seq: 3, prevHash: 'a'.repeat(64) });
    expect(first.hash).not.toBe(second.hash);
  });

  it('refuses a seq below 1', () => {
    expect(() =>
      chainEvent(draft('requested', 0), { requestId: REQUEST_ID, seq: 0, prevHash: GENESIS_HASH }),
    ).toThrow('bad audit seq 0');
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain', () => {
    expect(verifyChain(fourEvents())).toEqual({ ok: true, events: 4 });
  });

  it('accepts an intact chain that ends at the head recorded on the request', () => {
    const events = fourEvents();
    expect(verifyChain(events, headOf(events))).toEqual({ ok: true, events: 4 });
  });

  it('accepts an empty chain', () => {
    expect(verifyChain([])).toEqual({ ok: true, events: 0 });
  });

  it('detects a deleted last event only when compared with the head recorded on the request', () => {
    const events = fourEvents();
    const truncated = events.slice(0, 3);
    expect(verifyChain(truncated)).toEqual({ ok: true, events: 3 });
    expect(verifyChain(truncated, headOf(events))).toEqual({
      ok: false,
      events: 3,
      brokenAt: 4,
      problem: 'the chain ends at 3 but the request records 4 events',
    });
  });

  it.each<{ name: string; tamper: Tampering; outcome: ChainVerification }>([
    {
      name: 'an edited event by its hash',
      tamper: (events) => ({
        chain: events.map((e) => (e.seq === 2 ? { ...e, actor: 'mallory@example.com' } : e)),
      }),
      outcome: { ok: false, events: 4, brokenAt: 2, problem: 'event 2 was altered: its hash does not match' },
    },
    {
      name: 'an edited event whose hash was recomputed, at the next link',
      tamper: (events) => ({
        chain: events.map((e) => {
          if (e.seq !== 2) return e;
          const forged = { ...e, details: { approvals: 2 } };
          return { ...forged, hash: hashAuditEvent(forged) };
        }),
      }),
      outcome: {
        ok: false,
        events: 4,
        brokenAt: 3,
        problem: "event 3 does not link to the previous event's hash",
      },
    },
    {
      name: 'a deleted event in the middle by the seq gap',
      tamper: (events) => ({ chain: events.filter((e) => e.seq !== 2) }),
      outcome: { ok: false, events: 3, brokenAt: 2, problem: 'event 2 is missing (found 3)' },
    },
    {
      name: 'two events swapped in order',
      tamper: (events) => {
        const [a, b, c, d] = four(events);
        return { chain: [a, c, b, d] };
      },
      outcome: { ok: false, events: 4, brokenAt: 2, problem: 'event 2 is missing (found 3)' },
    },
    {
      name: 'two events whose contents were swapped under each other’s seq',
      tamper: (events) => {
        const [a, b, c, d] = four(events);
        return { chain: [a, { ...c, seq: 2 }, { ...b, seq: 3 }, d] };
      },
      outcome: {
        ok: false,
        events: 4,
        brokenAt: 2,
        problem: "event 2 does not link to the previous event's hash",
      },
    },
    {
      name: 'a forged event appended after the recorded head',
      tamper: (events) => {
        const head = headOf(events);
        const forged = chainEvent(draft('revoked', 9), {
          requestId: REQUEST_ID,
          seq: 5,
          prevHash: head.hash,
        });
        return { chain: [...events, forged], head };
      },
      outcome: {
        ok: false,
        events: 5,
        brokenAt: 5,
        problem: 'event 5 is not recorded on the request (head is 4)',
      },
    },
    {
      name: 'a last event replaced wholesale, by the head hash',
      tamper: (events) => {
        const replaced = chainEvent(draft('revoked', 9), {
          requestId: REQUEST_ID,
          seq: 4,
          prevHash: events[2]?.hash ?? '',
        });
        return { chain: [...events.slice(0, 3), replaced], head: headOf(events) };
      },
      outcome: {
        ok: false,
        events: 4,
        brokenAt: 4,
        problem: "the last event's hash differs from the head recorded on the request",
      },
    },
  ])('detects $name', ({ tamper, outcome }) => {
    const { chain, head } = tamper(fourEvents());
    expect(verifyChain(chain, head)).toEqual(outcome);
  });

  it.each<{ name: string; tamper: Tampering; brokenAt: number }>([
    {
      name: 'an added field in a stored event',
      tamper: (events) => ({ chain: events.map((e) => (e.seq === 1 ? { ...e, comment: 'looks fine' } : e)) }),
      brokenAt: 1,
    },
    {
      name: 'a deleted event whose successors were renumbered, by the broken link',
      tamper: (events) => ({
        chain: events.filter((e) => e.seq !== 2).map((e, index) => ({ ...e, seq: index + 1 })),
      }),
      brokenAt: 2,
    },
    {
      name: 'an event from another request mixed in',
      tamper: (events) => {
        const stranger = { ...(events[1] as AuditEvent), requestId: '01jd8x3k5q7r9s1t3v5w7y9z1c' };
        return { chain: [events[0] as AuditEvent, stranger] };
      },
      brokenAt: 2,
    },
  ])('detects $name', ({ tamper, brokenAt }) => {
    const { chain, head } = tamper(fourEvents());
    expect(verifyChain(chain, head)).toMatchObject({ ok: false, brokenAt });
  });
});
