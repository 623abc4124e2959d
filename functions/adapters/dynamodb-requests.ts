/**
 * RequestStore on DynamoDB. Every state change is one TransactWriteItems: the request, conditioned on the
 * version the caller read, together with its audit event, conditioned on its seq being new. Either both land
 * or neither does, and of two racing writers exactly one wins.
 */
import { createHash } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { LinkRefusal, LinkRefusalCount, Page, RequestStore } from '../application/ports.js';
import { chainEvent } from '../domain/audit-chain.js';
import { ConflictError, DomainError, ValidationError } from '../domain/errors.js';
import { isFlagged, sortAtFor } from '../domain/lifecycle-records.js';
import {
  type AccessRequest,
  type AuditDraft,
  GENESIS_HASH,
  REQUEST_STATUSES,
  type RequestStatus,
} from '../domain/types.js';
import { countLinkRefusal, linkRefusalCounts, REFUSALS_PREFIX } from './dynamodb-link-refusals.js';
import { RESULT_PREFIX } from './dynamodb-results.js';
import {
  auditItem,
  BY_FLAG_INDEX,
  BY_REQUESTER_INDEX,
  BY_STATUS_INDEX,
  type TableNames,
} from './dynamodb-tables.js';

const IDEMPOTENCY_PREFIX = 'idem#';
/** Periodic jobs' last runs (`job#reconcile`): no index sees them (no status, no requester). */
const JOB_PREFIX = 'job#';
/** Idempotency records outlive any client retry by far; DynamoDB TTL removes them afterwards. */
const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 500;

/** DynamoDB refused or failed a call for a reason other than a lost race (throttling, outage, bad input). */
export class StoreUnavailableError extends DomainError {
  readonly retryable: boolean;

  constructor(operation: string, cause: unknown) {
    super('INTERNAL', `DynamoDB ${operation} failed: ${errorName(cause)}`, { cause });
    this.retryable = isThrottling(cause);
  }
}

/** The by-flag index's partition key value, on an item only while its request is flagged for review. */
const FLAG_REVIEW = 'REVIEW';

/** The stored item: the request plus the by-status sort key and, while flagged, the by-flag partition key. */
type RequestItem = AccessRequest & { sortAt: string; flag?: typeof FLAG_REVIEW };

interface IdempotencyItem {
  id: string;
  requestId: string;
  bodyHash?: string;
  createdAt: string;
  ttl: number;
}

export interface DynamoRequestStoreOptions extends TableNames {
  client: DynamoDBDocumentClient;
}

/** The id of a requester's idempotency record; hashed so neither the key nor the requester is spelt out. */
export function idempotencyItemId(requester: string, idempotencyKey: string): string {
  return (
    IDEMPOTENCY_PREFIX + createHash('sha256').update(`${requester}\n${idempotencyKey}`, 'utf8').digest('hex')
  );
}

export class DynamoRequestStore implements RequestStore {
  constructor(private readonly options: DynamoRequestStoreOptions) {}

