/**
 * The least-privilege report's scenario (issue #14): drives a running assembly through its API as real users
 * do, so every function runs and does its real work — a request approved through the emailed link,
 * credentials and a connection, an extension approved through the API, an early revoke, a grant that expires,
 * a denied, a cancelled, an approval window that closes, a grant that fails, break-glass with its review, a
 * forged approval link, the audit trail with its signed digest, and the two schedules (the sweeper escalating
 * a request that waits past its escalation time).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ApiClient } from '../../cli/client.js';
import type { Credentials } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import { freePort } from '../free-port.js';
import { type AssemblyRuntime, startAssemblyRuntime } from './runtime.js';

const READ = '{ schemas: [{ name: public, privileges: [SELECT] }] }';

/** The scenario's policy: one password PostgreSQL target with a level for each path the scenario takes. */
export function scenarioPolicyYaml(port: number): string {
  return `version: 1
targets:
  - id: demo-pg
    engine: postgres
    environment: dev
    connection: { host: 127.0.0.1, port: ${port} }
    database: demo
    credentialKind: password
    tls: disable
    levels:
      read:
        privileges: ${READ}
        maxDuration: 1h
        approvers: [alice@example.com, bob@example.com]
      auto:
        privileges: ${READ}
        maxDuration: 1h
        autoApprove: {}
      brief:
        privileges: ${READ}
        maxDuration: 1h
        approvers: [alice@example.com]
        approvalWindow: 4s
        linkLifetime: 3s
      escalating:
        privileges: ${READ}
        maxDuration: 1h
        approvers: [alice@example.com]
        escalation: { after: 2s, approvers: [carol@example.com] }
      broken:
        privileges: { schemas: [{ name: no_such_schema, privileges: [SELECT] }] }
        maxDuration: 1h
        autoApprove: {}
      urgent:
        privileges: ${READ}
        maxDuration: 1h
        approvers: [alice@example.com]
        breakGlass: { allowed: true, requesters: [dave@example.com], notify: [carol@example.com] }
      run:
        privileges: ${READ}
        maxDuration: 1h
        autoApprove: {}
        requests: [statement]
`;
}

export interface ScenarioRuntimeOptions {
  /** Where the assembly is synthesized (reused while its inputs are unchanged); default a temporary directory. */
  outdir?: string;
  log?: (line: string) => void;
}

