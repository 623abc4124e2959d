/**
 * Audit anchoring: periodic digests of the chain heads, signed with a key only the digest function may use and
 * chained to one another (the CloudTrail log-file-integrity pattern). A writer of the audit table can recompute
 * a whole chain consistently; it cannot make the recomputed chain match a head a signed digest recorded.
 * Pure: hashing and comparisons, no I/O (signatures are checked by the caller through the Signer port).
 */
import { createHash } from 'node:crypto';
import { canonicalJson, hashAuditEvent } from './audit-chain.js';
import { isRequestId, requestIdTime } from './naming.js';
import { type AuditEvent, GENESIS_HASH } from './types.js';

/** A signature over an audit digest: ECDSA P-256 over SHA-256, DER-encoded, base64. */
export interface DigestSignature {
  signature: string;
  keyId: string;
  algorithm: 'ECDSA_SHA_256';
}

/** One chain's head as a digest records it: the partition (request id or loose stream), its last seq and hash. */
export interface DigestHead {
  stream: string;
  seq: number;
  hash: string;
}

/** What is signed: the digest's position, time, its predecessor's hash and the heads it anchors. */
export interface UnsignedDigest {
  seq: number;
  at: string;
  previousDigestHash: string;
  heads: DigestHead[];
}

export type SignedDigest = UnsignedDigest & DigestSignature;

/** The newest head of a stream some digest anchored (a pointer; the signed digest is the authority). */
export interface StreamAnchor extends DigestHead {
  digestSeq: number;
}

/** The signed bytes: the canonical JSON of the unsigned part (signature, keyId and algorithm left out). */
export function digestMessage(digest: UnsignedDigest): Uint8Array {
  const { seq, at, previousDigestHash, heads } = digest;
  return new TextEncoder().encode(canonicalJson({ seq, at, previousDigestHash, heads }));
}

/** SHA-256 of the signed bytes, hex: what the next digest's previousDigestHash holds. */
export function digestHash(digest: UnsignedDigest): string {
  return createHash('sha256').update(digestMessage(digest)).digest('hex');
}

/** The digest after `previous` (or the first one), anchoring `heads` at `at`. */
export function nextDigest(
  previous: UnsignedDigest | undefined,
  at: Date,
  heads: DigestHead[],
): UnsignedDigest {
  return {
    seq: (previous?.seq ?? 0) + 1,
    at: at.toISOString(),
    previousDigestHash: previous ? digestHash(previous) : GENESIS_HASH,
    heads,
  };
}

export interface AnchorExtension {
  ok: boolean;
  /** The chain's current head, when it extends the anchor (or there was none). */
  head?: { seq: number; hash: string };
  problem?: string;
}

/**
 * Whether `events` (a chain read from `anchor.seq` on, or from 1 without an anchor) still holds the anchored
 * head and links correctly after it: the digest function extends an anchor only along its own chain, so a
 * rewritten and recomputed chain is never re-anchored.
 */
export function extendAnchor(anchor: DigestHead | undefined, events: readonly AuditEvent[]): AnchorExtension {
  const from = anchor?.seq ?? 1;
  let prevHash = anchor ? undefined : GENESIS_HASH;
  for (const [index, event] of events.entries()) {
    const seq = from + index;
    if (event.seq !== seq) return { ok: false, problem: `event ${seq} is missing (found ${event.seq})` };
    if (hashAuditEvent(event) !== event.hash)
      return { ok: false, problem: `event ${seq} was altered: its hash does not match` };
    if (anchor && seq === anchor.seq) {
      if (event.hash !== anchor.hash)
        return { ok: false, problem: `event ${seq} differs from the head digest anchored` };
    } else if (event.prevHash !== prevHash) {
      return { ok: false, problem: `event ${seq} does not link to the previous event's hash` };
    }
    prevHash = event.hash;
  }
  if (anchor && events.length === 0)
    return { ok: false, problem: `event ${anchor.seq}, anchored by a digest, is gone` };
  const last = events.at(-1);
  return { ok: true, ...(last ? { head: { seq: last.seq, hash: last.hash } } : {}) };
}

