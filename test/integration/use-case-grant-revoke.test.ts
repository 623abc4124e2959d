import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRequest } from '../../functions/application/create-request.js';
import { decideRequest } from '../../functions/application/decide-request.js';
import { extendRequest } from '../../functions/application/extend-request.js';
import { fetchCredentials } from '../../functions/application/fetch-credentials.js';
import type { GrantSpec } from '../../functions/application/ports.js';
import { errorOf } from '../../functions/application/record-outcome.js';
import { revokeTask } from '../../functions/application/revoke-at-expiry.js';
import { revokeEarly } from '../../functions/application/revoke-early.js';
import { createHandler as statusChangeHandler } from '../../functions/handlers/execution-status-change.js';
import { createHandler as sweeperHandler } from '../../functions/handlers/expiry-sweeper.js';
import { createHandler as grantHandler } from '../../functions/handlers/grant.js';
import { createHandler as recordOutcomeHandler } from '../../functions/handlers/record-outcome.js';
import { createHandler as revokeHandler } from '../../functions/handlers/revoke.js';
import {
  ALICE,
  BOB,
  lambdaContext as context,
  ERIN,
  linksIn,
  ordersPolicy,
  useOrdersSystem,
} from '../support/deps.js';
import { testRequestId } from '../support/dynamodb-local.js';
import { services } from '../support/services.js';

const { sys, db } = useOrdersSystem('uc-grant', 'ucgrant');
let admin: pg.Client;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: services().pgAdminUrl });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
});
beforeEach(() => {
  sys().clock.set(new Date());
  sys().setPolicy(ordersPolicy(db()));
});

const BODY = { target: 'orders', reason: 'investigate INC-7', ticket: 'INC-7' };
const grant = (requestId: string) => grantHandler(sys().deps)({ requestId }, context);
const revoke = (requestId: string, reason = 'expired') =>
  revokeHandler(sys().deps)({ requestId, reason }, context);
const recordOutcome = (input: Record<string, unknown>) => recordOutcomeHandler(sys().deps)(input, context);
// Not reconciling unless a test asks: `{}` (what the schedule sends) would reconcile at minute 00.
const sweep = (event: Record<string, unknown> = { reconcile: 'never' }) =>
  sweeperHandler(sys().deps)(event, context);
const statusChange = (detail: Record<string, unknown>) =>
  statusChangeHandler(sys().deps)({ detail }, context);
const actions = async (id: string) => (await sys().deps.audit.list(id)).map((e) => e.action);
const get = async (id: string) => {
  const request = await sys().deps.requests.get(id);
  if (!request) throw new Error(`no request ${id}`);
  return request;
};
async function role(dbUser: string): Promise<{ validUntil: string | null } | undefined> {
  const { rows } = await admin.query<{ rolvaliduntil: Date | null }>(
    'SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1',
    [dbUser],
  );
  const row = rows[0];
  return row ? { validUntil: row.rolvaliduntil?.toISOString() ?? null } : undefined;
}
const isoPlus = (seconds: number) => new Date(sys().clock.now().getTime() + seconds * 1000).toISOString();

/** An auto-approved request (level quick), not yet granted. */
async function approved(duration = '20m'): Promise<string> {
  const { request } = await createRequest(
    { body: { ...BODY, level: 'quick', duration }, caller: ERIN },
    sys().deps,
  );
  expect(request.status).toBe('APPROVED');
  return request.id;
}
/** ERIN asks for `duration` more on request `id`. */
const extend = (id: string, duration: string, reason: string) =>
  extendRequest({ requestId: id, caller: ERIN, body: { duration, reason } }, sys().deps);
/** A user made on the orders target by the provisioner itself, for ten minutes, with no use case knowing. */
async function grantDirectly(spec: Pick<GrantSpec, 'requestId' | 'dbUser' | 'privileges'>): Promise<void> {
  const target = sys().deps.policy.policy().targets[0];
  if (!target) throw new Error('no target');
  await sys()
    .deps.provisioners.for(target)
    .grant({ ...spec, target, expiresAt: new Date(isoPlus(600)), connectionLimit: 1 });
}
/** A granted request and its expiresAt. */
async function active(duration = '20m') {
  const id = await approved(duration);
  const result = (await grant(id)) as { status: string; expiresAt: string };
  return { id, expiresAt: result.expiresAt };
}

