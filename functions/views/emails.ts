/** The emails the system sends (approval requests, decisions, break-glass notices). Pure rendering. */
import type { Email } from '../application/ports.js';
import { formatDuration } from '../domain/duration.js';
import type { PendingExtension } from '../domain/types.js';
import {
  approvalsLine,
  escapeHtml,
  factsHtml,
  factsOf,
  factsText,
  h,
  type RequestFacts,
  statementsHtml,
  statementsText,
  t,
} from './render.js';

/**
 * The email asking one approver to decide: with that approver's own link, or without one (links are off for
 * the level, or the requester is not a known person) and the command to decide with a signed request instead.
 */
export function approvalRequestEmail(
  facts: RequestFacts,
  options: { to: string; link?: string; extension?: PendingExtension; escalation?: boolean },
): Email {
  const { request } = facts;
  const what = options.extension
    ? `more time (+${formatDuration(options.extension.durationSeconds)})`
    : request.statements
      ? `SQL to run once (${request.statements.length} statement${request.statements.length === 1 ? '' : 's'})`
      : 'access';
  const prefix = options.escalation ? '[escalated] ' : '';
  const subject = `${prefix}Approve ${what}: ${t(request.requesterEmail ?? request.requester)} → ${facts.target.id} (${request.level})`;
  const list = factsOf(facts, options.extension);
  const command = `jitdb approve ${request.id}   (or: jitdb deny ${request.id})`;
  const decideText = options.link
    ? [
        'Review and decide (the link is yours alone, works once, and opens a confirmation page first):',
        options.link,
      ]
    : [
        'This request is decided through the API only (no approval links for it). Review and decide with:',
        command,
      ];
  const decideHtml = options.link
    ? `<p><a href="${escapeHtml(options.link)}">Review and decide</a> — the link is yours alone, works once, and opens a confirmation page first.</p>`
    : `<p>This request is decided through the API only (no approval links for it). Review and decide with:</p><pre>${escapeHtml(command)}</pre>`;
  const text = [
    `${request.requesterEmail ?? request.requester} asks to ${what} ${facts.target.id}.`,
    '',
    factsText(list),
    ...(request.statements && !options.extension ? ['', statementsText(request), ''] : []),
    `Approvals so far: ${approvalsLine(request, options.extension)}`,
    '',
    ...decideText,
    '',
    'If you did not expect this, ignore it; the request expires on its own.',
  ].join('\n');
  const html = `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif">
<p>${h(request.requesterEmail ?? request.requester)} asks to ${what} ${h(facts.target.id)}.</p>
${factsHtml(list)}
${options.extension ? '' : statementsHtml(request)}
<p>Approvals so far: ${h(approvalsLine(request, options.extension))}</p>
${decideHtml}
<p>If you did not expect this, ignore it; the request expires on its own.</p>
</body></html>`;
  return { to: [options.to], subject, text, html };
}

/** Tells the approvers whose links were retired that someone else decided. */
export function decidedEmail(
  facts: RequestFacts,
  options: { to: string[]; outcome: string; by?: string },
): Email {
  const { request } = facts;
  const by = options.by ? ` by ${options.by}` : '';
  const subject = `Decided: ${t(request.requesterEmail ?? request.requester)} → ${facts.target.id} (${request.level}) ${options.outcome}`;
  const line = `The request ${request.id} was ${options.outcome}${by}. Your approval link no longer works; nothing more is needed from you.`;
  return {
    to: options.to,
    subject,
    text: `${t(line)}\n\n${factsText(factsOf(facts))}`,
    html: `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif"><p>${h(line)}</p>${factsHtml(factsOf(facts))}</body></html>`,
  };
}

/** Break-glass notice to the level's notify list. */
export function breakGlassEmail(facts: RequestFacts, to: string[]): Email {
  const { request } = facts;
  const line = `${request.requesterEmail ?? request.requester} used break-glass access to ${facts.target.id} (${request.level}). It was granted without approval and is flagged for review.`;
  return {
    to,
    subject: `Break-glass: ${t(request.requesterEmail ?? request.requester)} → ${facts.target.id} (${request.level})`,
    text: `${t(line)}\n\n${factsText(factsOf(facts))}`,
    html: `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif"><p>${h(line)}</p>${factsHtml(factsOf(facts))}</body></html>`,
  };
}
