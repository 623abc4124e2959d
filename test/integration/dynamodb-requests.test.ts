import { DeleteItemCommand, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient, createDynamoDbClient } from '../../functions/adapters/dynamodb-client.js';
import {
  DynamoRequestStore,
  idempotencyItemId,
  StoreUnavailableError,
} from '../../functions/adapters/dynamodb-requests.js';
import { chainEvent, hashAuditEvent } from '../../functions/domain/audit-chain.js';
import { ConflictError, ValidationError } from '../../functions/domain/errors.js';
import { type AccessRequest, type AuditDraft, GENESIS_HASH } from '../../functions/domain/types.js';
import {
  type DynamoTestTables,
  dynamoTestTables,
  pendingRequest,
  requestedDraft,
} from '../support/dynamodb-local.js';
import { useDynamoTestTables } from '../support/dynamodb-suite.js';
import { services } from '../support/services.js';

const t = useDynamoTestTables('requests');

function approvalDraft(by: string, at: string): AuditDraft {
  return { at, actor: by, via: 'approval-link', action: 'approval-recorded', details: { approvals: 1 } };
}

async function rawRequestItem(id: string) {
  const result = await t.client.send(
    new GetItemCommand({ TableName: t.names.requestsTable, Key: { id: { S: id } }, ConsistentRead: true }),
  );
  return result.Item;
}

async function auditItems(requestId: string) {
  return t.audit.list(requestId);
}

