import type { LinkRefusalCount } from '../../functions/application/ports.js';
import type { AuditVerification as ServerAuditVerification } from '../../functions/application/request-audit.js';
import type { AnchorReport } from '../../functions/domain/audit-anchor.js';
import type { AuditEvent } from '../../functions/domain/types.js';
import type { Command } from '../command.js';
import { table } from '../output.js';
import { requestPath } from './requests.js';

/** The server's verification; `anchor` is absent from servers older than audit anchoring. */
type AuditVerification = Omit<ServerAuditVerification, 'anchor'> & { anchor?: AnchorReport };

export const auditCommand: Command = {
  name: 'audit',
  summary: "a request's audit trail; --verify checks its hash chain and the signed digests that anchor it",
  args: ['<id>'],
  options: {
    verify: { type: 'boolean', help: 'check the hash chain and the signed digests; exit 3 if broken' },
  },
  examples: ['jitdb audit 01m83wct6xdqfgphc3n8h1hz1k --verify'],
  async run(context, input) {
    const id = input.arg(0);
    const body = await context.client.get<{
      events: AuditEvent[];
      verification: AuditVerification;
      linkRefusals?: LinkRefusalCount[];
    }>(requestPath(id, 'audit'));
    const events = body.events;
    const linkRefusals = body.linkRefusals ?? [];
    const verification = input.boolean('verify') ? body.verification : undefined;
    if (context.config.json) {
      // The bare event list stays the answer when there is nothing else to show.
      const plain = verification === undefined && linkRefusals.length === 0;
      context.output.out(
        JSON.stringify(
          plain
            ? events
            : {
                events,
                ...(linkRefusals.length > 0 ? { linkRefusals } : {}),
                ...(verification ? { verification } : {}),
              },
          null,
          2,
        ),
      );
    } else {
      context.output.out(
        table(events, [
          { header: 'SEQ', value: (e) => e.seq },
          { header: 'AT', value: (e) => e.at },
          { header: 'ACTOR', value: (e) => e.actor },
          { header: 'ACTION', value: (e) => e.action },
          {
            header: 'STATUS',
            value: (e) => (e.toStatus ? `${e.fromStatus ?? '-'} → ${e.toStatus}` : undefined),
          },
          { header: 'COMMENT', value: (e) => e.comment },
        ]),
      );
      if (linkRefusals.length > 0) {
        context.output.out('refused approval-link attempts (counted per minute, not on the chain):');
        context.output.out(
          table(linkRefusals, [
            { header: 'MINUTE', value: (r) => r.window },
            { header: 'CODE', value: (r) => r.code },
            { header: 'METHOD', value: (r) => r.method },
            { header: 'SOURCE', value: (r) => r.sourceIp },
            { header: 'ATTEMPTS', value: (r) => r.attempts },
          ]),
        );
      }
      if (verification) {
        // A broken chain always names where (brokenAt); ok: false without it is the anchor check failing.
        const chainOk = verification.brokenAt === undefined;
        context.output.out(
          chainOk
            ? `chain verified: ${verification.events} events`
            : `chain BROKEN at event ${verification.brokenAt ?? '?'}: ${verification.problem ?? 'hash mismatch'}`,
        );
        if (verification.anchor)
          for (const line of anchorLines(verification.anchor)) context.output.out(line);
      }
    }
    // A broken chain is tampering evidence, not a usage error: say so with a distinct failure.
    return verification && !verification.ok ? 3 : 0;
  },
};

/** What the digests say: which events a signed digest covers, which are not yet anchored, or what is wrong. */
export function anchorLines(anchor: AnchorReport): string[] {
  if (!anchor.ok) return [`anchor check FAILED: ${anchor.problem ?? 'does not match the signed digests'}`];
  const lines: string[] = [];
  if (anchor.note) lines.push(`anchor: ${anchor.note}`);
  if (anchor.anchored) {
    const { upToSeq, digestSeq, digestAt } = anchor.anchored;
    lines.push(`anchored: events 1–${upToSeq} by digest ${digestSeq} (${digestAt})`);
  }
  if (anchor.unanchoredSince) {
    const { seq, at } = anchor.unanchoredSince;
    lines.push(
      `not yet anchored: events from ${seq} (written since ${at}); a rewrite there would not be detected`,
    );
  }
  if (anchor.latestDigest)
    lines.push(`latest digest: ${anchor.latestDigest.seq} at ${anchor.latestDigest.at}`);
  return lines;
}
