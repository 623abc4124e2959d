import { formatDuration } from '../domain/duration.js';
import type { Privileges, Target } from '../domain/policy-schema.js';
import type { AccessRequest, PendingExtension } from '../domain/types.js';

/**
 * What emails (emails.ts) and the approval-link pages (pages.ts) share: the facts of a request, escaping and
 * the page frame. Pure rendering. Everything that came from a requester or the
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
export function h(text: string): string {
  return `<bdi>${escapeHtml(text.replace(BIDI_CONTROLS, '\ufffd'))}</bdi>`;
}

/** User text for plain text: invisible direction controls made visible, control characters dropped. */
export function t(text: string): string {
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

export interface Fact {
  label: string;
  value: string;
}

export function factsOf({ request, target }: RequestFacts, extension?: PendingExtension): Fact[] {
  const facts: Fact[] = [
    { label: 'Requester', value: request.requesterEmail ?? request.requester },
    { label: 'Target', value: `${target.id} (${target.engine})` },
    { label: 'Environment', value: target.environment },
    { label: 'Level', value: request.level },
    { label: 'Privileges', value: privilegesSummary(request.privileges) },
    ...(request.statements
      ? [
          {
            label: 'Kind',
            value: `statement request: the SQL below runs once on approval, in one transaction, and nobody logs in`,
          },
          { label: 'Statement timeout', value: formatDuration(request.durationSeconds) },
        ]
      : [{ label: 'Duration', value: formatDuration(request.durationSeconds) }]),
    { label: 'Reason', value: request.reason || '(none given)' },
    { label: 'Ticket', value: request.ticket ?? '(none)' },
  ];
  if (request.breakGlass)
    facts.push({ label: 'Break-glass', value: 'yes — granted without approval, review it' });
  if (request.once) facts.push({ label: 'Use-once', value: 'one database session, revoked when it ends' });
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

/**
 * A statement request's SQL for approvers, verbatim: escaped, monospaced, whitespace kept, one block per statement,
 * with the SHA-256 the audit chain holds. Empty for a window request.
 */
export function statementsHtml(request: AccessRequest): string {
  if (!request.statements) return '';
  const plans = request.explain?.plans;
  const pre =
    'style="font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;border:1px solid #ccc;padding:8px;margin:0"';
  const planOf = (i: number) =>
    plans?.[i] === undefined
      ? ''
      : `<p style="margin:4px 0 2px;font-size:.85rem">Plan (EXPLAIN, computed without running it)</p><pre ${pre}><code>${h(plans[i] ?? '')}</code></pre>`;
  const blocks = request.statements
    .map(
      (sql, i) =>
        `<p style="margin:8px 0 2px">Statement ${i + 1} of ${request.statements?.length ?? 0}</p><pre style="font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;border:1px solid #ccc;padding:8px;margin:0"><code>${h(sql)}</code></pre>${planOf(i)}`,
    )
    .join('\n');
  return `<section aria-label="Statements"><h2 style="font-size:1.1rem">Statements to run</h2>${blocks}<p style="font-size:.85rem">SHA-256: <code>${escapeHtml(request.statementsSha256 ?? '')}</code></p></section>`;
}

/** The same for plain text: each statement between markers, control characters other than tab and newline dropped. */
export function statementsText(request: AccessRequest): string {
  if (!request.statements) return '';
  const total = request.statements.length;
  const plans = request.explain?.plans;
  const blocks = request.statements.map((sql, i) => {
    const plan =
      plans?.[i] === undefined ? '' : `\n----- its plan (EXPLAIN, not run) -----\n${t(plans[i] ?? '')}`;
    return `----- statement ${i + 1} of ${total} -----\n${t(sql.replace(/\r\n?/g, '\n'))}${plan}`;
  });
  return [
    'Statements to run:',
    ...blocks,
    '----- end -----',
    `SHA-256: ${request.statementsSha256 ?? ''}`,
  ].join('\n');
}

export function approvalsLine(request: AccessRequest, extension?: PendingExtension): string {
  const decisions = extension ? extension.approvals : request.approvals;
  const required = extension ? extension.approvalsRequired : request.approvalsRequired;
  const names = decisions.map((d) => d.email ?? d.by);
  return `${decisions.length} of ${required}${names.length ? ` (${names.join(', ')})` : ''}`;
}

export function factsHtml(facts: Fact[]): string {
  return `<table role="presentation" style="border-collapse:collapse">${facts
    .map(
      (f) =>
        `<tr><th scope="row" style="text-align:left;padding:2px 12px 2px 0;vertical-align:top">${escapeHtml(f.label)}</th><td style="padding:2px 0">${h(f.value)}</td></tr>`,
    )
    .join('')}</table>`;
}

export function factsText(facts: Fact[]): string {
  return facts.map((f) => `${f.label}: ${t(f.value)}`).join('\n');
}

export function page(title: string, body: string): string {
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