  async create(
    request: AccessRequest,
    audit: AuditDraft,
    options: { bodyHash?: string } = {},
  ): Promise<{ request: AccessRequest; created: boolean; bodyHash?: string }> {
    if (isReservedId(request.id))
      throw new ValidationError('a request id cannot start with idem# or refusals#');
    const event = chainEvent(audit, { requestId: request.id, seq: 1, prevHash: GENESIS_HASH });
    const stored: AccessRequest = { ...request, auditSeq: 1, auditHead: event.hash };
    const idemId = request.idempotencyKey
      ? idempotencyItemId(request.requester, request.idempotencyKey)
      : undefined;
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Put: {
          TableName: this.options.requestsTable,
          Item: toItem(stored),
          ConditionExpression: 'attribute_not_exists(id)',
        },
      },
      {
        Put: {
          TableName: this.options.auditTable,
          Item: auditItem(event),
          ConditionExpression: 'attribute_not_exists(requestId)',
        },
      },
    ];
    if (idemId) {
      const idem: IdempotencyItem = {
        id: idemId,
        requestId: request.id,
        ...(options.bodyHash === undefined ? {} : { bodyHash: options.bodyHash }),
        createdAt: request.createdAt,
        ttl: Math.floor(Date.parse(request.createdAt) / 1000) + IDEMPOTENCY_TTL_SECONDS,
      };
      items.push({
        Put: {
          TableName: this.options.requestsTable,
          Item: idem,
          ConditionExpression: 'attribute_not_exists(id)',
        },
      });
    }
    try {
      await sendRetryingConflicts(this.options.client, new TransactWriteCommand({ TransactItems: items }));
      return {
        request: stored,
        created: true,
        ...(options.bodyHash === undefined ? {} : { bodyHash: options.bodyHash }),
      };
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (idemId && reasons?.[2] === 'ConditionalCheckFailed') {
        const earlier = await this.findByIdempotency(idemId);
        if (earlier) return { ...earlier, created: false };
      }
      if (reasons?.[0] === 'ConditionalCheckFailed' || reasons?.[1] === 'ConditionalCheckFailed') {
        throw new ConflictError(`a request with id ${request.id} already exists`, error);
      }
      throw toStoreError('create', error);
    }
  }

  async claimPeriodic(job: string, now: Date, everySeconds: number): Promise<boolean> {
    const due = new Date(now.getTime() - everySeconds * 1000).toISOString();
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.requestsTable,
          Item: { id: `${JOB_PREFIX}${job}`, lastRunAt: now.toISOString() },
          ConditionExpression: 'attribute_not_exists(id) OR lastRunAt <= :due',
          ExpressionAttributeValues: { ':due': due },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return false;
      throw toStoreError('claimPeriodic', error);
    }
  }

  async get(id: string): Promise<AccessRequest | undefined> {
    if (isReservedId(id)) return undefined;
    try {
      const result = await this.options.client.send(
        new GetCommand({ TableName: this.options.requestsTable, Key: { id }, ConsistentRead: true }),
      );
      return result.Item ? fromItem(result.Item) : undefined;
    } catch (error) {
      throw toStoreError('get', error);
    }
  }

  async transition(previous: AccessRequest, next: AccessRequest, audit: AuditDraft): Promise<AccessRequest> {
    return this.write(previous, next, audit);
  }

  /** A transition to the same state: only the version, updatedAt and the chain head move. */
  async recordEvent(request: AccessRequest, audit: AuditDraft): Promise<AccessRequest> {
    return this.write(request, request, audit);
  }

  private async write(
    previous: AccessRequest,
    next: AccessRequest,
    audit: AuditDraft,
  ): Promise<AccessRequest> {
    if (next.id !== previous.id) throw new ValidationError('a transition cannot change the request id');
    const event = chainEvent(audit, {
      requestId: previous.id,
      seq: previous.auditSeq + 1,
      prevHash: previous.auditHead,
    });
    const stored: AccessRequest = {
      ...next,
      version: previous.version + 1,
      updatedAt: audit.at,
      auditSeq: event.seq,
      auditHead: event.hash,
    };
    try {
      await this.options.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.options.requestsTable,
                Item: toItem(stored),
                ConditionExpression: '#version = :version AND #status = :status AND #auditSeq = :auditSeq',
                ExpressionAttributeNames: {
                  '#version': 'version',
                  '#status': 'status',
                  '#auditSeq': 'auditSeq',
                },
                ExpressionAttributeValues: {
                  ':version': previous.version,
                  ':status': previous.status,
                  ':auditSeq': previous.auditSeq,
                },
              },
            },
            {
              Put: {
                TableName: this.options.auditTable,
                Item: auditItem(event),
                ConditionExpression: 'attribute_not_exists(requestId)',
              },
            },
          ],
        }),
      );
      return stored;
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons?.some((code) => code === 'ConditionalCheckFailed' || code === 'TransactionConflict')) {
        throw new ConflictError(undefined, error);
      }
      throw toStoreError('transition', error);
    }
  }

  async listByStatus(
    status: RequestStatus,
    options: { expiresBefore?: string; limit?: number; cursor?: string } = {},
  ): Promise<Page<AccessRequest>> {
    assertStatus(status);
    const input: QueryCommandInput = {
      TableName: this.options.requestsTable,
      IndexName: BY_STATUS_INDEX,
      KeyConditionExpression:
        options.expiresBefore === undefined ? '#status = :status' : '#status = :status AND sortAt <= :before',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':status': status,
        ...(options.expiresBefore === undefined ? {} : { ':before': options.expiresBefore }),
      },
      ScanIndexForward: true,
    };
    return this.queryPage(input, options, { partition: 'status', value: status, sort: 'sortAt' });
  }

  async listByRequester(
    requester: string,
    options: { status?: RequestStatus; limit?: number; cursor?: string } = {},
  ): Promise<Page<AccessRequest>> {
    if (options.status !== undefined) assertStatus(options.status);
    const input: QueryCommandInput = {
      TableName: this.options.requestsTable,
      IndexName: BY_REQUESTER_INDEX,
      KeyConditionExpression: 'requester = :requester',
      ExpressionAttributeValues: {
        ':requester': requester,
        ...(options.status === undefined ? {} : { ':status': options.status }),
      },
      ...(options.status === undefined
        ? {}
        : { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }),
      ScanIndexForward: false,
    };
    return this.queryPage(input, options, { partition: 'requester', value: requester, sort: 'createdAt' });
  }

  async listFlagged(options: { limit?: number; cursor?: string } = {}): Promise<Page<AccessRequest>> {
    const input: QueryCommandInput = {
      TableName: this.options.requestsTable,
      IndexName: BY_FLAG_INDEX,
      KeyConditionExpression: '#flag = :flag',
      ExpressionAttributeNames: { '#flag': 'flag' },
      ExpressionAttributeValues: { ':flag': FLAG_REVIEW },
      ScanIndexForward: false,
    };
    return this.queryPage(input, options, { partition: 'flag', value: FLAG_REVIEW, sort: 'createdAt' });
  }

  async countLinkRefusal(refusal: LinkRefusal, marker: AuditDraft): Promise<{ firstInWindow: boolean }> {
    try {
      return await countLinkRefusal(this.tables(), refusal, marker);
    } catch (error) {
      throw toStoreError('link refusal count', error);
    }
  }

  async linkRefusalCounts(scope: string, windows: readonly string[]): Promise<LinkRefusalCount[]> {
    try {
      return await linkRefusalCounts(this.tables(), scope, windows);
    } catch (error) {
      throw toStoreError('link refusal read', error);
    }
  }

  private tables() {
    return {
      client: this.options.client,
      requestsTable: this.options.requestsTable,
      auditTable: this.options.auditTable,
    };
  }

  /**
   * Fills a page of up to `limit` requests, following DynamoDB's pages (a filter can leave one empty).
   * The cursor is the index key of the last request returned, base64url JSON, checked on the way back in.
   */
  private async queryPage(
    input: QueryCommandInput,
    options: { limit?: number; cursor?: string },
    key: { partition: string; value: string; sort: string },
  ): Promise<Page<AccessRequest>> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE);
    const filtered = input.FilterExpression !== undefined;
    let start = options.cursor === undefined ? undefined : decodeCursor(options.cursor, key);
    const items: RequestItem[] = [];
    try {
      for (;;) {
        const remaining = limit - items.length;
        const result = await this.options.client.send(
          new QueryCommand({
            ...input,
            // Without a filter every evaluated item is returned, so asking for exactly the rest never overshoots.
            Limit: filtered ? Math.min(Math.max(remaining * 4, 50), 1000) : remaining,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        items.push(...((result.Items ?? []) as RequestItem[]));
        start = result.LastEvaluatedKey;
        if (items.length >= limit || !start) break;
      }
    } catch (error) {
      throw toStoreError('query', error);
    }
    const page = items.slice(0, limit);
    const last = page.at(-1);
    const more = items.length > limit || (items.length === limit && start !== undefined);
    return {
      items: page.map(fromItem),
      ...(more && last ? { cursor: encodeCursor(last, key) } : {}),
    };
  }

  private async findByIdempotency(
    idemId: string,
  ): Promise<{ request: AccessRequest; bodyHash?: string } | undefined> {
    try {
      const idem = await this.options.client.send(
        new GetCommand({ TableName: this.options.requestsTable, Key: { id: idemId }, ConsistentRead: true }),
      );
      const record = idem.Item as IdempotencyItem | undefined;
      if (!record) return undefined;
      const request = await this.get(record.requestId);
      if (!request) return undefined;
      return { request, ...(record.bodyHash === undefined ? {} : { bodyHash: record.bodyHash }) };
    } catch (error) {
      throw toStoreError('get', error);
    }
  }
}

/** Ids of the table's other items (idempotency records, link-refusal tallies), never a request's. */
function isReservedId(id: string): boolean {
  return (
    id.startsWith(IDEMPOTENCY_PREFIX) ||
    id.startsWith(REFUSALS_PREFIX) ||
    id.startsWith(JOB_PREFIX) ||
    id.startsWith(RESULT_PREFIX)
  );
}

/** A concurrent create with the same idempotency key can collide mid-flight; once it commits, ours fails cleanly. */
async function sendRetryingConflicts(
  client: DynamoDBDocumentClient,
  command: TransactWriteCommand,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.send(command);
      return;
    } catch (error) {
      const conflicted = cancellationReasons(error)?.includes('TransactionConflict') ?? false;
      if (!conflicted || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.random() * 30));
    }
  }
}