describe('grant', () => {
  it('creates the user and records ACTIVE with expiresAt = now + duration; a retry answers the same', async () => {
    const id = await approved('20m');
    // Whole seconds, rounded up (a Wait state drops milliseconds).
    const expiresAt = new Date(Math.ceil(Date.parse(isoPlus(20 * 60)) / 1000) * 1000).toISOString();
    expect(await grant(id)).toEqual({ status: 'ACTIVE', expiresAt });
    sys().clock.advance(5);
    expect(await grant(id)).toEqual({ status: 'ACTIVE', expiresAt });
    expect(await role(`jit_${id}`)).toEqual({ validUntil: expiresAt });
    expect(await actions(id)).toEqual(['auto-approved', 'granted']);
    expect((await get(id)).grant).toMatchObject({
      dbUser: `jit_${id}`,
      engine: 'postgres',
      kind: 'password',
    });
  });

  it('skips a request that left APPROVED before the grant ran, creating nothing', async () => {
    const { request } = await createRequest(
      { body: { ...BODY, level: 'read', duration: '20m' }, caller: ERIN },
      sys().deps,
    );
    expect(await grant(request.id)).toEqual({ status: 'SKIPPED' });
    expect(await role(`jit_${request.id}`)).toBeUndefined();
  });

  it('fails with TargetUnavailableError (which the workflow retries) when the database is down', async () => {
    const id = await approved();
    sys().setPolicy(ordersPolicy(db(), 1));
    await expect(grant(id)).rejects.toMatchObject({
      name: 'TargetUnavailableError',
      code: 'TARGET_UNAVAILABLE',
    });
    expect((await get(id)).status).toBe('APPROVED');
  });
});

describe('revoke task', () => {
  it('revokes at expiry and drops the user; a retry changes nothing', async () => {
    const { id, expiresAt } = await active();
    sys().clock.set(expiresAt);
    expect(await revoke(id)).toEqual({ revoked: true });
    expect(await revoke(id)).toEqual({ revoked: true });
    expect(await role(`jit_${id}`)).toBeUndefined();
    const request = await get(id);
    expect([request.status, request.revokeReason]).toEqual(['REVOKED', 'expired']);
    expect(await actions(id)).toEqual(['auto-approved', 'granted', 'revoked']);
  });

  it('answers revoked:false with the new expiresAt after an extension moved it, so the workflow waits again', async () => {
    const { id, expiresAt } = await active();
    await extend(id, '10m', 'more');
    const later = new Date(Date.parse(expiresAt) + 600_000).toISOString();
    sys().clock.set(expiresAt);
    expect(await revoke(id)).toEqual({ revoked: false, expiresAt: later });
    expect(await revoke(id)).toEqual({ revoked: false, expiresAt: later });
    expect(await role(`jit_${id}`)).toEqual({ validUntil: later });
    sys().clock.set(later);
    expect(await revoke(id)).toEqual({ revoked: true });
  });

  it('has nothing to do for a request never granted', async () => {
    const id = await approved();
    expect(await revoke(id, 'execution-ended')).toEqual({ revoked: true });
    expect((await get(id)).status).toBe('APPROVED');
  });
});

