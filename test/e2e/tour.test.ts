/**
 * The tour against a deployed API: create → approve → credentials → connect → revoke.
 *
 *   JITDB_API_URL=https://….execute-api.eu-west-1.amazonaws.com/prod \
 *   JITDB_TOUR_TARGET=orders-pg JITDB_TOUR_LEVEL=read \
 *   JITDB_APPROVER_PROFILE=approver npm run test:e2e
 *
 * Requests are signed with SigV4 (service execute-api) using the default credential chain for the
 * requester and the named profile for the approver (self-approval is refused, so they must differ).
 * The runner needs network access to the target database for the connect step.
 */

import { Sha256 } from '@aws-crypto/sha256-js';
import { fromIni, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const url = process.env.JITDB_API_URL;
const target = process.env.JITDB_TOUR_TARGET ?? 'orders-pg';
const level = process.env.JITDB_TOUR_LEVEL ?? 'read';
const approverProfile = process.env.JITDB_APPROVER_PROFILE;

if (!url) console.log('e2e tour skipped: set JITDB_API_URL to the deployed API (https://…/prod) to run it');

type Json = Record<string, unknown>;
type Provider = ReturnType<typeof fromNodeProviderChain>;

async function call(credentials: Provider, method: 'GET' | 'POST', path: string, body?: Json) {
  const base = new URL(url ?? '');
  const target = new URL(`${base.pathname.replace(/\/$/, '')}${path}`, base);
  const region =
    /execute-api\.([a-z0-9-]+)\./.exec(base.hostname)?.[1] ?? process.env.AWS_REGION ?? 'us-east-1';
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const request = new HttpRequest({
    method,
    protocol: target.protocol,
    hostname: target.hostname,
    ...(target.port ? { port: Number(target.port) } : {}),
    path: target.pathname,
    query: Object.fromEntries(target.searchParams),
    headers: {
      // With the port when there is one: what the Host header will say, and so what is signed.
      host: target.host,
      accept: 'application/json',
      ...(payload ? { 'content-type': 'application/json' } : {}),
    },
    ...(payload ? { body: payload } : {}),
  });
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  const signed = await signer.sign(request);
  const response = await fetch(target, {
    method,
    headers: signed.headers,
    ...(payload ? { body: payload } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Json };
}

/** Responses may wrap the resource (`{request: …}`) or be it; accept both. */
const unwrap = (body: Json, key: string): Json => (body[key] as Json | undefined) ?? body;

/**
 * Connects the way the URI says: TLS unless the target is one of the loopback `tls: disable` ones (assembly
 * mode on a laptop, test/assembly/assembly-runtime.test.ts), whose URI says so.
 */
/** The request's status as `reader` sees it, read every 2 s until it is `wanted` (30 reads at most): the last read. */
async function pollStatus(reader: Provider, id: string, wanted: string): Promise<string> {
  let status = '';
  for (let i = 0; i < 30 && status !== wanted; i++) {
    status = String(unwrap((await call(reader, 'GET', `/requests/${id}`)).body, 'request').status);
    if (status !== wanted) await new Promise((r) => setTimeout(r, 2000));
  }
  return status;
}

async function connect(c: Json): Promise<void> {
  const uri = String(c.uri);
  if (c.engine === 'postgres') {
    const tls = !uri.includes('sslmode=disable');
    const client = new pg.Client({ connectionString: uri, ssl: tls ? { rejectUnauthorized: false } : false });
    await client.connect();
    try {
      const result = await client.query('SELECT current_user AS who');
      expect(result.rows[0]?.who).toBe(c.username);
    } finally {
      await client.end();
    }
  } else {
    const tls = uri.includes('ssl-mode=');
    const connection = await mysql.createConnection({
      uri: uri.replace(/\?ssl-mode=.*$/, ''),
      ...(tls ? { ssl: {} } : {}),
    });
    try {
      const [rows] = await connection.query('SELECT CURRENT_USER() AS who');
      expect(JSON.stringify(rows)).toContain(String(c.username));
    } finally {
      await connection.end();
    }
  }
}

describe.skipIf(!url)('the tour against a deployed API', () => {
  const requester = fromNodeProviderChain();
  const approver = approverProfile ? fromIni({ profile: approverProfile }) : requester;
  let requestId = '';

  afterAll(async () => {
    // Leave nothing behind even if a step failed half-way.
    if (requestId) await call(requester, 'POST', `/requests/${requestId}/revoke`, { comment: 'e2e cleanup' });
  });

  it('refuses an unsigned call', async () => {
    const response = await fetch(new URL(`${new URL(url ?? '').pathname.replace(/\/$/, '')}/targets`, url));
    expect(response.status).toBe(403);
  });

  it('creates a request for a short grant', async () => {
    const { status, body } = await call(requester, 'POST', '/requests', {
      target,
      level,
      duration: '15m',
      reason: 'jit-db-access e2e tour',
      idempotencyKey: `e2e-${Date.now()}`,
    });
    expect(status).toBe(201);
    const request = unwrap(body, 'request');
    requestId = String(request.id);
    expect(requestId).toMatch(/^[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('approves it as a different principal (or sees it auto-approved)', async () => {
    const current = unwrap((await call(requester, 'GET', `/requests/${requestId}`)).body, 'request');
    if (current.status === 'PENDING') {
      const { status } = await call(approver, 'POST', `/requests/${requestId}/approve`, { comment: 'e2e' });
      expect(status).toBe(200);
    }
    expect(await pollStatus(requester, requestId, 'ACTIVE')).toBe('ACTIVE');
  });

  let credentials: Json = {};
  it('hands out credentials for the grant', async () => {
    const { status, body } = await call(requester, 'GET', `/requests/${requestId}/credentials`);
    expect(status).toBe(200);
    credentials = unwrap(body, 'credentials');
    expect(credentials.username).toBe(`jit_${requestId}`);
  });

  it('connects to the target with them', async () => {
    await connect(credentials);
  });

  it('revokes early, after which the credentials no longer connect', async () => {
    const { status } = await call(requester, 'POST', `/requests/${requestId}/revoke`, {
      comment: 'tour done',
    });
    expect(status).toBe(200);
    expect(await pollStatus(requester, requestId, 'REVOKED')).toBe('REVOKED');
    await expect(connect(credentials)).rejects.toThrow();
    requestId = '';
  });
});
