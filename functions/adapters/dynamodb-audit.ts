/**
 * AuditLog on DynamoDB: per-partition hash chains. Request events are written by DynamoRequestStore inside
 * its transactions; this reads and verifies them, and appends loose security events (no request to lock).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditLog } from '../application/ports.js';
import { type ChainHead, chainEvent, verifyChain } from '../domain/audit-chain.js';
import { type AuditDraft, type AuditEvent, GENESIS_HASH } from '../domain/types.js';
import { newestItem, queryAll } from './dynamodb-client.js';
import { StoreUnavailableError } from './dynamodb-requests.js';
import { AUDIT_BY_DAY_INDEX, auditItem, fromAuditItem, type TableNames } from './dynamodb-tables.js';

const APPEND_ATTEMPTS = 10;
const VERIFY_ATTEMPTS = 5;

/** Two writers kept taking the same seq of a loose stream; the caller may retry later. */
export class AuditAppendContendedError extends StoreUnavailableError {}

export interface DynamoAuditLogOptions extends TableNames {
  client: DynamoDBDocumentClient;
}

export class DynamoAuditLog implements AuditLog {
  constructor(private readonly options: DynamoAuditLogOptions) {}

  async list(requestId: string): Promise<AuditEvent[]> {
    return this.listFrom(requestId, 1);
  }

  async listFrom(requestId: string, fromSeq: number): Promise<AuditEvent[]> {
    try {
      const items = await queryAll(this.options.client, {
        TableName: this.options.auditTable,
        KeyConditionExpression: 'requestId = :requestId AND seq >= :fromSeq',
        ExpressionAttributeValues: { ':requestId': requestId, ':fromSeq': fromSeq },
        ConsistentRead: true,
        ScanIndexForward: true,
      });
      return items.map((item) => fromAuditItem<AuditEvent>(item));
    } catch (error) {
      throw new StoreUnavailableError('audit query', error);
    }
  }

  /**
   * Verifies a request's chain against the head recorded on the request (which catches a deleted last
   * event). Reads the request before and after the events, so a transition in between is not a false alarm.
   */
  async verify(
    requestId: string,
  ): Promise<{ ok: boolean; events: number; brokenAt?: number; problem?: string }> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.head(requestId);
      const events = await this.list(requestId);
      const after = await this.head(requestId);
      const stable = before?.seq === after?.seq && before?.hash === after?.hash;
      if (stable || attempt >= VERIFY_ATTEMPTS) return verifyChain(events, after);
    }
  }

  /** By the keys-only by-day index: one Query per UTC day in the window, paged; eventually consistent. */
  async streamsWithEventsBetween(since: string, until: string): Promise<string[]> {
    const streams = new Set<string>();
    try {
      for (const day of daysBetween(since, until)) {
        const items = await queryAll(this.options.client, {
          TableName: this.options.auditTable,
          IndexName: AUDIT_BY_DAY_INDEX,
          KeyConditionExpression: '#day = :day AND #at BETWEEN :since AND :until',
          ExpressionAttributeNames: { '#day': 'day', '#at': 'at' },
          ExpressionAttributeValues: { ':day': day, ':since': since, ':until': until },
        });
        for (const item of items) streams.add(String(item.requestId));
      }
    } catch (error) {
      throw new StoreUnavailableError('audit index query', error);
    }
    return [...streams].sort();
  }

  async appendLoose(stream: string, audit: AuditDraft): Promise<AuditEvent> {
    for (let attempt = 1; attempt <= APPEND_ATTEMPTS; attempt++) {
      const last = await this.last(stream);
      const event = chainEvent(audit, {
        requestId: stream,
        seq: (last?.seq ?? 0) + 1,
        prevHash: last?.hash ?? GENESIS_HASH,
      });
      try {
        await this.options.client.send(
          new PutCommand({
            TableName: this.options.auditTable,
            Item: auditItem(event),
            ConditionExpression: 'attribute_not_exists(requestId)',
          }),
        );
        return event;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException))
          throw new StoreUnavailableError('audit put', error);
        // Someone else took this seq: re-read the tail and chain after it.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
    throw new AuditAppendContendedError('audit put', new Error(`seq contention on ${stream}`));
  }

  private async head(requestId: string): Promise<ChainHead | undefined> {
    try {
      const result = await this.options.client.send(
        new GetCommand({
          TableName: this.options.requestsTable,
          Key: { id: requestId },
          ConsistentRead: true,
          ProjectionExpression: 'auditSeq, auditHead',
        }),
      );
      const item = result.Item;
      if (!item || typeof item.auditSeq !== 'number' || typeof item.auditHead !== 'string') return undefined;
      return { seq: item.auditSeq, hash: item.auditHead };
    } catch (error) {
      throw new StoreUnavailableError('get', error);
    }
  }

  private async last(stream: string): Promise<AuditEvent | undefined> {
    try {
      const item = await newestItem(this.options.client, this.options.auditTable, {
        key: 'requestId',
        value: stream,
      });
      return item ? fromAuditItem<AuditEvent>(item) : undefined;
    } catch (error) {
      throw new StoreUnavailableError('audit query', error);
    }
  }
}

/** The UTC days (YYYY-MM-DD) from `since`'s to `until`'s, inclusive. */
export function daysBetween(since: string, until: string): string[] {
  const days: string[] = [];
  const last = until.slice(0, 10);
  for (let day = new Date(`${since.slice(0, 10)}T00:00:00Z`); ; day = new Date(day.getTime() + 86_400_000)) {
    const text = day.toISOString().slice(0, 10);
    if (text > last) break;
    days.push(text);
  }
  return days;
}