describe('extend-request', () => {
  it('applies an extension within the allowance at once; VALID UNTIL follows at the next credentials fetch', async () => {
    const { id, expiresAt } = await active();
    const view = await extend(id, '10m', 'more');
    const later = new Date(Date.parse(expiresAt) + 600_000).toISOString();
    expect([view.status, view.expiresAt, view.extension]).toEqual(['ACTIVE', later, undefined]);
    expect((await actions(id)).at(-1)).toBe('extension-approved');
    // The API reaches no database: the in-database guard has not moved yet…
    expect(await role(`jit_${id}`)).toEqual({ validUntil: expiresAt });
    // …and moves with the next credentials fetch, which sets VALID UNTIL to the recorded expiry.
    await fetchCredentials({ requestId: id, caller: ERIN }, sys().deps);
    expect(await role(`jit_${id}`)).toEqual({ validUntil: later });
  });

  it('moves VALID UNTIL when the workflow reaches the old expiry and finds the extension', async () => {
    const { id, expiresAt } = await active();
    await extend(id, '10m', 'more');
    const later = new Date(Date.parse(expiresAt) + 600_000).toISOString();
    sys().clock.set(expiresAt);
    expect(await revokeTask({ requestId: id, reason: 'expired' }, sys().deps)).toEqual({
      revoked: false,
      expiresAt: later,
    });
    expect(await role(`jit_${id}`)).toEqual({ validUntil: later });
  });

  it('asks approvers beyond the allowance with extension links, and applies it at the N-th approval', async () => {
    const { request } = await createRequest(
      { body: { ...BODY, level: 'read', duration: '30m' }, caller: ERIN },
      sys().deps,
    );
    await decideRequest({ requestId: request.id, caller: ALICE, decision: 'approve' }, sys().deps);
    await decideRequest({ requestId: request.id, caller: BOB, decision: 'approve' }, sys().deps);
    const { expiresAt } = (await grant(request.id)) as { expiresAt: string };
    const sent = sys().outbox.length;
    const asked = await extend(request.id, '30m', 'migration runs long');
    expect(asked.extension?.approvalsRequired).toBe(2);
    expect(asked.expiresAt).toBe(expiresAt);
    const mails = sys().outbox.slice(sent);
    expect(mails.map((m) => m.to[0])).toEqual(['alice@example.com', 'bob@example.com', 'carol@example.com']);
    expect(linksIn(mails).size).toBe(3);
    expect((await get(request.id)).approvalLinks.filter((l) => l.purpose === 'extension')).toHaveLength(3);
    await decideRequest({ requestId: request.id, caller: ALICE, decision: 'approve' }, sys().deps);
    const done = await decideRequest({ requestId: request.id, caller: BOB, decision: 'approve' }, sys().deps);
    const later = new Date(Date.parse(expiresAt) + 1_800_000).toISOString();
    expect([done.expiresAt, done.extension]).toEqual([later, undefined]);
    // Decided through the API, which reaches no database: VALID UNTIL moves later (credentials fetch, old expiry).
    expect(await role(`jit_${request.id}`)).toEqual({ validUntil: expiresAt });
  });

  it('refuses an extension past the maximum, and any extension or extension decision once the grant ran out', async () => {
    const { id, expiresAt } = await active('30m');
    await expect(extend(id, '31m', 'r')).rejects.toMatchObject({ code: 'EXTENSION_EXCEEDS_MAX' });
    await extend(id, '20m', 'r');
    await expect(extend(id, '1m', 'r')).rejects.toMatchObject({ code: 'EXTENSION_PENDING' });
    sys().clock.set(expiresAt);
    await expect(
      decideRequest({ requestId: id, caller: ALICE, decision: 'approve' }, sys().deps),
    ).rejects.toMatchObject({
      code: 'APPROVAL_WINDOW_CLOSED',
      message: `the grant ended at ${expiresAt}; the extension can no longer be decided`,
    });
    await expect(extend(id, '1m', 'r')).rejects.toMatchObject({
      code: 'REQUEST_NOT_ACTIVE',
      message: `the grant expired at ${expiresAt}`,
    });
    expect((await get(id)).expiresAt).toBe(expiresAt);
  });
});

