import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../../functions/domain/duration.js';
import { parseScopeArguments } from '../../functions/domain/scope.js';
import type { AccessRequest, RequestedScope, RequestStatus } from '../../functions/domain/types.js';
import { UsageError } from '../client.js';
import {
  type Command,
  type CommandContext,
  type Invocation,
  type OptionSpec,
  printResult,
} from '../command.js';
import { facts, relativeTime, table } from '../output.js';

/** What the API returns for a request: the stored request without its server-side secrets. */
export type RequestView = Pick<AccessRequest, 'id' | 'status'> &
  Partial<AccessRequest> & { flagged?: boolean; asked?: string[] };

const WAIT_DONE: readonly RequestStatus[] = [
  'ACTIVE',
  'EXECUTED',
  'DENIED',
  'EXPIRED',
  'CANCELLED',
  'FAILED',
  'REVOKED',
  'REVOKE_FAILED',
];
const WAIT_REFUSED: readonly RequestStatus[] = ['DENIED', 'EXPIRED', 'CANCELLED'];

export function requestPath(id: string, action?: string): string {
  return `/requests/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;
}

/** A duration flag's text, checked before anything is sent. */
export function requireDuration(text: string | undefined, flag: string): string {
  if (text === undefined) throw new UsageError(`${flag} is required (e.g. ${flag} 30m)`);
  if (parseDuration(text) === undefined)
    throw new UsageError(`${flag} '${text}' is not a duration (use 30m, 4h, 1h30m)`);
  return text;
}

export function showRequest(request: RequestView): string {
  return facts([
    ['id', request.id],
    ['status', request.status],
    ['failed', request.status === 'FAILED' ? failureText(request) : undefined],
    ['target', request.targetId],
    ['level', request.level],
    ['scope', request.scope ? scopeText(request.scope) : undefined],
    ['requester', request.requester],
    ['reason', request.reason],
    ['ticket', request.ticket],
    ['duration', request.statements ? undefined : durationText(request)],
    [
      'statements',
      request.statements
        ? `${request.statements.length}, SHA-256 ${request.statementsSha256 ?? '?'}${request.executedAt ? `; ran ${request.executedAt} (jitdb result ${request.id})` : ''}`
        : undefined,
    ],
    ['break-glass', request.breakGlass ? 'yes' : undefined],
    [
      'once',
      request.once ? (request.once.usedAt ? `used ${request.once.usedAt}` : 'not used yet') : undefined,
    ],
    ['flagged', request.flagged ? 'yes' : undefined],
    [
      'reviewed',
      request.review
        ? `${request.review.by} ${request.review.at}${request.review.comment ? `: ${request.review.comment}` : ''}`
        : undefined,
    ],
    ['auto-approved', request.autoApproved ? 'yes' : undefined],
    ['approvals', approvalsText(request.approvalsRequired, request.approvals)],
    ['approval deadline', request.status === 'PENDING' ? request.approvalDeadline : undefined],
    [
      'denied by',
      request.denial
        ? `${request.denial.by}${request.denial.comment ? `: ${request.denial.comment}` : ''}`
        : undefined,
    ],
    ['database user', request.grant?.dbUser],
    [
      'database',
      request.grant
        ? `${request.grant.engine} ${request.grant.host}:${request.grant.port}/${request.grant.database}`
        : undefined,
    ],
    ['expires', request.expiresAt ? `${request.expiresAt} (${relativeTime(request.expiresAt)})` : undefined],
    [
      'extension pending',
      request.extension ? `+${request.extension.durationSeconds}s: ${request.extension.reason}` : undefined,
    ],
    [
      'extension approvals',
      request.extension
        ? approvalsText(request.extension.approvalsRequired, request.extension.approvals)
        : undefined,
    ],
    [
      'revoked',
      request.revokedAt ? `${request.revokedAt} (${request.revokeReason ?? 'revoked'})` : undefined,
    ],
    [
      'last error',
      request.lastError && request.status !== 'FAILED'
        ? `${request.lastError.code}: ${request.lastError.message}`
        : undefined,
    ],
    ['created', request.createdAt],
  ]);
}

/** `public.orders, billing (SELECT)`: what the requester narrowed the level to. */
export function scopeText(scope: RequestedScope): string {
  return scope.schemas
    .flatMap((s) => {
      const privileges = s.privileges ? ` (${s.privileges.join(', ')})` : '';
      return s.tables ? s.tables.map((t) => `${s.name}.${t}${privileges}`) : [`${s.name}.*${privileges}`];
    })
    .join(', ');
}

/** Why a request ended FAILED, from its last recorded error. */
export function failureText(request: RequestView): string {
  return request.lastError
    ? `${request.lastError.code}: ${request.lastError.message}`
    : 'no reason recorded (see jitdb audit)';
}

/** The duration granted so far: the one asked for plus every approved extension. */
function durationText(request: RequestView): string | undefined {
  if (request.durationSeconds === undefined) return undefined;
  const extended = (request.extensions ?? []).reduce((sum, e) => sum + e.durationSeconds, 0);
  if (extended === 0) return `${request.durationSeconds}s`;
  return `${request.durationSeconds + extended}s (${request.durationSeconds}s asked + ${extended}s extended)`;
}

/** `1 of 2 (carol@example.com)`; nothing when no approval is needed. */
function approvalsText(required: number | undefined, approvals: readonly { by: string }[] | undefined) {
  if (required === undefined || required === 0) return undefined;
  const by = approvals?.length ? ` (${approvals.map((a) => a.by).join(', ')})` : '';
  return `${approvals?.length ?? 0} of ${required}${by}`;
}

export function requestTable(requests: readonly RequestView[]): string {
  return table(requests, [
    { header: 'ID', value: (r) => r.id },
    { header: 'STATUS', value: (r) => r.status },
    { header: 'TARGET', value: (r) => r.targetId },
    { header: 'LEVEL', value: (r) => r.level },
    { header: 'REQUESTER', value: (r) => r.requester },
    { header: 'WHEN', value: whenColumn },
    { header: 'REASON', value: (r) => r.reason },
  ]);
}

/** The time that matters in a request's status (when access ends, the approval window closes…), or why it failed. */
function whenColumn(r: RequestView): string | undefined {
  switch (r.status) {
    case 'ACTIVE':
    case 'REVOKE_FAILED':
      return r.expiresAt
        ? `expires ${relativeTime(r.expiresAt)}${r.extension ? ', extension waiting' : ''}`
        : undefined;
    case 'PENDING':
      return r.approvalDeadline ? `window closes ${relativeTime(r.approvalDeadline)}` : undefined;
    case 'REVOKED':
      return r.revokedAt ? `ended ${relativeTime(r.revokedAt)}` : undefined;
    case 'FAILED':
      return `failed: ${r.lastError?.code ?? 'see jitdb show'}`;
    default:
      return undefined;
  }
}

/**
 * Polls until the request settles; a spinner on a TTY only. Who was asked, and each approval as it arrives,
 * are written to stderr (stdout keeps the result). With `summary: 'err'` the result goes to stderr too (for
 * `connect`, whose stdout is the database client's); with `'none'` the caller prints it (`run`, which prints
 * the statements' result). Returns the exit code per the CLI contract: 0 granted or run, 4 refused, 3 failed.
 */
export async function waitForRequest(
  context: CommandContext,
  id: string,
  options: { summary?: 'out' | 'err' | 'none' } = {},
): Promise<number> {
  const pollMs = Number(context.env.JITDB_POLL_MS ?? 1000);
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  const human = !context.config.json;
  const spinning = context.output.isTty && human;
  const clearSpinner = () => spinning && process.stdout.write('\r\x1b[K');
  let tick = 0;
  let askedShown = '';
  let approvalsShown = 0;
  const progress = (r: RequestView) => {
    if (!human) return;
    const asked = (r.asked ?? []).join(', ');
    if (asked !== '' && asked !== askedShown) {
      clearSpinner();
      context.output.err(`asked: ${asked}`);
      askedShown = asked;
    }
    const approvals = r.approvals ?? [];
    approvals.slice(approvalsShown).forEach((a, i) => {
      clearSpinner();
      context.output.err(
        `approved by ${a.email ?? a.by} (${approvalsShown + i + 1} of ${r.approvalsRequired ?? 1})`,
      );
    });
    approvalsShown = Math.max(approvalsShown, approvals.length);
  };
  let request = await context.client.get<RequestView>(requestPath(id));
  progress(request);
  while (!WAIT_DONE.includes(request.status)) {
    if (spinning) {
      process.stdout.write(`\r${frames[tick++ % frames.length]} ${request.status.toLowerCase()} — waiting…`);
    }
    await sleep(pollMs);
    request = await context.client.get<RequestView>(requestPath(id));
    progress(request);
  }
  clearSpinner();
  const line =
    request.status === 'FAILED' ? `${statusLine(request)}: ${failureText(request)}` : statusLine(request);
  if (options.summary === 'err') {
    if (human) context.output.err(line);
  } else if (options.summary !== 'none') {
    printResult(context, request, () => line);
    if (request.status === 'ACTIVE' && human)
      context.output.out(`next: jitdb creds ${request.id}   or   jitdb connect ${request.id}`);
  }
  if (request.status === 'ACTIVE' || request.status === 'EXECUTED') return 0;
  if (WAIT_REFUSED.includes(request.status)) return 4;
  return 3;
}

/** The caller's own requests (the API's default view) in these statuses, every page of each. */
export async function myRequests(
  context: CommandContext,
  statuses: readonly RequestStatus[],
): Promise<RequestView[]> {
  const found: RequestView[] = [];
  for (const status of statuses) {
    let cursor: string | undefined;
    do {
      const page = await context.client.get<{ items: RequestView[]; cursor?: string } | RequestView[]>(
        '/requests',
        { status, limit: '100', ...(cursor ? { cursor } : {}) },
      );
      found.push(...(Array.isArray(page) ? page : page.items));
      cursor = Array.isArray(page) ? undefined : page.cursor;
    } while (cursor);
  }
  return found;
}

/** What a request asks for, as flags: `request` takes them, and `connect` when it asks for access itself. */
export const ACCESS_OPTIONS = {
  level: { type: 'string', value: 'LEVEL', help: 'the access level' },
  for: { type: 'string', value: 'DURATION', help: 'how long: 30m, 4h, 1h30m' },
  reason: { type: 'string', value: '"…"', help: 'why, shown to approvers and kept in the audit trail' },
  ticket: { type: 'string', value: 'TICKET', help: 'a ticket reference, if the level asks for one' },
  scope: {
    type: 'string',
    multiple: true,
    value: 'SCHEMA[.TABLE|.*]',
    help: 'narrow the level to a schema or a table (repeatable)',
  },
} as const satisfies Record<string, OptionSpec>;

/**
 * The body of POST /requests from a command's flags (`request`, and `connect` when it asks for access):
 * --level, --for, --reason, --ticket, --scope, --break-glass, --once, --idempotency-key; flags a command
 * does not take are absent.
 */
export function newRequestBody(input: Invocation, target: string): Record<string, unknown> {
  const duration = requireDuration(input.string('for'), '--for');
  const scope = parseScopeArguments(input.strings('scope'));
  return {
    target,
    level: input.string('level'),
    duration,
    ...given(input, { reason: 'reason', ticket: 'ticket', 'idempotency-key': 'idempotencyKey' }),
    ...(scope ? { scope } : {}),
    ...(input.boolean('break-glass') ? { breakGlass: true } : {}),
    ...(input.boolean('once') ? { once: true } : {}),
  };
}

/** `--reason`, `--ticket`, … as body fields: only the ones given. */
function given(input: Invocation, fields: Record<string, string>): Record<string, string> {
  const body: Record<string, string> = {};
  for (const [flag, field] of Object.entries(fields)) {
    const value = input.string(flag);
    if (value !== undefined) body[field] = value;
  }
  return body;
}

export const requestCommand: Command = {
  name: 'request',
  summary: 'ask for access to a target',
  description: [
    'Ask for access to a target at one of its levels (see `jitdb targets`), for a while, with a reason.',
    'A scope narrows the level: `schema` or `schema.*` is every table the level grants in that schema,',
    '`schema.table` one table; there is no other wildcard. A table the database does not have is found',
    'only when access is granted: the request then ends FAILED and says which table.',
  ].join('\n'),
  args: ['<target>'],
  options: {
    ...ACCESS_OPTIONS,
    level: { ...ACCESS_OPTIONS.level, required: true },
    for: { ...ACCESS_OPTIONS.for, required: true },
    'break-glass': { type: 'boolean', help: 'emergency access, granted now and flagged for review' },
    once: {
      type: 'boolean',
      help: 'use-once credentials: one database session, access revoked when it ends',
    },
    wait: { type: 'boolean', help: 'wait until the request is granted or ends; print why it failed' },
    'idempotency-key': { type: 'string', value: 'KEY', help: 'retry safely: the same key, the same request' },
  },
  examples: [
    'jitdb request demo-pg --level read --for 30m --reason "look at an order" --wait',
    'jitdb request demo-pg --level read --for 1h --reason "refunds" --scope public.orders --scope public.refunds',
    'jitdb request demo-pg --level read --for 1h --reason "one fix" --once',
  ],
  async run(context, input) {
    const body = newRequestBody(input, input.arg(0));
    const created = await context.client.post<RequestView>('/requests', body);
    if (input.boolean('wait')) {
      if (!context.config.json) context.output.out(statusLine(created));
      return waitForRequest(context, created.id);
    }
    printResult(context, created, (r) =>
      [
        statusLine(r),
        r.status === 'PENDING'
          ? `waiting for ${r.approvalsRequired ?? 1} approval(s); follow it with: jitdb show ${r.id}`
          : `next: jitdb creds ${r.id}`,
      ].join('\n'),
    );
    return 0;
  },
};

export const listCommand: Command = {
  name: 'list',
  summary: 'your requests, the ones waiting for your approval, or break-glass ones flagged for your review',
  args: [],
  options: {
    'to-approve': { type: 'boolean', help: 'requests waiting for your approval' },
    flagged: { type: 'boolean', help: 'break-glass requests waiting for your review' },
    status: { type: 'string', value: 'STATUS', help: 'only requests in this status (ACTIVE, FAILED, …)' },
  },
  examples: ['jitdb list --status active', 'jitdb list --to-approve'],
  async run(context, input) {
    const toApprove = input.boolean('to-approve');
    const flagged = input.boolean('flagged');
    if (toApprove && flagged) throw new UsageError('--to-approve and --flagged are exclusive');
    const page = await context.client.get<{ items: RequestView[] } | RequestView[]>('/requests', {
      status: input.string('status')?.toUpperCase(),
      ...(toApprove ? { view: 'to-approve' } : flagged ? { view: 'flagged' } : {}),
    });
    const items = Array.isArray(page) ? page : page.items;
    printResult(context, items, (rows) => (rows.length === 0 ? 'no requests' : requestTable(rows)));
    return 0;
  },
};

export const showCommand: Command = {
  name: 'show',
  summary: 'one request in full: scope, approvals, extension in progress, why it failed',
  args: ['<id>'],
  options: {},
  examples: ['jitdb show 01m83wct6xdqfgphc3n8h1hz1k'],
  async run(context, input) {
    printResult(context, await context.client.get<RequestView>(requestPath(input.arg(0))), showRequest);
    return 0;
  },
};

/** `<id> is <STATUS>`: what a command that moved a request says about it. */
function statusLine(request: RequestView): string {
  return `${request.id} is ${request.status}`;
}

/** POSTs an action on one request, with the comment if one was given; answers with the request's view. */
function postAction(
  context: CommandContext,
  id: string,
  action: string,
  comment: string | undefined,
): Promise<RequestView> {
  return context.client.post<RequestView>(requestPath(id, action), comment === undefined ? {} : { comment });
}

/** approve, deny, cancel, revoke: one action on one request, with an optional comment for the audit trail. */
function decisionCommand(
  name: 'approve' | 'deny' | 'cancel' | 'revoke' | 'review',
  summary: string,
  print: (r: RequestView) => string = statusLine,
): Command {
  const flag = name === 'cancel' || name === 'revoke' ? 'reason' : 'comment';
  return {
    name,
    summary,
    args: ['<id>'],
    options: { [flag]: { type: 'string', value: '"…"', help: 'kept in the audit trail' } },
    examples: [`jitdb ${name} 01m83wct6xdqfgphc3n8h1hz1k --${flag} "…"`],
    async run(context, input) {
      printResult(context, await postAction(context, input.arg(0), name, input.string(flag)), print);
      return 0;
    },
  };
}

export const approveCommand = decisionCommand('approve', 'approve a request you are an approver of');
export const denyCommand = decisionCommand('deny', 'deny a request you are an approver of');
export const cancelCommand = decisionCommand('cancel', 'withdraw your pending request');
export const revokeCommand = decisionCommand('revoke', 'end an active grant now');
export const reviewCommand = decisionCommand(
  'review',
  'acknowledge a break-glass request you review (it is no longer flagged)',
  (r) => `${r.id} reviewed by ${r.review?.by ?? 'you'}`,
);

export const extendCommand: Command = {
  name: 'extend',
  summary: 'ask for more time on an active grant',
  args: ['<id>'],
  options: {
    for: { type: 'string', required: true, value: 'DURATION', help: 'how much more: 30m, 1h' },
    reason: { type: 'string', required: true, value: '"…"', help: 'why, shown to approvers' },
  },
  examples: ['jitdb extend 01m83wct6xdqfgphc3n8h1hz1k --for 30m --reason "the migration is slow"'],
  async run(context, input) {
    const id = input.arg(0);
    const duration = requireDuration(input.string('for'), '--for');
    const request = await context.client.post<RequestView>(requestPath(id, 'extend'), {
      duration,
      reason: input.string('reason') ?? '',
    });
    printResult(context, request, (r) =>
      r.extension
        ? `${r.id}: extension of ${duration} waiting for approval (${approvalsText(r.extension.approvalsRequired, r.extension.approvals) ?? '0 of 1'}); follow it with: jitdb show ${r.id}`
        : `${r.id} now expires ${r.expiresAt ?? '?'} (${relativeTime(r.expiresAt) ?? ''})`,
    );
    return 0;
  },
};
