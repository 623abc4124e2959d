import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../../functions/domain/duration.js';
import type { AccessRequest, RequestedScope, RequestStatus } from '../../functions/domain/types.js';
import { UsageError } from '../client.js';
import { booleanOption, type Command, type CommandContext, printResult, stringOption } from '../command.js';
import { facts, relativeTime, table } from '../output.js';

/** What the API returns for a request: the stored request without its server-side secrets. */
export type RequestView = Pick<AccessRequest, 'id' | 'status'> &
  Partial<AccessRequest> & { flagged?: boolean };

const WAIT_DONE: readonly RequestStatus[] = [
  'ACTIVE',
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

export function requireId(positionals: string[], usage: string): string {
  const [id, ...rest] = positionals;
  if (!id || rest.length > 0) throw new UsageError(`usage: ${usage}`);
  return id;
}

export function requireDuration(text: string | undefined, flag: string): string {
  if (text === undefined) throw new UsageError(`${flag} is required (e.g. ${flag} 30m)`);
  if (parseDuration(text) === undefined)
    throw new UsageError(`${flag} '${text}' is not a duration (use 30m, 4h, 1h30m)`);
  return text;
}

/** `public.orders` → schema public, table orders; `public` → the whole schema. Repeatable. */
export function parseScope(values: string[]): RequestedScope | undefined {
  if (values.length === 0) return undefined;
  const schemas = new Map<string, string[] | undefined>();
  for (const value of values) {
    const dot = value.indexOf('.');
    const schema = dot < 0 ? value : value.slice(0, dot);
    const tableName = dot < 0 ? undefined : value.slice(dot + 1);
    if (schema === '' || tableName === '')
      throw new UsageError(`--scope '${value}' must be schema or schema.table`);
    const tables = schemas.has(schema) ? schemas.get(schema) : [];
    // A whole-schema scope wins over single tables of the same schema.
    schemas.set(schema, tableName === undefined || tables === undefined ? undefined : [...tables, tableName]);
  }
  return {
    schemas: [...schemas].map(([name, tables]) => (tables === undefined ? { name } : { name, tables })),
  };
}

export function showRequest(request: RequestView): string {
  return facts([
    ['id', request.id],
    ['status', request.status],
    ['target', request.targetId],
    ['level', request.level],
    ['requester', request.requester],
    ['reason', request.reason],
    ['ticket', request.ticket],
    ['duration', request.durationSeconds === undefined ? undefined : `${request.durationSeconds}s`],
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
    [
      'approvals',
      request.approvalsRequired === undefined || request.approvalsRequired === 0
        ? undefined
        : `${request.approvals?.length ?? 0} of ${request.approvalsRequired}${
            request.approvals?.length ? ` (${request.approvals.map((a) => a.by).join(', ')})` : ''
          }`,
    ],
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
      'revoked',
      request.revokedAt ? `${request.revokedAt} (${request.revokeReason ?? 'revoked'})` : undefined,
    ],
    ['last error', request.lastError ? `${request.lastError.code}: ${request.lastError.message}` : undefined],
    ['created', request.createdAt],
  ]);
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

/** The time that matters in a request's status: when access ends, when the approval window closes, when it ended. */
function whenColumn(r: RequestView): string | undefined {
  switch (r.status) {
    case 'ACTIVE':
    case 'REVOKE_FAILED':
      return r.expiresAt ? `expires ${relativeTime(r.expiresAt)}` : undefined;
    case 'PENDING':
      return r.approvalDeadline ? `window closes ${relativeTime(r.approvalDeadline)}` : undefined;
    case 'REVOKED':
      return r.revokedAt ? `ended ${relativeTime(r.revokedAt)}` : undefined;
    default:
      return undefined;
  }
}

/** Polls until the request settles; a spinner on a TTY only. Returns the exit code per the CLI contract. */
export async function waitForRequest(context: CommandContext, id: string): Promise<number> {
  const pollMs = Number(context.env.JITDB_POLL_MS ?? 1000);
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let tick = 0;
  let request = await context.client.get<RequestView>(requestPath(id));
  while (!WAIT_DONE.includes(request.status)) {
    if (context.output.isTty && !context.config.json) {
      process.stdout.write(`\r${frames[tick++ % frames.length]} ${request.status.toLowerCase()} — waiting…`);
    }
    await sleep(pollMs);
    request = await context.client.get<RequestView>(requestPath(id));
  }
  if (context.output.isTty && !context.config.json) process.stdout.write('\r\x1b[K');
  printResult(context, request, statusLine);
  if (request.status === 'ACTIVE') {
    if (!context.config.json)
      context.output.out(`next: jitdb creds ${request.id}   or   jitdb connect ${request.id}`);
    return 0;
  }
  if (WAIT_REFUSED.includes(request.status)) return 4;
  return 3;
}

export const requestCommand: Command = {
  name: 'request',
  summary: 'ask for access to a target',
  usage:
    'jitdb request <target> --level <level> --for <duration> --reason "…" [--ticket INC-1] [--scope schema.table]… [--break-glass] [--once] [--wait] [--idempotency-key K]',
  options: {
    level: { type: 'string' },
    for: { type: 'string' },
    reason: { type: 'string' },
    ticket: { type: 'string' },
    scope: { type: 'string', multiple: true },
    'break-glass': { type: 'boolean' },
    once: { type: 'boolean' },
    wait: { type: 'boolean' },
    'idempotency-key': { type: 'string' },
  },
  async run(context, positionals, values) {
    const targetId = requireId(positionals, this.usage);
    const level = stringOption(values, 'level');
    if (!level) throw new UsageError('--level is required (see `jitdb targets`)');
    const duration = requireDuration(stringOption(values, 'for'), '--for');
    const scopeValues = values.scope;
    const scope = parseScope(
      Array.isArray(scopeValues) ? scopeValues.filter((v) => typeof v === 'string') : [],
    );
    const body = {
      target: targetId,
      level,
      duration,
      ...(stringOption(values, 'reason') === undefined ? {} : { reason: stringOption(values, 'reason') }),
      ...(stringOption(values, 'ticket') === undefined ? {} : { ticket: stringOption(values, 'ticket') }),
      ...(scope ? { scope } : {}),
      ...(booleanOption(values, 'break-glass') ? { breakGlass: true } : {}),
      ...(booleanOption(values, 'once') ? { once: true } : {}),
      ...(stringOption(values, 'idempotency-key') === undefined
        ? {}
        : { idempotencyKey: stringOption(values, 'idempotency-key') }),
    };
    const created = await context.client.post<RequestView>('/requests', body);
    if (booleanOption(values, 'wait')) {
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
  usage: 'jitdb list [--to-approve | --flagged] [--status STATUS]',
  options: { 'to-approve': { type: 'boolean' }, flagged: { type: 'boolean' }, status: { type: 'string' } },
  async run(context, positionals, values) {
    if (positionals.length > 0) throw new UsageError(`usage: ${this.usage}`);
    const toApprove = booleanOption(values, 'to-approve');
    const flagged = booleanOption(values, 'flagged');
    if (toApprove && flagged)
      throw new UsageError(`--to-approve and --flagged are exclusive\nusage: ${this.usage}`);
    const status = stringOption(values, 'status')?.toUpperCase();
    const page = await context.client.get<{ items: RequestView[] } | RequestView[]>('/requests', {
      status,
      ...(toApprove ? { view: 'to-approve' } : flagged ? { view: 'flagged' } : {}),
    });
    const items = Array.isArray(page) ? page : page.items;
    printResult(context, items, (rows) => (rows.length === 0 ? 'no requests' : requestTable(rows)));
    return 0;
  },
};

export const showCommand: Command = {
  name: 'show',
  summary: 'one request in full',
  usage: 'jitdb show <id>',
  options: {},
  async run(context, positionals) {
    const request = await context.client.get<RequestView>(requestPath(requireId(positionals, this.usage)));
    printResult(context, request, showRequest);
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

function decisionCommand(name: 'approve' | 'deny' | 'cancel' | 'revoke', summary: string): Command {
  return {
    name,
    summary,
    usage: `jitdb ${name} <id>${name === 'approve' || name === 'deny' ? ' [--comment "…"]' : ' [--reason "…"]'}`,
    options: { comment: { type: 'string' }, reason: { type: 'string' } },
    async run(context, positionals, values) {
      const id = requireId(positionals, this.usage);
      const comment = stringOption(values, 'comment') ?? stringOption(values, 'reason');
      printResult(context, await postAction(context, id, name, comment), statusLine);
      return 0;
    },
  };
}

export const approveCommand = decisionCommand('approve', 'approve a request you are an approver of');
export const denyCommand = decisionCommand('deny', 'deny a request you are an approver of');
export const cancelCommand = decisionCommand('cancel', 'withdraw your pending request');
export const revokeCommand = decisionCommand('revoke', 'end an active grant now');

export const reviewCommand: Command = {
  name: 'review',
  summary: 'acknowledge a break-glass request you review (it is no longer flagged)',
  usage: 'jitdb review <id> [--comment "…"]',
  options: { comment: { type: 'string' } },
  async run(context, positionals, values) {
    const id = requireId(positionals, this.usage);
    const request = await postAction(context, id, 'review', stringOption(values, 'comment'));
    printResult(context, request, (r) => `${r.id} reviewed by ${r.review?.by ?? 'you'}`);
    return 0;
  },
};

export const extendCommand: Command = {
  name: 'extend',
  summary: 'ask for more time on an active grant',
  usage: 'jitdb extend <id> --for <duration> --reason "…"',
  options: { for: { type: 'string' }, reason: { type: 'string' } },
  async run(context, positionals, values) {
    const id = requireId(positionals, this.usage);
    const duration = requireDuration(stringOption(values, 'for'), '--for');
    const request = await context.client.post<RequestView>(requestPath(id, 'extend'), {
      duration,
      reason: stringOption(values, 'reason') ?? '',
    });
    printResult(context, request, (r) =>
      r.extension
        ? `${r.id}: extension of ${duration} waiting for approval`
        : `${r.id} now expires ${r.expiresAt ?? '?'} (${relativeTime(r.expiresAt) ?? ''})`,
    );
    return 0;
  },
};
