import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { cancelRequest } from '../../functions/application/cancel-request.js';
import { createRequest } from '../../functions/application/create-request.js';
import { decideByLink } from '../../functions/application/decide-by-link.js';
import { decideRequest } from '../../functions/application/decide-request.js';
import {
  ORPHANED_APPROVAL_AFTER_SECONDS,
  REDELIVER_APPROVAL_AFTER_SECONDS,
} from '../../functions/application/sweeper/approved-requests.js';
import { csrfTokenFor, parseLinkToken } from '../../functions/domain/link-tokens.js';
import { createHandler as evaluatePolicyHandler } from '../../functions/handlers/evaluate-policy.js';
import { createHandler as statusChangeHandler } from '../../functions/handlers/execution-status-change.js';
import { createHandler as sweeperHandler } from '../../functions/handlers/expiry-sweeper.js';
import { createHandler as recordOutcomeHandler } from '../../functions/handlers/record-outcome.js';
import { createHandler as requestApprovalHandler } from '../../functions/handlers/request-approval.js';
import { ALICE, BOB, lambdaContext as context, ERIN, linksIn, useOrdersSystem } from '../support/deps.js';

const { sys } = useOrdersSystem('uc-approval', 'ucappr');

const BODY = {
  target: 'orders',
  level: 'read',
  duration: '1h',
  reason: 'investigate INC-7',
  ticket: 'INC-7',
};

async function create(level = 'read', duration = '1h'): Promise<string> {
  const { request } = await createRequest({ body: { ...BODY, level, duration }, caller: ERIN }, sys().deps);
  return request.id;
}
const evaluate = (requestId: string) => evaluatePolicyHandler(sys().deps)({ requestId }, context);
const askApprovers = (requestId: string, taskToken: string) =>
  requestApprovalHandler(sys().deps)({ requestId, taskToken }, context);
const recordOutcome = (input: Record<string, unknown>) => recordOutcomeHandler(sys().deps)(input, context);
// Not reconciling unless a test asks: `{}` (what the schedule sends) would reconcile at minute 00.
const sweep = (event: Record<string, unknown> = { reconcile: 'never' }) =>
  sweeperHandler(sys().deps)(event, context);
const statusChange = (detail: Record<string, unknown>) =>
  statusChangeHandler(sys().deps)(
    { 'detail-type': 'Step Functions Execution Status Change', detail },
    context,
  );
const approve = (requestId: string, caller = ALICE) =>
  decideRequest({ requestId, caller, decision: 'approve' }, sys().deps);
const actions = async (id: string) => (await sys().deps.audit.list(id)).map((e) => e.action);
const get = async (id: string) => {
  const request = await sys().deps.requests.get(id);
  if (!request) throw new Error(`no request ${id}`);
  return request;
};

/** The use cases' last word to the workflow: fail the step waiting on `token` with `error` and `cause`. */
function expectStepFailed(token: string, error: string, cause: string): void {
  expect(sys().workflow.calls.at(-1)).toEqual(['sendTaskFailure', token, error, cause]);
}

/** A pending request whose RequestApproval step ran with `token`; its approval emails and links. */
async function pending(token = `task-${Math.random().toString(36).slice(2)}`) {
  const id = await create();
  const sent = sys().outbox.length;
  await askApprovers(id, token);
  return { id, token, emails: sys().outbox.slice(sent), links: linksIn(sys().outbox.slice(sent)) };
}

