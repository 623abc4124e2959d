/**
 * The audit hash chain: each event's hash covers its own content and the previous event's hash, so editing,
 * deleting or reordering any stored event breaks verification from that point on. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { type AuditDraft, type AuditEvent, GENESIS_HASH } from './types.js';

/** JSON with object keys sorted at every depth and undefined members dropped: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError('non-finite number in audit event');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  }
  const entries = Object.entries(value)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
}

/** The canonical text of an event without its `hash` (prevHash and seq included, so position is covered). */
export function canonicalAuditEvent(event: Omit<AuditEvent, 'hash'> | AuditEvent): string {
  const { hash: _ignored, ...rest } = event as AuditEvent;
  return canonicalJson(rest);
}

/** sha256(prevHash + '\n' + canonical event), lowercase hex. */
export function hashAuditEvent(event: Omit<AuditEvent, 'hash'> | AuditEvent): string {
  return createHash('sha256')
    .update(`${event.prevHash}\n${canonicalAuditEvent(event)}`, 'utf8')
    .digest('hex');
}

/** Numbers and links a draft into the chain at `seq` after `prevHash`. */
export function chainEvent(
  draft: AuditDraft,
  position: { requestId: string; seq: number; prevHash: string },
): AuditEvent {
  if (!Number.isInteger(position.seq) || position.seq < 1)
    throw new RangeError(`bad audit seq ${position.seq}`);
  const unhashed: Omit<AuditEvent, 'hash'> = {
    ...stripUndefined(draft),
    requestId: position.requestId,
    seq: position.seq,
    prevHash: position.prevHash,
  };
  return { ...unhashed, hash: hashAuditEvent(unhashed) };
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export interface ChainVerification {
  ok: boolean;
  /** How many events were checked. */
  events: number;
  /** The seq of the first event that does not verify (or the first missing one). */
  brokenAt?: number;
  problem?: string;
}

/**
 * Checks events in stored order: seq runs 1, 2, 3… without gaps, each prevHash is the previous hash, each
 * hash recomputes. With `expectedHead` (the request's auditSeq/auditHead) a deleted tail is caught too.
 */
export function verifyChain(events: readonly AuditEvent[], expectedHead?: ChainHead): ChainVerification {
  const count = events.length;
  let prevHash = GENESIS_HASH;
  const partition = events[0]?.requestId;
  for (const [index, event] of events.entries()) {
    const expectedSeq = index + 1;
    const broken = (problem: string): ChainVerification => ({
      ok: false,
      events: count,
      brokenAt: expectedSeq,
      problem,
    });
    if (event.requestId !== partition)
      return broken(`event ${event.seq} belongs to ${event.requestId}, not ${partition}`);
    if (event.seq !== expectedSeq) {
      return broken(
        event.seq > expectedSeq
          ? `event ${expectedSeq} is missing (found ${event.seq})`
          : `events out of order: found ${event.seq} where ${expectedSeq} belongs`,
      );
    }
    if (event.prevHash !== prevHash)
      return broken(`event ${expectedSeq} does not link to the previous event's hash`);
    if (hashAuditEvent(event) !== event.hash)
      return broken(`event ${expectedSeq} was altered: its hash does not match`);
    prevHash = event.hash;
  }
  if (expectedHead) {
    if (count < expectedHead.seq) {
      return {
        ok: false,
        events: count,
        brokenAt: count + 1,
        problem: `the chain ends at ${count} but the request records ${expectedHead.seq} events`,
      };
    }
    if (count > expectedHead.seq) {
      return {
        ok: false,
        events: count,
        brokenAt: expectedHead.seq + 1,
        problem: `event ${expectedHead.seq + 1} is not recorded on the request (head is ${expectedHead.seq})`,
      };
    }
    if (expectedHead.seq > 0 && prevHash !== expectedHead.hash) {
      return {
        ok: false,
        events: count,
        brokenAt: count,
        problem: `the last event's hash differs from the head recorded on the request`,
      };
    }
  }
  return { ok: true, events: count };
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T;
}
