import * as z from 'zod/mini';
import '../domain/zod-locale.js';
import {
  type AnchorReport,
  checkAnchor,
  DIGEST_OVERLAP_SECONDS,
  type DigestEvidence,
  type DigestHead,
  digestMessage,
  extendAnchor,
  nextDigest,
  type SignedDigest,
  type UnsignedDigest,
} from '../domain/audit-anchor.js';
import type { AuditEvent } from '../domain/types.js';
import type { AuditAnchoring, Deps } from './ports.js';

/** The first digest looks this far back (later ones start at the previous digest's time, minus the overlap). */
export const FIRST_DIGEST_LOOKBACK_HOURS = 24;
/** Heads per digest: keeps one digest item far under DynamoDB's 400 KB; more heads make more digests. */
export const MAX_HEADS_PER_DIGEST = 1000;
const STREAMS_READ_AT_ONCE = 16;

/** The schedule's event carries nothing; `{since}` (ISO time) re-reads from an earlier time (backfill). */
export const DigestInput = z.looseObject({ since: z.optional(z.iso.datetime({ offset: true })) });
export type DigestInput = z.infer<typeof DigestInput>;

export interface DigestReport {
  /** The digests this run signed and stored (at least one: an empty digest still shows the function runs). */
  digests: number[];
  heads: number;
  /** Chains that changed in the window. */
  streams: number;
  /** Chains whose events no longer hold the head a digest anchored: never re-anchored, reported and counted. */
  mismatches: { stream: string; problem: string }[];
  since: string;
}

function anchoringOf(deps: Deps): AuditAnchoring {
  if (!deps.anchoring) throw new Error('audit anchoring is not configured (no digests table or signing key)');
  return deps.anchoring;
}

/**
 * One digest run: every chain with events since the previous digest (minus an overlap for commit and index
 * lag) is read from its anchored head on, checked to extend it, and its new head signed into the next digest.
 * A chain that no longer holds its anchored head is not re-anchored: it is reported (AuditAnchorMismatch).
 */
export async function auditDigest(input: DigestInput, deps: Deps): Promise<DigestReport> {
  const { digests, signer } = anchoringOf(deps);
  const now = deps.clock.now();
  let previous: UnsignedDigest | undefined = await digests.latest();
  const since =
    input.since ??
    new Date(
      previous
        ? Date.parse(previous.at) - DIGEST_OVERLAP_SECONDS * 1000
        : now.getTime() - FIRST_DIGEST_LOOKBACK_HOURS * 3600_000,
    ).toISOString();
  const streams = await deps.audit.streamsWithEventsBetween(since, now.toISOString());
  const heads: DigestHead[] = [];
  const mismatches: DigestReport['mismatches'] = [];
  const readStream = async (stream: string) => {
    const anchor = await digests.anchorOf(stream);
    const events = await deps.audit.listFrom(stream, anchor?.seq ?? 1);
    return { stream, anchor, extension: extendAnchor(anchor, events) };
  };
  // A few chains at a time: the reads are two small queries each, and their order does not matter.
  for (let start = 0; start < streams.length; start += STREAMS_READ_AT_ONCE) {
    const read = await Promise.all(streams.slice(start, start + STREAMS_READ_AT_ONCE).map(readStream));
    for (const { stream, anchor, extension } of read) {
      if (!extension.ok)
        mismatches.push({ stream, problem: extension.problem ?? 'does not extend its anchor' });
      else if (extension.head && extension.head.seq > (anchor?.seq ?? 0))
        heads.push({ stream, ...extension.head });
    }
  }
  if (mismatches.length > 0) {
    deps.metrics.count('AuditAnchorMismatch', mismatches.length);
    deps.log.warn('audit chains no longer hold their anchored heads', { mismatches });
  }
  const written: number[] = [];
  for (let start = 0; start === 0 || start < heads.length; start += MAX_HEADS_PER_DIGEST) {
    const digest = nextDigest(previous, now, heads.slice(start, start + MAX_HEADS_PER_DIGEST));
    const signed: SignedDigest = { ...digest, ...(await signer.sign(digestMessage(digest))) };
    await digests.put(signed); // ConflictError: a concurrent run took this seq; the next run covers our heads
    written.push(signed.seq);
    previous = signed;
  }
  deps.metrics.count('AuditDigestHeads', heads.length);
  return { digests: written, heads: heads.length, streams: streams.length, mismatches, since };
}

/** How `events` (one chain, read in full) stand against the signed digests, or why that cannot be said. */
export async function anchorReport(
  stream: string,
  events: readonly AuditEvent[],
  deps: Deps,
): Promise<AnchorReport> {
  if (!deps.anchoring) return { ok: true, note: 'audit anchoring is not configured here' };
  const { digests, signer } = deps.anchoring;
  const checked = async (digest: SignedDigest | undefined) =>
    digest
      ? { digest, signatureOk: await signer.verify(digestMessage(digest), digest.signature) }
      : undefined;
  const [latestDigest, anchor] = await Promise.all([digests.latest(), digests.anchorOf(stream)]);
  const evidence: DigestEvidence = {};
  const latest = await checked(latestDigest);
  if (latest) evidence.latest = latest;
  if (latestDigest && latestDigest.seq > 1) {
    const before = await checked(await digests.get(latestDigest.seq - 1));
    if (before) evidence.beforeLatest = before;
    const first = latestDigest.seq === 2 ? before : await checked(await digests.get(1));
    if (first) evidence.first = first;
  }
  if (anchor) {
    evidence.anchor = anchor;
    const anchorDigest = await checked(await digests.get(anchor.digestSeq));
    if (anchorDigest) evidence.anchorDigest = anchorDigest;
    if (latestDigest && anchor.digestSeq < latestDigest.seq) {
      const after = await checked(await digests.get(anchor.digestSeq + 1));
      if (after) evidence.afterAnchor = after;
    }
  }
  return checkAnchor(stream, events, evidence);
}
