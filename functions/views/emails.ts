import type { Email } from '../application/ports.js';
import { formatDuration } from '../domain/duration.js';
import type { Privileges, Target } from '../domain/policy-schema.js';
import type { AccessRequest, PendingExtension } from '../domain/types.js';

/**
 * Pure rendering of emails and of the approval-link pages. Everything that came from a requester or the
 * policy is HTML-escaped, and wrapped in <bdi> so right-to-left override characters cannot reorder the
 * text around it; the plain-text parts replace those invisible controls with a visible marker.
 */

const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** User text for HTML: escaped and isolated (bidi). */
function h(text: string): string {
  return `<bdi>${escapeHtml(text.replace(BIDI_CONTROLS, '\ufffd'))}</bdi>`;
}

/** User text for plain text: invisible direction controls made visible, control characters dropped. */
function t(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  return text.replace(BIDI_CONTROLS, '\ufffd').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

/** `SELECT, INSERT on public.*; SELECT on billing.invoices; role pg_read_all_data`. */
export function privilegesSummary(privileges: Privileges): string {
  const parts = [
    ...privileges.roles.map((role) => `role ${role}`),
    ...privileges.schemas.map((s) => {
      const tables =
        s.tables === '*' ? `${s.name}.*` : s.tables.map((table) => `${s.name}.${table}`).join(', ');
      return `${s.privileges.join(', ')} on ${tables}`;
    }),
  ];
  return parts.join('; ');
}

export interface RequestFacts {
  request: AccessRequest;
  target: Pick<Target, 'id' | 'environment' | 'engine'>;
}

interface Fact {
  label: string;
  value: string;
}

function factsOf({ request, target }: RequestFacts, extension?: PendingExtension): Fact[] {
  const facts: Fact[] = [
    { label: 'Requester', value: request.requesterEmail ?? request.requester },
    { label: 'Target', value: `${target.id} (${target.engine})` },
    { label: 'Environment', value: target.environment },
    { label: 'Level', value: request.level },
    { label: 'Privileges', value: privilegesSummary(request.privileges) },
    { label: 'Duration', value: formatDuration(request.durationSeconds) },
    { label: 'Reason', value: request.reason || '(none given)' },
    { label: 'Ticket', value: request.ticket ?? '(none)' },
  ];
  if (request.breakGlass)
    facts.push({ label: 'Break-glass', value: 'yes — granted without approval, review it' });
  if (extension) {
    facts.push(
      {
        label: 'Extension',
        value: `+${formatDuration(extension.durationSeconds)}, until ${extension.newExpiresAt}`,
      },
      { label: 'Extension reason', value: extension.reason },
    );
  }
  return facts;
}

function approvalsLine(request: AccessRequest, extension?: PendingExtension): string {
  const decisions = extension ? extension.approvals : request.approvals;
  const required = extension ? extension.approvalsRequired : request.approvalsRequired;
  const names = decisions.map((d) => d.email ?? d.by);
  return `${decisions.length} of ${required}${names.length ? ` (${names.join(', ')})` : ''}`;
}

function factsHtml(facts: Fact[]): string {
  return `<table role="presentation" style="border-collapse:collapse">${facts
    .map(
      (f) =>
        `<tr><th scope="row" style="text-align:left;padding:2px 12px 2px 0;vertical-align:top">${escapeHtml(f.label)}</th><td style="padding:2px 0">${h(f.value)}</td></tr>`,
    )
    .join('')}</table>`;
}

function factsText(facts: Fact[]): string {
  return facts.map((f) => `${f.label}: ${t(f.value)}`).join('\n');
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)} — jit-db-access</title>
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}textarea{width:100%}</style></head>
<body><main>
<h1>${escapeHtml(title)}</h1>
${body}
</main></body></html>`;
}

/**
 * The email asking one approver to decide: with that approver's own link, or without one (links are off for
 * the level, or the requester is not a known person) and the command to decide with a signed request instead.
 */
export function approvalRequestEmail(
  facts: RequestFacts,
  options: { to: string; link?: string; extension?: PendingExtension; escalation?: boolean },
): Email {
  const { request } = facts;
  const what = options.extension ? 'extend access' : 'access';
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
    `Approvals so far: ${approvalsLine(request, options.extension)}`,
    '',
    ...decideText,
    '',
    'If you did not expect this, ignore it; the request expires on its own.',
  ].join('\n');
  const html = `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif">
<p>${h(request.requesterEmail ?? request.requester)} asks to ${what} ${h(facts.target.id)}.</p>
${factsHtml(list)}
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

/**
 * The page a GET of an approval link shows: the facts, and a form whose buttons POST the decision with the
 * CSRF value. Showing it decides nothing (email scanners follow links).
 */
export function confirmationPage(
  facts: RequestFacts,
  options: {
    approver: string;
    actionUrl: string;
    csrf: string;
    extension?: PendingExtension;
    expiresAt: string;
  },
): string {
  const { request } = facts;
  const what = options.extension ? 'an extension of access' : 'access';
  return page(
    `Decide on ${what}`,
    `<p>${h(options.approver)}, ${h(request.requesterEmail ?? request.requester)} asks for ${what} to ${h(facts.target.id)}.</p>
${factsHtml(factsOf(facts, options.extension))}
<p>Approvals so far: ${h(approvalsLine(request, options.extension))}</p>
<form method="post" action="${escapeHtml(options.actionUrl)}">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<p><label for="comment">Comment (optional)</label><br><textarea id="comment" name="comment" rows="3" maxlength="1000"></textarea></p>
<p><button type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button></p>
</form>
<p><small>This link is yours alone and works once, until ${h(options.expiresAt)}.</small></p>`,
  );
}

export type LinkOutcome =
  | { kind: 'decided'; decision: 'approve' | 'deny'; status: string }
  | { kind: 'refused'; code: string; message: string };

const REFUSAL_TITLES: Record<string, string> = {
  APPROVAL_LINK_INVALID: 'This link is not valid',
  APPROVAL_LINK_USED: 'This link was already used',
  APPROVAL_LINK_EXPIRED: 'This link has expired',
  APPROVAL_WINDOW_CLOSED: 'The approval window has closed',
  CSRF_TOKEN_INVALID: 'Please use the confirmation page',
};

/** The page after a POST, or for a link that cannot be used. Names the error code for support. */
export function linkResultPage(outcome: LinkOutcome): string {
  if (outcome.kind === 'decided') {
    const verb = outcome.decision === 'approve' ? 'approval' : 'denial';
    return page(
      outcome.decision === 'approve' ? 'Approved' : 'Denied',
      `<p>Your ${verb} was recorded. The request is now ${h(outcome.status)}.</p><p>You can close this page.</p>`,
    );
  }
  const title = REFUSAL_TITLES[outcome.code] ?? 'This link cannot be used';
  return page(title, `<p>${h(outcome.message)}</p><p><small>Code: ${escapeHtml(outcome.code)}</small></p>`);
}