describe('evaluate-policy', () => {
  it('answers needs-approval with the seconds left until the approval deadline, the same on a retry', async () => {
    const id = await create();
    expect(await evaluate(id)).toEqual({
      decision: 'needs-approval',
      kind: 'window',
      approvalWindowSeconds: 3600,
    });
    sys().clock.advance(600);
    expect(await evaluate(id)).toEqual({
      decision: 'needs-approval',
      kind: 'window',
      approvalWindowSeconds: 3000,
    });
    expect(await evaluate(id)).toEqual({
      decision: 'needs-approval',
      kind: 'window',
      approvalWindowSeconds: 3000,
    });
    expect(await actions(id)).toEqual(['requested']);
  });

  it('answers auto-approved for an auto-approved request and closed for a cancelled one', async () => {
    const quick = await create('quick', '20m');
    expect(await evaluate(quick)).toEqual({
      decision: 'auto-approved',
      kind: 'window',
      approvalWindowSeconds: 3600,
    });
    const cancelled = await create();
    await cancelRequest({ requestId: cancelled, caller: ERIN, body: {} }, sys().deps);
    expect(await evaluate(cancelled)).toEqual({
      decision: 'closed',
      kind: 'window',
      approvalWindowSeconds: 3600,
    });
  });

  it('refuses an input that is not a request id', async () => {
    await expect(evaluate('not-an-id')).rejects.toThrow(/lowercase ULID/);
  });
});