/** Writes always Put the whole item, so an acknowledged request's item simply has no `flag` any more. */
function toItem(request: AccessRequest): RequestItem {
  return {
    ...request,
    sortAt: sortAtFor(request),
    ...(isFlagged(request) ? { flag: FLAG_REVIEW } : {}),
  };
}

function fromItem(item: object): AccessRequest {
  const { sortAt: _sortAt, flag: _flag, ...request } = item as Record<string, unknown>;
  return request as unknown as AccessRequest;
}

function assertStatus(status: string): asserts status is RequestStatus {
  if (!(REQUEST_STATUSES as readonly string[]).includes(status)) {
    throw new ValidationError(`unknown status ${status}`, { status });
  }
}

function encodeCursor(item: RequestItem, key: { partition: string; sort: string }): string {
  const record = item as unknown as Record<string, unknown>;
  const lastKey = { id: item.id, [key.partition]: record[key.partition], [key.sort]: record[key.sort] };
  return Buffer.from(JSON.stringify(lastKey), 'utf8').toString('base64url');
}

/** Accepts only a cursor this query could have produced: same partition, exactly the index's key fields. */
function decodeCursor(
  cursor: string,
  key: { partition: string; value: string; sort: string },
): Record<string, string> {
  const invalid = () => new ValidationError('invalid cursor');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid();
  const entries = Object.entries(parsed);
  const expected = new Set(['id', key.partition, key.sort]);
  if (
    entries.length !== expected.size ||
    !entries.every(([k, v]) => expected.has(k) && typeof v === 'string')
  ) {
    throw invalid();
  }
  const lastKey = Object.fromEntries(entries) as Record<string, string>;
  if (lastKey[key.partition] !== key.value) throw invalid();
  return lastKey;
}

/** Per-item reasons of a cancelled transaction ('None', 'ConditionalCheckFailed', 'TransactionConflict'…). */
function cancellationReasons(error: unknown): string[] | undefined {
  if (!(error instanceof TransactionCanceledException)) return undefined;
  return (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
}

function toStoreError(operation: string, error: unknown): Error {
  if (error instanceof DomainError) return error;
  return new StoreUnavailableError(operation, error);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown error';
}

function isThrottling(error: unknown): boolean {
  const name = errorName(error);
  return (
    name === 'ProvisionedThroughputExceededException' ||
    name === 'ThrottlingException' ||
    name === 'RequestLimitExceeded' ||
    (error instanceof TransactionCanceledException &&
      (error.CancellationReasons ?? []).some((r) => r.Code === 'ThrottlingError'))
  );
}