describe('DynamoRequestStore.create', () => {
  it('stores the request with its first audit event and returns it with the chain head', async () => {
    const request = pendingRequest();
    const { request: stored, created } = await t.requests.create(request, requestedDraft());

    const events = await auditItems(request.id);
    expect(created).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      ...requestedDraft(),
      requestId: request.id,
      seq: 1,
      prevHash: GENESIS_HASH,
      hash: hashAuditEvent({ ...requestedDraft(), requestId: request.id, seq: 1, prevHash: GENESIS_HASH }),
    });
    expect(stored).toEqual({ ...request, auditSeq: 1, auditHead: events[0]?.hash });
    expect(await t.requests.get(request.id)).toEqual(stored);
  });

  it('round-trips every shape of a request: nested maps and lists, empty strings, booleans, absent fields', async () => {
    const request = pendingRequest({
      status: 'ACTIVE',
      autoApproved: true,
      breakGlass: true,
      scope: { schemas: [{ name: 'public', tables: ['orders', 'order_lines'], privileges: ['SELECT'] }] },
      approvals: [
        {
          by: 'bob@example.com',
          email: 'bob@example.com',
          at: '2026-11-23T10:01:00.000Z',
          via: 'approval-link',
        },
        {
          by: 'arn:aws:sts::1:assumed-role/Dba/carol',
          at: '2026-11-23T10:02:00.000Z',
          comment: '',
          via: 'iam',
        },
      ],
      grant: {
        dbUser: 'jit_x',
        engine: 'postgres',
        kind: 'iam',
        host: 'db.internal',
        port: 5432,
        database: 'orders',
        grantedAt: '2026-11-23T10:03:00.000Z',
        expiresAt: '2026-11-23T11:03:00.000Z',
      },
      expiresAt: '2026-11-23T11:03:00.000Z',
      extension: {
        id: 'ext-1',
        durationSeconds: 900,
        reason: '',
        requestedBy: 'erin@example.com',
        requestedAt: '2026-11-23T10:30:00.000Z',
        approvalsRequired: 1,
        approvals: [],
        newExpiresAt: '2026-11-23T11:18:00.000Z',
      },
      approvalLinks: [
        {
          approver: 'bob@example.com',
          tokenHash: 'f'.repeat(64),
          purpose: 'request',
          expiresAt: '2026-11-23T11:00:00.000Z',
          usedAt: '2026-11-23T10:01:00.000Z',
        },
      ],
      lastError: { code: 'TARGET_UNAVAILABLE', message: '', at: '2026-11-23T10:02:30.000Z' },
      requesterEmail: undefined,
    });
    const { request: stored } = await t.requests.create(request, requestedDraft());

    const read = await t.requests.get(request.id);
    expect(read).toEqual(stored);
    expect(read && 'requesterEmail' in read).toBe(false);
    expect(read && 'sortAt' in read).toBe(false);
  });

  it('refuses a second request with the same id, leaving the first and its audit untouched', async () => {
    const request = pendingRequest();
    const { request: first } = await t.requests.create(request, requestedDraft());

    await expect(
      t.requests.create({ ...request, reason: 'something else' }, requestedDraft()),
    ).rejects.toMatchObject({ name: 'ConflictError', code: 'CONFLICT' });
    expect(await t.requests.get(request.id)).toEqual(first);
    expect(await auditItems(request.id)).toHaveLength(1);
  });

  it('returns the earlier request, not a new one, when the requester reuses an idempotency key', async () => {
    const original = pendingRequest({ idempotencyKey: 'key-1' });
    const first = await t.requests.create(original, requestedDraft(), { bodyHash: 'hash-a' });
    const retry = pendingRequest({ idempotencyKey: 'key-1', reason: 'other body' });

    const second = await t.requests.create(retry, requestedDraft(), { bodyHash: 'hash-b' });

    expect(first).toEqual({ request: first.request, created: true, bodyHash: 'hash-a' });
    expect(second).toEqual({ request: first.request, created: false, bodyHash: 'hash-a' });
    expect(await t.requests.get(retry.id)).toBeUndefined();
    expect(await auditItems(retry.id)).toEqual([]);
  });

  it('keeps idempotency keys per requester', async () => {
    const mine = pendingRequest({ idempotencyKey: 'shared-key' });
    const theirs = pendingRequest({
      idempotencyKey: 'shared-key',
      requester: 'arn:aws:sts::1:assumed-role/Engineer/frank',
    });

    const a = await t.requests.create(mine, requestedDraft());
    const b = await t.requests.create(theirs, requestedDraft());

    expect([a.created, b.created]).toEqual([true, true]);
    expect(b.request.id).toBe(theirs.id);
  });

  it('creates exactly one request when ten retries with the same key arrive at once', async () => {
    const attempts = Array.from({ length: 10 }, () => pendingRequest({ idempotencyKey: 'burst' }));

    const results = await Promise.all(attempts.map((r) => t.requests.create(r, requestedDraft())));

    const created = results.filter((r) => r.created);
    expect(created).toHaveLength(1);
    const winner = created[0]?.request.id;
    expect(new Set(results.map((r) => r.request.id))).toEqual(new Set([winner]));
    const stored = await Promise.all(attempts.map((r) => t.requests.get(r.id)));
    expect(stored.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('stores only a hash of requester and key on the idempotency record, outside every index', async () => {
    const request = pendingRequest({ idempotencyKey: 'visible?' });
    await t.requests.create(request, requestedDraft(), { bodyHash: 'body-hash' });

    const idem = await rawRequestItem(idempotencyItemId(request.requester, 'visible?'));
    expect(Object.keys(idem ?? {}).sort()).toEqual(['bodyHash', 'createdAt', 'id', 'requestId', 'ttl']);
    expect(idem?.id?.S).toMatch(/^idem#[0-9a-f]{64}$/);
    expect(idem?.requestId?.S).toBe(request.id);
    expect(await t.requests.get(idempotencyItemId(request.requester, 'visible?'))).toBeUndefined();
  });
});

describe('DynamoRequestStore.transition', () => {
  it('replaces the request, bumps version, moves the chain head and appends the audit event', async () => {
    const { request: created } = await t.requests.create(pendingRequest(), requestedDraft());
    const next: AccessRequest = {
      ...created,
      approvals: [{ by: 'bob@example.com', at: '2026-11-23T10:05:00.000Z', via: 'approval-link' }],
    };

    const stored = await t.requests.transition(
      created,
      next,
      approvalDraft('bob@example.com', '2026-11-23T10:05:00.000Z'),
    );

    const events = await auditItems(created.id);
    expect(events.map((e) => [e.seq, e.action])).toEqual([
      [1, 'requested'],
      [2, 'approval-recorded'],
    ]);
    expect(events[1]?.prevHash).toBe(created.auditHead);
    expect(stored).toEqual({
      ...next,
      version: created.version + 1,
      updatedAt: '2026-11-23T10:05:00.000Z',
      auditSeq: 2,
      auditHead: events[1]?.hash,
    });
    expect(await t.requests.get(created.id)).toEqual(stored);
  });

  it('records a refused attempt with recordEvent: only version, updatedAt and the chain move', async () => {
    const { request: created } = await t.requests.create(pendingRequest(), requestedDraft());

    const stored = await t.requests.recordEvent(created, {
      at: '2026-11-23T10:06:00.000Z',
      actor: 'erin@example.com',
      via: 'iam',
      action: 'refused',
      details: { code: 'SELF_APPROVAL_FORBIDDEN' },
    });

    expect(stored).toEqual({
      ...created,
      version: 2,
      updatedAt: '2026-11-23T10:06:00.000Z',
      auditSeq: 2,
      auditHead: stored.auditHead,
    });
    expect((await auditItems(created.id)).map((e) => e.action)).toEqual(['requested', 'refused']);
  });

  it('throws ConflictError for a stale version and writes neither the request nor the audit event', async () => {
    const { request: created } = await t.requests.create(pendingRequest(), requestedDraft());
    const moved = await t.requests.transition(
      created,
      {
        ...created,
        approvals: [{ by: 'bob@example.com', at: '2026-11-23T10:05:00.000Z', via: 'approval-link' }],
      },
      approvalDraft('bob@example.com', '2026-11-23T10:05:00.000Z'),
    );

    const stale = t.requests.transition(
      created,
      { ...created, status: 'DENIED' },
      { at: '2026-11-23T10:07:00.000Z', actor: 'alice@example.com', via: 'iam', action: 'denied' },
    );

    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    await expect(stale).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await t.requests.get(created.id)).toEqual(moved);
    expect((await auditItems(created.id)).map((e) => e.action)).toEqual(['requested', 'approval-recorded']);
  });

  it('leaves the request unchanged when its audit event cannot be written (seq already taken)', async () => {
    const { request: created } = await t.requests.create(pendingRequest(), requestedDraft());
    const squatter = chainEvent(
      { at: '2026-11-23T10:04:00.000Z', actor: 'mallory', via: 'iam', action: 'refused' },
      { requestId: created.id, seq: 2, prevHash: created.auditHead },
    );
    await t.doc.send(new PutCommand({ TableName: t.names.auditTable, Item: squatter }));
    const before = await rawRequestItem(created.id);

    await expect(
      t.requests.transition(
        created,
        { ...created, status: 'CANCELLED' },
        { at: '2026-11-23T10:05:00.000Z', actor: 'erin', via: 'iam', action: 'cancelled' },
      ),
    ).rejects.toMatchObject({ name: 'ConflictError', code: 'CONFLICT' });

    const events = await auditItems(created.id);
    expect(await rawRequestItem(created.id)).toEqual(before);
    expect(events.map((e) => [e.seq, e.action])).toEqual([
      [1, 'requested'],
      [2, 'refused'],
    ]);
    expect(events[1]).toEqual(squatter);
  });

  it('writes no audit event when the request was changed behind the store’s back', async () => {
    const { request: created } = await t.requests.create(pendingRequest(), requestedDraft());
    await t.doc.send(
      new UpdateCommand({
        TableName: t.names.requestsTable,
        Key: { id: created.id },
        UpdateExpression: 'SET #v = #v + :one',
        ExpressionAttributeNames: { '#v': 'version' },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );

    await expect(
      t.requests.transition(
        created,
        { ...created, status: 'CANCELLED' },
        { at: '2026-11-23T10:05:00.000Z', actor: 'erin', via: 'iam', action: 'cancelled' },
      ),
    ).rejects.toBeInstanceOf(ConflictError);

    expect((await auditItems(created.id)).map((e) => e.seq)).toEqual([1]);
    expect((await t.requests.get(created.id))?.status).toBe('PENDING');
  });

  it('throws ConflictError when the request was deleted meanwhile', async () => {
    const { request: created } = await t.requests.create(pendingRequest(), requestedDraft());
    await t.client.send(
      new DeleteItemCommand({ TableName: t.names.requestsTable, Key: { id: { S: created.id } } }),
    );

    await expect(
      t.requests.recordEvent(created, {
        at: '2026-11-23T10:05:00.000Z',
        actor: 'erin',
        via: 'iam',
        action: 'refused',
      }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect(await rawRequestItem(created.id)).toBeUndefined();
  });

  it('wraps failures other than a lost race in StoreUnavailableError with the cause', async () => {
    const missing = new DynamoRequestStore({
      client: createDocumentClient(createDynamoDbClient({ endpoint: services().dynamodbEndpoint })),
      requestsTable: 'no-such-table',
      auditTable: 'no-such-audit',
    });

    const failure = missing.get('01jd8x3k5q7r9s1t3v5w7y9z1b');

    await expect(failure).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(failure).rejects.toMatchObject({
      code: 'INTERNAL',
      retryable: false,
      message: 'DynamoDB get failed: ResourceNotFoundException',
      cause: expect.objectContaining({ name: 'ResourceNotFoundException' }),
    });
  });
});

describe('DynamoRequestStore listings', () => {
  let listing: DynamoTestTables;
  const requester = 'arn:aws:sts::1:assumed-role/Engineer/lister';
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    listing = await dynamoTestTables(services().dynamodbEndpoint, 'listing');
    const at = (minute: number) => `2026-11-23T10:${String(minute).padStart(2, '0')}:00.000Z`;
    const specs: [string, Partial<AccessRequest>][] = [
      ['active-late', { status: 'ACTIVE', expiresAt: at(50), createdAt: at(1) }],
      ['active-early', { status: 'ACTIVE', expiresAt: at(20), createdAt: at(2) }],
      ['active-mid', { status: 'ACTIVE', expiresAt: at(30), createdAt: at(3) }],
      ['revoke-failed', { status: 'REVOKE_FAILED', expiresAt: at(10), createdAt: at(4) }],
      ['pending', { status: 'PENDING', approvalDeadline: at(40), createdAt: at(5) }],
      ['denied', { status: 'DENIED', createdAt: at(6), updatedAt: at(7) }],
      [
        'other-requester',
        { status: 'ACTIVE', expiresAt: at(25), requester: 'someone-else', createdAt: at(8) },
      ],
    ];
    for (const [name, overrides] of specs) {
      const request = pendingRequest({ requester, ...overrides, idempotencyKey: name });
      ids[name] = request.id;
      await listing.requests.create(request, requestedDraft());
    }
  });

  afterAll(() => listing?.close());

  it('lists a status oldest expiresAt first', async () => {
    const page = await listing.requests.listByStatus('ACTIVE');

    expect(page.items.map((r) => r.id)).toEqual([
      ids['active-early'],
      ids['other-requester'],
      ids['active-mid'],
      ids['active-late'],
    ]);
    expect(page.cursor).toBeUndefined();
  });

  it('lists only those expiring at or before a time', async () => {
    const page = await listing.requests.listByStatus('ACTIVE', { expiresBefore: '2026-11-23T10:30:00.000Z' });

    expect(page.items.map((r) => r.id)).toEqual([
      ids['active-early'],
      ids['other-requester'],
      ids['active-mid'],
    ]);
  });

  it('pages through a status with an opaque cursor', async () => {
    const first = await listing.requests.listByStatus('ACTIVE', { limit: 3 });
    const second = await listing.requests.listByStatus('ACTIVE', { limit: 3, cursor: first.cursor });

    expect(first.items).toHaveLength(3);
    expect(first.cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(second.items.map((r) => r.id)).toEqual([ids['active-late']]);
    expect(second.cursor).toBeUndefined();
  });

  it('orders PENDING by approval deadline and the rest by updatedAt', async () => {
    expect((await listing.requests.listByStatus('PENDING')).items.map((r) => r.id)).toEqual([ids.pending]);
    expect((await listing.requests.listByStatus('REVOKE_FAILED')).items.map((r) => r.id)).toEqual([
      ids['revoke-failed'],
    ]);
    const denied = await rawItem(listing, ids.denied ?? '');
    expect(denied?.sortAt?.S).toBe('2026-11-23T10:07:00.000Z');
  });

  it('lists a requester’s requests newest first, optionally by status, across pages', async () => {
    const all = await listing.requests.listByRequester(requester);
    const active = await listing.requests.listByRequester(requester, { status: 'ACTIVE', limit: 2 });
    const activeRest = await listing.requests.listByRequester(requester, {
      status: 'ACTIVE',
      limit: 2,
      cursor: active.cursor,
    });

    expect(all.items.map((r) => r.id)).toEqual([
      ids.denied,
      ids.pending,
      ids['revoke-failed'],
      ids['active-mid'],
      ids['active-early'],
      ids['active-late'],
    ]);
    expect(active.items.map((r) => r.id)).toEqual([ids['active-mid'], ids['active-early']]);
    expect(activeRest.items.map((r) => r.id)).toEqual([ids['active-late']]);
    expect(activeRest.cursor).toBeUndefined();
  });

  it('refuses a cursor that was tampered with or belongs to another listing', async () => {
    const mine = await listing.requests.listByRequester(requester, { limit: 1 });
    const forged = Buffer.from(
      JSON.stringify({ id: 'x', requester: 'someone-else', createdAt: 'z' }),
    ).toString('base64url');

    await expect(
      listing.requests.listByRequester('someone-else', { cursor: mine.cursor }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(listing.requests.listByStatus('ACTIVE', { cursor: mine.cursor })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'invalid cursor',
    });
    await expect(listing.requests.listByRequester(requester, { cursor: forged })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      listing.requests.listByRequester(requester, { cursor: 'not base64 json' }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('never lists idempotency records', async () => {
    const scan = await listing.client.send(new ScanCommand({ TableName: listing.names.requestsTable }));
    const idemItems = (scan.Items ?? []).filter((item) => item.id?.S?.startsWith('idem#'));

    expect(idemItems).toHaveLength(7);
    const everything = await Promise.all(
      ['PENDING', 'ACTIVE', 'REVOKE_FAILED', 'DENIED'].map((s) =>
        listing.requests.listByStatus(s as 'PENDING', { limit: 500 }),
      ),
    );
    expect(everything.flatMap((p) => p.items)).toHaveLength(7);
  });
});

describe('DynamoRequestStore.listFlagged', () => {
  let flagged: DynamoTestTables;
  const at = (minute: number) => `2026-11-23T10:${String(minute).padStart(2, '0')}:00.000Z`;
  const created: Record<string, AccessRequest> = {};

  beforeAll(async () => {
    flagged = await dynamoTestTables(services().dynamodbEndpoint, 'flagged');
    const specs: [string, Partial<AccessRequest>][] = [
      ['glass-1', { breakGlass: true, status: 'ACTIVE', createdAt: at(1) }],
      ['glass-2', { breakGlass: true, status: 'REVOKED', createdAt: at(2) }],
      ['glass-3', { breakGlass: true, status: 'ACTIVE', createdAt: at(3) }],
      ['ordinary', { status: 'ACTIVE', createdAt: at(4) }],
    ];
    for (const [name, overrides] of specs) {
      created[name] = (await flagged.requests.create(pendingRequest(overrides), requestedDraft())).request;
    }
  });

  afterAll(() => flagged?.close());

  it('lists unacknowledged break-glass requests newest first, across pages, without the index key', async () => {
    const first = await flagged.requests.listFlagged({ limit: 2 });
    const rest = await flagged.requests.listFlagged({ limit: 2, cursor: first.cursor });

    expect(first.items.map((r) => r.id)).toEqual([created['glass-3']?.id, created['glass-2']?.id]);
    expect(rest.items.map((r) => r.id)).toEqual([created['glass-1']?.id]);
    expect(rest.cursor).toBeUndefined();
    expect(first.items[0]).toEqual(created['glass-3']);
    expect((await rawItem(flagged, created['glass-3']?.id ?? ''))?.flag?.S).toBe('REVIEW');
    expect((await rawItem(flagged, created.ordinary?.id ?? ''))?.flag).toBeUndefined();
  });

  it('drops a request from the index once it carries a review', async () => {
    const request = created['glass-1'];
    if (!request) throw new Error('fixture missing');
    const review = {
      by: 'security@example.com',
      email: 'security@example.com',
      at: at(9),
      via: 'local' as const,
    };
    const saved = await flagged.requests.transition(
      request,
      { ...request, review },
      { at: at(9), actor: 'security@example.com', via: 'local', action: 'reviewed' },
    );

    expect(saved.review).toEqual(review);
    expect((await rawItem(flagged, request.id))?.flag).toBeUndefined();
    expect(await flagged.requests.get(request.id)).toEqual(saved);
    const all = await flagged.requests.listFlagged();
    expect(all.items.map((r) => r.id)).toEqual([created['glass-3']?.id, created['glass-2']?.id]);
  });
});

async function rawItem(tables: DynamoTestTables, id: string) {
  const result = await tables.client.send(
    new GetItemCommand({
      TableName: tables.names.requestsTable,
      Key: { id: { S: id } },
      ConsistentRead: true,
    }),
  );
  return result.Item;
}
