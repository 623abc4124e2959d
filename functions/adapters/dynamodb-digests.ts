/**
 * DigestStore on DynamoDB (the digests table, DIGESTS_TABLE): `pk = "digest", sk = seq` per signed digest, and
 * `pk = "anchor#<stream>", sk = <event seq>` per head anchored. Every write is a conditional PutItem
 * (attribute_not_exists): the table is write-once, and only the audit-digest function may write it.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DigestStore } from '../application/ports.js';
import type { SignedDigest, StreamAnchor } from '../domain/audit-anchor.js';
import { ConflictError } from '../domain/errors.js';
import { newestItem } from './dynamodb-client.js';
import { StoreUnavailableError } from './dynamodb-requests.js';

const DIGEST_PK = 'digest';
const anchorPk = (stream: string) => `anchor#${stream}`;

export interface DynamoDigestStoreOptions {
  client: DynamoDBDocumentClient;
  digestsTable: string;
}

export class DynamoDigestStore implements DigestStore {
  constructor(private readonly options: DynamoDigestStoreOptions) {}

  async latest(): Promise<SignedDigest | undefined> {
    const item = await this.newest(DIGEST_PK);
    return item ? toDigest(item) : undefined;
  }

  async get(seq: number): Promise<SignedDigest | undefined> {
    try {
      const result = await this.options.client.send(
        new GetCommand({
          TableName: this.options.digestsTable,
          Key: { pk: DIGEST_PK, sk: seq },
          ConsistentRead: true,
        }),
      );
      return result.Item ? toDigest(result.Item) : undefined;
    } catch (error) {
      throw new StoreUnavailableError('digest get', error);
    }
  }

  async anchorOf(stream: string): Promise<StreamAnchor | undefined> {
    const item = await this.newest(anchorPk(stream));
    if (!item) return undefined;
    return { stream, seq: Number(item.sk), hash: String(item.hash), digestSeq: Number(item.digestSeq) };
  }

  async put(digest: SignedDigest): Promise<void> {
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.digestsTable,
          Item: { pk: DIGEST_PK, sk: digest.seq, ...digest },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException)
        throw new ConflictError(`digest ${digest.seq} exists: another digest run took it`, error);
      throw new StoreUnavailableError('digest put', error);
    }
    // After the digest, never before: a pointer must not name a digest that does not exist. A run that dies
    // here leaves older pointers, so those heads are simply anchored again by the next run.
    for (const head of digest.heads) {
      try {
        await this.options.client.send(
          new PutCommand({
            TableName: this.options.digestsTable,
            Item: { pk: anchorPk(head.stream), sk: head.seq, hash: head.hash, digestSeq: digest.seq },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        // The same head anchored again (a pointer left by an earlier run): the older pointer stands.
        if (!(error instanceof ConditionalCheckFailedException))
          throw new StoreUnavailableError('anchor put', error);
      }
    }
  }

  private async newest(pk: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await newestItem(this.options.client, this.options.digestsTable, { key: 'pk', value: pk });
    } catch (error) {
      throw new StoreUnavailableError('digest query', error);
    }
  }
}

function toDigest(item: Record<string, unknown>): SignedDigest {
  const { pk: _pk, sk: _sk, ...digest } = item;
  return digest as unknown as SignedDigest;
}