describe('record-outcome', () => {
  it('grant-failed drops a half-made user, records FAILED with the cause message but no secret, once', async () => {
    const id = await approved();
    const request = await get(id);
    await grantDirectly({ requestId: id, dbUser: request.dbUser, privileges: request.privileges });
    const cause = JSON.stringify({
      errorType: 'TargetUnavailableError',
      errorMessage: 'connect to postgres://admin:hunter2@db:5432/orders failed',
      trace: ['at secret-stack (/var/task/index.js:1:1)'],
    });
    const input = {
      requestId: id,
      outcome: 'grant-failed',
      error: { Error: 'TargetUnavailableError', Cause: cause },
    };
    expect(await recordOutcome(input)).toEqual({});
    expect(await recordOutcome(input)).toEqual({});
    expect(await role(request.dbUser)).toBeUndefined();
    const failed = await get(id);
    expect(failed.status).toBe('FAILED');
    expect(failed.lastError).toMatchObject({
      code: 'TargetUnavailableError',
      message: 'connect to postgres://***@db:5432/orders failed',
    });
    expect(await actions(id)).toEqual(['auto-approved', 'grant-failed']);
    expect(JSON.stringify(await sys().deps.audit.list(id))).not.toMatch(/hunter2|secret-stack/);
  });

  it('grant-failed on a grant that did land revokes it rather than leaving it to the sweeper', async () => {
    const { id } = await active();
    await recordOutcome({ requestId: id, outcome: 'grant-failed', error: { Error: 'States.Timeout' } });
    expect(await role(`jit_${id}`)).toBeUndefined();
    const request = await get(id);
    expect([request.status, request.revokeReason]).toEqual(['REVOKED', 'execution-ended']);
  });

  it('revoke-failed records REVOKE_FAILED and one RevokeFailed metric, even when retried', async () => {
    const { id } = await active();
    const metrics = sys().metrics.length;
    const input = {
      requestId: id,
      outcome: 'revoke-failed',
      error: { Error: 'TargetUnavailableError', Cause: '{"errorMessage":"target orders is unavailable"}' },
    };
    await recordOutcome(input);
    await recordOutcome(input);
    const request = await get(id);
    expect([request.status, request.revokeAttempts, request.lastError?.message]).toEqual([
      'REVOKE_FAILED',
      1,
      'target orders is unavailable',
    ]);
    expect(sys().metrics.slice(metrics)).toEqual(['RevokeFailed:1']);
    expect(await actions(id)).toEqual(['auto-approved', 'granted', 'revoke-failed']);
  });

  it('reads a cause defensively: plain text, odd JSON, task tokens and passwords masked', () => {
    expect(errorOf(undefined)).toEqual({ code: 'Unknown', message: 'no error given' });
    expect(errorOf({ Error: 'States.Timeout' })).toEqual({ code: 'States.Timeout', message: '' });
    expect(errorOf({ Error: 'Boom', Cause: 'password=s3cret failed' })).toEqual({
      code: 'Boom',
      message: 'password=*** failed',
    });
    expect(errorOf({ Error: 'Boom', Cause: '[1,2]' })).toEqual({ code: 'Boom', message: '' });
    expect(errorOf({ Error: 'Boom', Cause: '{"errorMessage":42}' })).toEqual({ code: 'Boom', message: '' });
    const token = `AQB4AAAAKgAAAAMAAAAAAAAAAe${'x'.repeat(300)}`;
    expect(errorOf({ Error: '<b>x</b>\n', Cause: `token ${token} closed` })).toEqual({
      code: 'bxb',
      message: 'token *** closed',
    });
    expect(errorOf({ Error: 'E', Cause: 'y'.repeat(1000) }).message).toBe('***');
    expect(errorOf({ Error: 'E', Cause: 'ab '.repeat(200) }).message).toHaveLength(300);
  });
});

