/**
 * ResultStore on the requests table: one `result#<request id>` item per statement request, carrying no index
 * key (no index sees it) and a `ttl` of its retention's end, so DynamoDB TTL removes it. TTL deletes lazily
 * (within days), so a read past `expiresAt` answers nothing as well.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ResultStore } from '../application/ports.js';
import { DomainError } from '../domain/errors.js';
import type { StatementResult } from '../domain/statements.js';

/** The id prefix of result items; the request store refuses ids that start with it. */
export const RESULT_PREFIX = 'result#';

export interface DynamoResultStoreOptions {
  client: DynamoDBDocumentClient;
  requestsTable: string;
}

export class DynamoResultStore implements ResultStore {
  constructor(private readonly options: DynamoResultStoreOptions) {}

  async put(result: StatementResult): Promise<void> {
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.requestsTable,
          Item: {
            id: `${RESULT_PREFIX}${result.requestId}`,
            result: JSON.stringify(result),
            ttl: Math.ceil(Date.parse(result.expiresAt) / 1000),
          },
          // Written once: a retried run never replaces the result of the run that happened.
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return;
      throw new DomainError('INTERNAL', `DynamoDB put of a result failed: ${nameOf(error)}`, {
        cause: error,
      });
    }
  }

  async get(requestId: string, now: Date): Promise<StatementResult | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const answer = await this.options.client.send(
        new GetCommand({
          TableName: this.options.requestsTable,
          Key: { id: `${RESULT_PREFIX}${requestId}` },
          ConsistentRead: true,
        }),
      );
      item = answer.Item;
    } catch (error) {
      throw new DomainError('INTERNAL', `DynamoDB get of a result failed: ${nameOf(error)}`, {
        cause: error,
      });
    }
    if (!item || typeof item.result !== 'string') return undefined;
    const result = JSON.parse(item.result) as StatementResult;
    return Date.parse(result.expiresAt) > now.getTime() ? result : undefined;
  }
}

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown error';
}