/** How a request's events stand against the digests (part of `GET /requests/{id}/audit`'s verification). */
export interface AnchorReport {
  /** Whether everything anchored still matches and the digests that say so verify. */
  ok: boolean;
  problem?: string;
  /** The last event of this chain a verified digest covers. */
  anchored?: { digestSeq: number; digestAt: string; upToSeq: number };
  /** The first event no digest covers yet, and when it was written: the window a rewrite would go unnoticed. */
  unanchoredSince?: { seq: number; at: string };
  /** The newest digest: its seq and time (old means the digest function is failing, or newer digests are gone). */
  latestDigest?: { seq: number; at: string };
  /** Anchoring is not deployed, or no digest exists yet. */
  note?: string;
}

/** The digests a verification read, each with whether its signature verified under the configured key. */
export interface DigestEvidence {
  latest?: { digest: SignedDigest; signatureOk: boolean };
  /** The digest before the latest (absent when the latest is the first, or when it is missing). */
  beforeLatest?: { digest: SignedDigest; signatureOk: boolean };
  /** The first digest: events before its time may predate anchoring (absent when missing, or the latest is it). */
  first?: { digest: SignedDigest; signatureOk: boolean };
  /** The stream's anchor pointer and the digest it names (absent if that digest is missing). */
  anchor?: StreamAnchor;
  anchorDigest?: { digest: SignedDigest; signatureOk: boolean };
  /** The digest after the anchoring one, which must chain to it (absent when the anchoring one is the latest). */
  afterAnchor?: { digest: SignedDigest; signatureOk: boolean };
}

/**
 * An event after the anchored head, written this long before the newest digest, should have been in it: the
 * digest reads events from the previous digest's time minus this overlap (commit and index lag).
 */
export const DIGEST_OVERLAP_SECONDS = 120;

/**
 * Checks a chain's events (already verified internally by verifyChain) against the signed digests:
 * the digests verify and chain, the anchored head is still in the events, and nothing older than the newest
 * digest is left out of it.
 *
 * "Older" leans only on what a writer of the tables cannot choose where it can: the signed digests (their
 * times, and when anchoring started), a request's id (a ULID: its creation time, which the request's first
 * event shares) and the digest a pointer names (an event after the head it anchored was written after it). The
 * events' own `at` and the pointers are the writer's to change: an event's `at` only ever moves its time later
 * than those bounds, and a chain with no pointer is held to its request's creation time.
 */