describe('expiry-sweeper on grants', () => {
  beforeEach(async () => sys().freshTables());

  it('revokes ACTIVE grants past expiry with their lag, and leaves those not yet due', async () => {
    const due = await active('20m');
    const notDue = await active('30m');
    sys().clock.set(new Date(Date.parse(due.expiresAt) + 30_000));
    const report = await sweep();
    expect(report).toMatchObject({ revoked: 1, revokeFailed: 0, errors: 0, revocationLagSeconds: [30] });
    expect(await role(`jit_${due.id}`)).toBeUndefined();
    expect((await get(notDue.id)).status).toBe('ACTIVE');
    expect(await sweep()).toMatchObject({ revoked: 0 });
  });

  it('records REVOKE_FAILED when the database is down and revokes on a later sweep', async () => {
    const { id, expiresAt } = await active();
    sys().clock.set(expiresAt);
    sys().setPolicy(ordersPolicy(db(), 1));
    const metrics = sys().metrics.length;
    expect(await sweep()).toMatchObject({ revoked: 0, revokeFailed: 1, errors: 0 });
    const failed = await get(id);
    expect([failed.status, failed.revokeAttempts, failed.lastError?.code]).toEqual([
      'REVOKE_FAILED',
      1,
      'TargetUnavailableError',
    ]);
    expect(sys().metrics.slice(metrics)).toEqual(['RevokeFailed:1']);
    sys().setPolicy(ordersPolicy(db()));
    sys().clock.advance(60);
    expect(await sweep()).toMatchObject({ revoked: 1, revokeFailed: 0 });
    const request = await get(id);
    expect([request.status, request.revokeReason]).toEqual(['REVOKED', 'sweeper']);
    expect(await role(`jit_${id}`)).toBeUndefined();
  });

  it('reconciles hourly (when an hour has passed): drops a jit_ user no live request explains, keeps live ones', async () => {
    // Users of earlier tests belong to requests in tables since replaced: orphans now, cleared first.
    await sweep({ reconcile: 'now' });
    const orphanId = testRequestId();
    await grantDirectly({
      requestId: orphanId,
      dbUser: `jit_${orphanId}`,
      privileges: { roles: [], schemas: [] },
    });
    // The EventBridge schedule passes nothing: the hourly rule applies. Claim this hour's run first…
    const hour = new Date(sys().clock.now().getTime() + 2 * 3600_000);
    sys().clock.set(hour);
    await sys().deps.requests.claimPeriodic('reconcile', hour, 3600);
    sys().clock.set(new Date(hour.getTime() + 59 * 60_000));
    expect(await sweep({})).toMatchObject({ reconciled: false, orphansDropped: 0 });
    // …an hour later the next sweep is due, whatever the minute; a grant live then is kept.
    sys().clock.set(new Date(hour.getTime() + 3600_000));
    const live = await active('30m');
    expect(await sweep({})).toMatchObject({ reconciled: true, orphansDropped: 1, errors: 0 });
    expect(await sweep({ reconcile: 'now' })).toMatchObject({ reconciled: true, orphansDropped: 0 });
    expect(await role(`jit_${orphanId}`)).toBeUndefined();
    expect(await role(`jit_${live.id}`)).toBeDefined();
    // The day the orphan was dropped: the sweep ran at the clock now shows.
    const stream = `security#${sys().clock.now().toISOString().slice(0, 10)}`;
    const events = (await sys().deps.audit.list(stream)).filter((e) => e.details?.requestId === orphanId);
    expect(events.map((e) => [e.action, e.actor, e.details?.dbUser, e.details?.targetId])).toEqual([
      ['orphan-dropped', 'system', `jit_${orphanId}`, 'orders'],
    ]);
  });
});

describe('execution-status-change on grants', () => {
  it('revokes a live grant when its execution is aborted by hand, once', async () => {
    const { id } = await active();
    expect(await statusChange({ status: 'ABORTED', name: id })).toEqual({ requestId: id, action: 'revoked' });
    expect(await statusChange({ status: 'ABORTED', name: id })).toEqual({ requestId: id, action: 'none' });
    expect(await role(`jit_${id}`)).toBeUndefined();
    expect((await get(id)).revokeReason).toBe('execution-ended');
  });

  it('records REVOKE_FAILED (for the sweeper to retry) when that revoke fails', async () => {
    const { id } = await active();
    sys().setPolicy(ordersPolicy(db(), 1));
    expect(await statusChange({ status: 'TIMED_OUT', name: id })).toEqual({
      requestId: id,
      action: 'revoke-failed',
    });
    expect((await get(id)).status).toBe('REVOKE_FAILED');
    sys().setPolicy(ordersPolicy(db()));
    expect(await statusChange({ status: 'TIMED_OUT', name: id })).toEqual({
      requestId: id,
      action: 'revoked',
    });
  });
});

describe('early revoke', () => {
  it('stops the execution named after the request and never starts one', async () => {
    const { id } = await active();
    const starts = sys().workflow.of('start').length;
    const view = await revokeEarly({ requestId: id, caller: ERIN, body: {} }, sys().deps);
    expect(view.status).toBe('REVOKED');
    expect(sys().workflow.calls.at(-1)).toEqual(['stop', id, 'revoked early']);
    expect(sys().workflow.of('start').length).toBe(starts);
  });

  it('leaves the execution to end by itself when it cannot be stopped', async () => {
    const { id } = await active();
    sys().workflow.outage = true;
    try {
      const view = await revokeEarly({ requestId: id, caller: ERIN, body: {} }, sys().deps);
      expect(view.status).toBe('REVOKED');
    } finally {
      sys().workflow.outage = false;
    }
    expect(sys().logs.at(-1)).toBe(
      JSON.stringify({
        m: 'execution not stopped after an early revoke',
        x: { requestId: id, error: 'ServiceUnavailable' },
      }),
    );
    expect(await revoke(id)).toEqual({ revoked: true });
  });
});
