import { expect } from 'vitest';
import type { RuntimeOptions } from '../../local/runtime.js';
import { hostPortOf, type LevelYaml, postgresPolicyYaml } from './policies.js';
import { services } from './services.js';

/** The level the tour suites ask for: read on the public schema for an hour, Carol approves. */
export const CAROL_READ: LevelYaml = { maxDuration: '1h', approvers: ['carol@example.com'] };

/** A policy with one password target `demo` (environment local) on a database of the shared PostgreSQL. */
export function demoPolicyYaml(database: string, levels: Record<string, LevelYaml>): string {
  const { host, port } = hostPortOf(services().pgAdminUrl);
  return postgresPolicyYaml({ id: 'demo', environment: 'local', host, port, database, levels });
}

/**
 * Options for a runtime on the shared test services: ephemeral, a free port, silent, with the suite's own
 * tables and demo database (unique names, so suites never share rows).
 */
export function testRuntimeOptions(
  policyFile: string,
  names: { tablePrefix: string; demoDatabase: string },
  extra: Partial<RuntimeOptions> = {},
): RuntimeOptions {
  const { dynamodbEndpoint, pgAdminUrl } = services();
  return {
    port: 0,
    policyFile,
    ephemeral: true,
    pgUrl: pgAdminUrl,
    dynamodbEndpoint,
    tablePrefix: names.tablePrefix,
    demoDatabase: names.demoDatabase,
    printEmails: false,
    log: () => undefined,
    // The PostgreSQL server is shared with other suites, whose jit_ users this runtime's reconciler would drop.
    reconcile: 'never',
    ...extra,
  };
}

/** Files a request on a running local server as the local user `user` (x-jitdb-user); expects 201, returns the id. */
export async function fileLocalRequest(
  url: string,
  user: string,
  body: { target: string; level: string; duration: string; reason: string },
): Promise<string> {
  const created = await fetch(`${url}/requests`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-jitdb-user': user },
    body: JSON.stringify(body),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { id: string }).id;
}

/** What a browser gets from GET on an emailed approval link: the page, and the CSRF value its form posts. */
export async function openApprovalLink(
  link: string,
): Promise<{ status: number; html: string; csrf: string }> {
  const response = await fetch(link);
  const html = await response.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!csrf) throw new Error(`no csrf field on the page at ${link} (HTTP ${response.status})`);
  return { status: response.status, html, csrf };
}

/** Submits the approval page's form as a browser does: every field, url-encoded, to the link itself. */
export async function submitApprovalForm(
  link: string,
  fields: { csrf: string; decision: 'approve' | 'deny'; comment?: string },
): Promise<{ status: number; html: string }> {
  const response = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      csrf: fields.csrf,
      comment: fields.comment ?? '',
      decision: fields.decision,
    }).toString(),
  });
  return { status: response.status, html: await response.text() };
}