describe('request-approval', () => {
  it('stores the task token and emails each approver their own link, once even when retried', async () => {
    const { id, token, emails, links } = await pending();
    expect(emails.map((e) => e.to)).toEqual([
      ['alice@example.com'],
      ['bob@example.com'],
      ['carol@example.com'],
    ]);
    expect(new Set(links.values()).size).toBe(3);
    const stored = await get(id);
    expect(stored.taskToken).toBe(token);
    expect(stored.approvalLinks.map((l) => [l.approver, l.purpose, l.expiresAt])).toEqual(
      ['alice@example.com', 'bob@example.com', 'carol@example.com'].map((a) => [
        a,
        'request',
        stored.approvalDeadline,
      ]),
    );
    const sent = sys().outbox.length;
    expect(await askApprovers(id, token)).toEqual({});
    expect(sys().outbox.length).toBe(sent);
    expect(await actions(id)).toEqual(['requested', 'approval-requested']);
    const events = await sys().deps.audit.list(id);
    expect(events[1]?.details).toEqual({
      approvers: 3,
      links: true,
      approvalsRequired: 2,
      deadline: stored.approvalDeadline,
    });
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('takes a redelivered step’s new token without mailing the links again', async () => {
    const { id } = await pending();
    const sent = sys().outbox.length;
    await askApprovers(id, 'task-redelivered');
    expect(sys().outbox.length).toBe(sent);
    expect((await get(id)).taskToken).toBe('task-redelivered');
    expect((await get(id)).approvalLinks).toHaveLength(3);
  });

  it('completes the step at once when the request was decided before it ran', async () => {
    const approved = await create();
    await approve(approved, ALICE);
    await approve(approved, BOB);
    await askApprovers(approved, 'task-late-approved');
    expect(sys().workflow.calls.at(-1)).toEqual([
      'sendTaskSuccess',
      'task-late-approved',
      { outcome: 'approved' },
    ]);

    const denied = await create();
    await decideRequest({ requestId: denied, caller: ALICE, decision: 'deny' }, sys().deps);
    await askApprovers(denied, 'task-late-denied');
    expectStepFailed('task-late-denied', 'Denied', 'request DENIED');
  });
});

describe('decisions after the approval window', () => {
  it('refuses an API approval past the deadline with APPROVAL_WINDOW_CLOSED, audited, nothing sent', async () => {
    const { id } = await pending();
    const deadline = (await get(id)).approvalDeadline ?? '';
    sys().clock.set(deadline);
    const calls = sys().workflow.calls.length;
    await expect(approve(id)).rejects.toMatchObject({
      code: 'APPROVAL_WINDOW_CLOSED',
      message: `the approval window of this request closed at ${deadline}`,
    });
    const request = await get(id);
    expect([request.status, request.approvals]).toEqual(['PENDING', []]);
    expect(sys().workflow.calls.length).toBe(calls);
    expect((await sys().deps.audit.list(id)).at(-1)).toMatchObject({
      action: 'refused',
      actor: 'alice@example.com',
      details: { code: 'APPROVAL_WINDOW_CLOSED' },
    });
    sys().clock.set(new Date());
  });

  it('refuses an email link past the deadline as expired', async () => {
    const { id, links } = await pending();
    const token = links.get('bob@example.com') ?? '';
    const parsed = parseLinkToken(token);
    if (!parsed) throw new Error('no link');
    sys().clock.set((await get(id)).approvalDeadline ?? '');
    await expect(
      decideByLink({ token, decision: 'approve', csrf: csrfTokenFor(parsed) }, sys().deps),
    ).rejects.toMatchObject({ code: 'APPROVAL_LINK_EXPIRED' });
    expect((await get(id)).status).toBe('PENDING');
    sys().clock.set(new Date());
  });
});

describe('record-outcome approval-expired', () => {
  it('expires a pending request once, tells approvers whose links died, and is safe to retry', async () => {
    const { id } = await pending();
    await approve(id, ALICE);
    const sent = sys().outbox.length;
    expect(await recordOutcome({ requestId: id, outcome: 'approval-expired' })).toEqual({});
    expect(await recordOutcome({ requestId: id, outcome: 'approval-expired' })).toEqual({});
    expect((await get(id)).status).toBe('EXPIRED');
    expect(await actions(id)).toEqual([
      'requested',
      'approval-requested',
      'approval-recorded',
      'approval-expired',
    ]);
    const told = sys().outbox.slice(sent);
    expect(told.map((e) => e.to)).toEqual([['bob@example.com', 'carol@example.com']]);
    expect(told[0]?.subject).toContain('expired without a decision');
  });

  it('fails an approval the workflow never took (its token closed by the timeout) instead of leaving it APPROVED', async () => {
    const { id, token } = await pending();
    sys().workflow.closedTokens.add(token);
    await approve(id, ALICE);
    const view = await approve(id, BOB);
    expect(view.status).toBe('APPROVED'); // stored in time; the workflow had just stopped waiting
    await recordOutcome({ requestId: id, outcome: 'approval-expired' });
    await recordOutcome({ requestId: id, outcome: 'approval-expired' });
    const request = await get(id);
    expect(request.status).toBe('FAILED');
    expect(request.lastError).toMatchObject({
      code: 'ApprovalNotDelivered',
      message: 'the approval reached the workflow after its approval window closed; nothing was granted',
    });
    expect(await actions(id)).toEqual([
      'requested',
      'approval-requested',
      'approval-recorded',
      'approved',
      'grant-failed',
    ]);
  });
});

describe('expiry-sweeper on pending and approved requests', () => {
  beforeEach(async () => {
    await sys().freshTables();
    sys().clock.set(new Date());
  });

  it('escalates after escalation.after with links for the new approvers, once', async () => {
    const { id } = await pending();
    sys().clock.advance(30 * 60);
    const sent = sys().outbox.length;
    const first = await sweep();
    expect(first).toMatchObject({ escalated: 1, expired: 0, errors: 0 });
    const mails = sys().outbox.slice(sent);
    expect(mails.map((e) => e.to)).toEqual([['dave@example.com']]);
    expect(linksIn(mails).size).toBe(1);
    expect(await sweep()).toMatchObject({ escalated: 0 });
    expect(await actions(id)).toEqual(['requested', 'approval-requested', 'escalated']);
    const dave = { principal: 'dave@example.com', email: 'dave@example.com', via: 'local' as const };
    expect((await approve(id, dave)).approvals.map((a) => a.by)).toEqual(['dave@example.com']);
  });

  it('expires a pending request past its deadline and fails its waiting step with Cancelled, once', async () => {
    const { id, token } = await pending();
    sys().clock.advance(3600);
    expect(await sweep()).toMatchObject({ expired: 1, errors: 0 });
    expect(await sweep()).toMatchObject({ expired: 0 });
    expect((await get(id)).status).toBe('EXPIRED');
    expectStepFailed(token, 'Cancelled', 'the approval window ended');
    expect(await actions(id)).toEqual(['requested', 'approval-requested', 'approval-expired']);
  });

  it('hands an approval lost to an outage to the workflow again, then fails it if nothing grants it', async () => {
    const { id, token } = await pending();
    await approve(id, ALICE);
    sys().workflow.outage = true;
    expect((await approve(id, BOB)).status).toBe('APPROVED');
    sys().workflow.outage = false;
    expect(sys().logs.map((l) => JSON.parse(l))).toContainEqual({
      m: 'the decision could not be delivered to the workflow; the sweeper retries',
      x: { requestId: id, error: 'ServiceUnavailable' },
    });

    expect(await sweep()).toMatchObject({ approvalsRedelivered: 0 }); // too soon: the grant may be running
    sys().clock.advance(REDELIVER_APPROVAL_AFTER_SECONDS);
    const successes = sys().workflow.of('sendTaskSuccess').length;
    expect(await sweep()).toMatchObject({ approvalsRedelivered: 1, orphanedApprovalsFailed: 0 });
    expect(sys().workflow.of('sendTaskSuccess').slice(successes)).toEqual([
      ['sendTaskSuccess', token, { outcome: 'approved' }],
    ]);

    sys().clock.advance(ORPHANED_APPROVAL_AFTER_SECONDS);
    expect(await sweep()).toMatchObject({ orphanedApprovalsFailed: 1, errors: 0 });
    expect(await sweep()).toMatchObject({ orphanedApprovalsFailed: 0 });
    const request = await get(id);
    expect([request.status, request.lastError?.code]).toEqual(['FAILED', 'ApprovalNotDelivered']);
    expect((await actions(id)).filter((a) => a === 'grant-failed')).toHaveLength(1);
  });

  it('fails an auto-approved request whose execution never ran, after the grace period', async () => {
    const id = await create('quick', '20m');
    sys().clock.advance(ORPHANED_APPROVAL_AFTER_SECONDS - 1);
    expect(await sweep()).toMatchObject({ orphanedApprovalsFailed: 0 });
    sys().clock.advance(1);
    expect(await sweep()).toMatchObject({ orphanedApprovalsFailed: 1 });
    expect(await actions(id)).toEqual(['auto-approved', 'grant-failed']);
  });
});

describe('execution-status-change', () => {
  const arnOf = (id: string) => `arn:aws:states:eu-west-1:000000000000:execution:access-request:${id}`;

  it('expires a pending request whose execution was aborted, once', async () => {
    const { id } = await pending();
    const detail = {
      status: 'ABORTED',
      name: id,
      executionArn: arnOf(id),
      input: JSON.stringify({ requestId: id }),
    };
    expect(await statusChange(detail)).toEqual({ requestId: id, action: 'expired' });
    expect(await statusChange(detail)).toEqual({ requestId: id, action: 'none' });
    expect(await actions(id)).toEqual(['requested', 'approval-requested', 'approval-expired']);
  });

  it('fails an approved request whose execution failed before granting', async () => {
    const id = await create('quick', '20m');
    expect(await statusChange({ status: 'FAILED', executionArn: arnOf(id) })).toEqual({
      requestId: id,
      action: 'failed',
    });
    expect((await get(id)).lastError).toMatchObject({
      code: 'ExecutionFAILED',
      message: 'the workflow ended FAILED',
    });
  });

  it('ignores successful executions and executions that are not ours', async () => {
    const id = await create();
    expect(await statusChange({ status: 'SUCCEEDED', name: id })).toEqual({ action: 'ignored' });
    expect(await statusChange({ status: 'FAILED', name: 'someone-else', input: '{"x":1}' })).toEqual({
      action: 'ignored',
    });
    expect((await get(id)).status).toBe('PENDING');
  });
});

describe('secrets', () => {
  it('keeps link secrets out of DynamoDB, audit and logs, and task tokens out of audit and logs', async () => {
    const { token } = await pending('task-token-must-not-leak');
    expect(sys().secrets.length).toBeGreaterThan(2);
    const scan = async (table: string) =>
      JSON.stringify((await sys().tables.client.send(new ScanCommand({ TableName: table }))).Items);
    const requests = await scan(sys().tables.names.requestsTable);
    const audit = await scan(sys().tables.names.auditTable);
    const logs = sys().logs.join('\n');
    for (const secret of sys().secrets) {
      expect(requests).not.toContain(secret);
      expect(audit).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    expect(requests).toContain(token); // the API needs it to complete the step
    expect(audit).not.toContain(token);
    expect(logs).not.toContain(token);
  });
});