export function checkAnchor(
  stream: string,
  events: readonly AuditEvent[],
  evidence: DigestEvidence,
): AnchorReport {
  const { latest } = evidence;
  if (!latest && evidence.anchor) {
    return {
      ok: false,
      problem: `digest ${evidence.anchor.digestSeq}, which anchored this chain, is missing`,
    };
  }
  if (!latest) {
    return {
      ok: true,
      note: 'no digest yet: nothing is anchored',
      ...unanchored(events, 0),
    };
  }
  const latestDigest = { seq: latest.digest.seq, at: latest.digest.at };
  const fail = (problem: string): AnchorReport => ({ ok: false, problem, latestDigest });
  if (!latest.signatureOk) return fail(`digest ${latest.digest.seq}'s signature does not verify`);
  if (latest.digest.seq > 1) {
    const before = evidence.beforeLatest;
    if (!before) return fail(`digest ${latest.digest.seq - 1} is missing`);
    if (!before.signatureOk) return fail(`digest ${before.digest.seq}'s signature does not verify`);
    if (digestHash(before.digest) !== latest.digest.previousDigestHash)
      return fail(`digest ${latest.digest.seq} does not chain to digest ${before.digest.seq}`);
  }
  // When anchoring started: the first digest's signed time (digests count from 1, so a later one implies it).
  const first = latest.digest.seq === 1 ? latest : evidence.first;
  if (!first) return fail('digest 1 is missing');
  if (!first.signatureOk) return fail(`digest ${first.digest.seq}'s signature does not verify`);
  const startedAt = Date.parse(first.digest.at);
  const dueBy = Date.parse(latest.digest.at) - DIGEST_OVERLAP_SECONDS * 1000;
  const due = (ms: number) => ms >= startedAt && ms < dueBy;
  let upToSeq = 0;
  let anchored: AnchorReport['anchored'];
  const { anchor } = evidence;
  if (anchor) {
    if (anchor.digestSeq > latest.digest.seq)
      return fail(`digest ${anchor.digestSeq}, which anchored event ${anchor.seq}, is missing`);
    const signed = evidence.anchorDigest;
    if (!signed) return fail(`digest ${anchor.digestSeq}, which anchored event ${anchor.seq}, is missing`);
    if (!signed.signatureOk) return fail(`digest ${signed.digest.seq}'s signature does not verify`);
    const head = signed.digest.heads.find((h) => h.stream === anchor.stream);
    if (!head || head.seq !== anchor.seq || head.hash !== anchor.hash)
      return fail(`digest ${signed.digest.seq} does not hold the head its pointer names`);
    if (signed.digest.seq < latest.digest.seq) {
      const after = evidence.afterAnchor;
      if (!after) return fail(`digest ${signed.digest.seq + 1} is missing`);
      if (!after.signatureOk) return fail(`digest ${after.digest.seq}'s signature does not verify`);
      if (after.digest.previousDigestHash !== digestHash(signed.digest))
        return fail(`digest ${after.digest.seq} does not chain to digest ${signed.digest.seq}`);
    }
    const event = events[anchor.seq - 1];
    if (!event || event.seq !== anchor.seq)
      return fail(`event ${anchor.seq}, anchored by digest ${signed.digest.seq}, is gone`);
    if (event.hash !== anchor.hash) {
      return fail(
        `event ${anchor.seq} does not match the head digest ${signed.digest.seq} anchored at ${signed.digest.at}: ` +
          'the chain was rewritten (and recomputed) after it was anchored',
      );
    }
    upToSeq = anchor.seq;
    anchored = { digestSeq: signed.digest.seq, digestAt: signed.digest.at, upToSeq };
  }
  const request = isRequestId(stream);
  if (!anchored && request) {
    // Its first event was written when the request was made: a digest since then (less the overlap) anchored it.
    const created = requestIdTime(stream);
    if (due(created)) {
      return fail(
        `request ${stream} was created at ${new Date(created).toISOString()} (its id says so), before digest ` +
          `${latest.digest.seq}, but no digest anchors its chain: its anchor pointer was removed, ` +
          'or its events were kept from the digests',
      );
    }
  }
  const window = unanchored(events, upToSeq);
  const next = window.unanchoredSince;
  if (next) {
    // Never earlier than the anchoring digest's time (the digest read the chain after it), or the request's
    // creation: a backdated `at` cannot place the event before anchoring started.
    const floor = anchored
      ? Date.parse(anchored.digestAt)
      : request
        ? requestIdTime(stream)
        : Number.NEGATIVE_INFINITY;
    const own = Date.parse(next.at);
    if (due(Number.isNaN(own) ? floor : Math.max(own, floor))) {
      return fail(
        `event ${next.seq} (${next.at}) is older than digest ${latest.digest.seq} but no digest anchors it: ` +
          'it was kept from the digest, or written with a false time',
      );
    }
  }
  return { ok: true, ...(anchored ? { anchored } : {}), ...window, latestDigest };
}

function unanchored(events: readonly AuditEvent[], upToSeq: number): Pick<AnchorReport, 'unanchoredSince'> {
  const next = events[upToSeq];
  return next ? { unanchoredSince: { seq: next.seq, at: next.at } } : {};
}
