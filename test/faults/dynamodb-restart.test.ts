import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { ALICE, CAROL, useAppSystem } from '../support/app-suite.js';
import { services } from '../support/services.js';
import { activeCredentials, canLogin, fileRequest, roleExists, sleep } from '../support/system.js';

/**
 * DynamoDB itself fails under a running workflow: a dedicated DynamoDB Local with a data directory is killed
 * (SIGKILL) and started again on the same port, once while a request waits for approval, once across the
 * moment its grant expires. Invariants: the request still ends REVOKED with its access gone (at the latest
 * one sweep after DynamoDB is back), no audit event is lost or duplicated, and the chain verifies.
 */

const database = `ddb_restart_${randomBytes(4).toString('hex')}`;
let dataDir: string;
let dynamo: DynamoDbLocal | undefined;
let port: number;
/** How long DynamoDB Local may take to make an acknowledged write survive SIGKILL. */
const LOCAL_FLUSH_MS = 2000;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'jitdb-faults-ddb-'));
  dynamo = await startDynamoDbLocal({ dataDir });
  port = dynamo.port;
}, 120_000);
// Registered before useAppSystem, so it runs after the system stops (vitest runs after-hooks in reverse).
afterAll(async () => {
  await dynamo?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const system = useAppSystem(() => {
  if (!dynamo) throw new Error('DynamoDB Local did not start');
  return {
    dynamodbEndpoint: dynamo.url,
    database,
    levels: { review: { maxDuration: '1h', approvers: [CAROL] } },
  };
}, 120_000);

async function restartDynamo(downMs: number): Promise<void> {
  await dynamo?.stop();
  dynamo = undefined;
  await sleep(downMs);
  dynamo = await startDynamoDbLocal({ dataDir, port });
}

describe('DynamoDB Local restarted under a running workflow', () => {
  it('still grants, expires and revokes a request, with every audit event exactly once', async () => {
    const { id } = await fileRequest(system(), ALICE, {
      target: 'app',
      level: 'review',
      duration: '5s',
      reason: 'faults: dynamodb restart',
    });
    await system().approvalLink(id, CAROL); // the workflow stored its task token and emailed
    // DynamoDB Local (SQLite) loses writes acknowledged just before a SIGKILL; real DynamoDB does not.
    await sleep(LOCAL_FLUSH_MS);

    await restartDynamo(500);
    expect((await system().request(id)).status).toBe('PENDING');
    const approved = await system().call('POST', `/requests/${id}/approve`, CAROL, {});
    expect(approved.status).toBe(200);
    const { request: active, creds } = await activeCredentials(system(), id, ALICE);
    const expiresAt = Date.parse(active.expiresAt ?? '');

    // Down from just before expiry until well after it: the Wait state's Revoke meets no DynamoDB.
    await sleep(Math.max(0, expiresAt - Date.now() - 300));
    await restartDynamo(3000);
    const backAt = Date.now();
    let status = (await system().request(id)).status;
    if (status !== 'REVOKED') {
      await system().sweep();
      status = (await system().request(id)).status;
    }
    expect(status).toBe('REVOKED');
    console.log(
      `faults: DynamoDB down across expiry — REVOKED ${Date.now() - expiresAt} ms after expiresAt, ${Date.now() - backAt} ms after DynamoDB was back`,
    );
    expect(await canLogin(creds.uri)).toBe(false);
    expect(await roleExists(services().pgAdminUrl, `jit_${id}`)).toBe(false);

    const events = await system().audit(id);
    const actions = events.map((e) => e.action);
    for (const once of ['requested', 'approved', 'granted', 'credentials-issued', 'revoked'] as const) {
      expect(
        actions.filter((a) => a === once),
        once,
      ).toHaveLength(1);
    }
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(await system().deps.audit.verify(id)).toMatchObject({ ok: true, events: events.length });
  }, 90_000);
});