/** A runtime on its own free-port PostgreSQL and API port, with the scenario's policy; `stop` cleans up. */
export async function startScenarioRuntime(options: ScenarioRuntimeOptions = {}): Promise<AssemblyRuntime> {
  const work = mkdtempSync(join(tmpdir(), 'jitdb-iam-report-'));
  const pgPort = await freePort();
  const policyFile = join(work, 'policy.yaml');
  writeFileSync(policyFile, scenarioPolicyYaml(pgPort));
  try {
    const runtime = await startAssemblyRuntime({
      policyFile,
      ephemeral: true,
      port: 0,
      pgPort,
      printEmails: false,
      log: options.log ?? (() => undefined),
      outdir: options.outdir ?? join(work, 'assembly'),
      retryIntervalMs: 50,
    });
    return {
      ...runtime,
      stop: async () => {
        await runtime.stop();
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

export interface ScenarioOptions {
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What the scenario did: each request's id and final status, by the step's name. */
export interface ScenarioResult {
  requests: Record<string, { id: string; status: string }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs every step; throws when a step does not end as the product says it should. */
export async function runScenario(
  runtime: AssemblyRuntime,
  options: ScenarioOptions = {},
): Promise<ScenarioResult> {
  const log = options.log ?? (() => undefined);
  const signedIn = (user: string) =>
    new ApiClient({ endpoint: runtime.url, user, json: true, region: undefined, ssoUrl: runtime.ssoUrl });
  const dave = signedIn('dave@example.com');
  const alice = signedIn('alice@example.com');
  const bob = signedIn('bob@example.com');
  const carol = signedIn('carol@example.com');
  const requests: ScenarioResult['requests'] = {};

  const waitFor = async (id: string, wanted: string[], step: string): Promise<RequestView> => {
    let last = '';
    for (let i = 0; i < 240; i++) {
      const view = await dave.get<RequestView>(`/requests/${id}`);
      last = view.status;
      if (wanted.includes(view.status)) {
        requests[step] = { id, status: view.status };
        return view;
      }
      await sleep(250);
    }
    throw new Error(`${step}: request ${id} never reached ${wanted.join('/')} (last ${last})`);
  };
  const create = (level: string, duration: string, extra: Record<string, unknown> = {}) =>
    dave.post<RequestView>('/requests', {
      target: 'demo-pg',
      level,
      duration,
      reason: `iam-report scenario: ${level}`,
      ...extra,
    });
  const linkFor = async (id: string, to: string): Promise<string> => {
    for (let i = 0; i < 120; i++) {
      for (const mail of runtime.outbox.list()) {
        if (!mail.to.includes(to)) continue;
        const link = mail.links.find((l) => l.includes(`/approvals/${id}.`));
        if (link) return link;
      }
      await sleep(250);
    }
    throw new Error(`no approval link for ${id} was mailed to ${to}`);
  };

  /** Opens the emailed link's page and submits its form, as a browser does. */
  const decideByLink = async (link: string, decision: 'approve' | 'deny'): Promise<void> => {
    const page = await fetch(link);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
    if (page.status !== 200 || !csrf) throw new Error(`the approval page answered ${page.status}`);
    const decided = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, comment: decision, decision }).toString(),
    });
    if (decided.status !== 200) throw new Error(`the approval form answered ${decided.status}`);
  };

  log('targets, and a request approved through the emailed link');
  await dave.get('/targets');
  const approved = await create('read', '30m');
  const link = await linkFor(approved.id, 'alice@example.com');
  await decideByLink(link, 'approve');
  await waitFor(approved.id, ['ACTIVE'], 'approved-by-link');

  log('credentials and a connection');
  const credentials = await dave.get<Credentials>(`/requests/${approved.id}/credentials`);
  const session = new pg.Client({ connectionString: credentials.uri });
  await session.connect();
  try {
    await session.query('SELECT 1');
  } finally {
    await session.end();
  }

  log('an extension approved through the API, the list views, an early revoke');
  await dave.post(`/requests/${approved.id}/extend`, { duration: '15m', reason: 'more time' });
  await alice.get('/requests', { view: 'to-approve' });
  await alice.post(`/requests/${approved.id}/approve`, { comment: 'extension ok' });
  await dave.get('/requests', { view: 'mine' });
  await dave.post(`/requests/${approved.id}/revoke`, { comment: 'done early' });
  await waitFor(approved.id, ['REVOKED'], 'approved-by-link');

  log('decisions once the approval task waits: denied and approved through the API, denied through a link');
  const denied = await create('read', '10m');
  await linkFor(denied.id, 'bob@example.com');
  await bob.post(`/requests/${denied.id}/deny`, { comment: 'no' });
  await waitFor(denied.id, ['DENIED'], 'denied');
  const byApi = await create('read', '10m');
  await linkFor(byApi.id, 'bob@example.com');
  await bob.post(`/requests/${byApi.id}/approve`, { comment: 'yes' });
  await waitFor(byApi.id, ['ACTIVE'], 'approved-by-api');
  await dave.post(`/requests/${byApi.id}/revoke`, { comment: 'done' });
  await waitFor(byApi.id, ['REVOKED'], 'approved-by-api');
  const deniedByLink = await create('read', '10m');
  await decideByLink(await linkFor(deniedByLink.id, 'alice@example.com'), 'deny');
  await waitFor(deniedByLink.id, ['DENIED'], 'denied-by-link');

  log('a cancelled request');
  const cancelled = await create('read', '10m');
  // Cancelled once the approval task waits, so that the API (not RequestApproval, racing it) fails the task:
  // which function calls SendTaskFailure must not depend on the machine's speed.
  await linkFor(cancelled.id, 'alice@example.com');
  await dave.post(`/requests/${cancelled.id}/cancel`, {});
  await waitFor(cancelled.id, ['CANCELLED'], 'cancelled');

  log('a grant that expires, an approval window that closes, a grant that fails');
  const expiring = await create('auto', '5s');
  const windowed = await create('brief', '10m');
  const failing = await create('broken', '10m');
  await waitFor(failing.id, ['FAILED'], 'grant-failed');
  await waitFor(expiring.id, ['REVOKED'], 'expired-and-revoked');
  await waitFor(windowed.id, ['EXPIRED', 'DENIED', 'CANCELLED', 'FAILED'], 'approval-window-closed');

  log('break-glass, flagged and reviewed');
  const urgent = await create('urgent', '10m', { breakGlass: true });
  await waitFor(urgent.id, ['ACTIVE'], 'break-glass');
  await carol.get('/requests', { view: 'flagged' });
  await carol.post(`/requests/${urgent.id}/review`, { comment: 'seen' });
  await dave.post(`/requests/${urgent.id}/revoke`, { comment: 'fixed' });
  await waitFor(urgent.id, ['REVOKED'], 'break-glass');

  log('a statement request, run once, and its result');
  const statement = await dave.post<RequestView>('/requests', {
    target: 'demo-pg',
    level: 'run',
    reason: 'iam-report scenario: run',
    statements: ['SELECT 1 AS one'],
  });
  await waitFor(statement.id, ['EXECUTED'], 'statement-executed');
  await dave.get(`/requests/${statement.id}/result`);

  log('a forged approval link');
  const forged = await fetch(`${runtime.url}/approvals/${approved.id}.forged`);
  if (forged.status < 400) throw new Error(`a forged approval link answered ${forged.status}`);

  log(
    'the schedules: expiry sweeper (escalating a request) and audit digest; the audit trail with its digest',
  );
  const escalating = await create('escalating', '10m');
  await linkFor(escalating.id, 'alice@example.com');
  await sleep(2500);
  await runtime.runSchedule('expiry-sweeper');
  await linkFor(escalating.id, 'carol@example.com');
  await dave.post(`/requests/${escalating.id}/cancel`, {});
  await waitFor(escalating.id, ['CANCELLED'], 'escalated');
  await runtime.runSchedule('audit-digest');
  await dave.get(`/requests/${approved.id}/audit`);
  await dave.get(`/requests/${urgent.id}/audit`);
  return { requests };
}
