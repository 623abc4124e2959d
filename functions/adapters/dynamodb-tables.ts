/**
 * The two tables as data: CDK builds them from these specs, local runs and tests create them with
 * `createTables`. Key and index names are shared names other code relies on; change them nowhere else.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTableCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

export type AttributeType = 'S' | 'N';

export interface KeySpec {
  name: string;
  type: AttributeType;
}

export interface IndexSpec {
  indexName: string;
  partitionKey: KeySpec;
  sortKey: KeySpec;
  /** What the index holds besides its keys: every attribute (the default), or only the keys. */
  projection?: 'ALL' | 'KEYS_ONLY';
}

export interface TableSpec {
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  globalSecondaryIndexes: readonly IndexSpec[];
  /** Attribute holding an epoch-seconds expiry, for DynamoDB TTL (only idempotency records carry it). */
  timeToLiveAttribute?: string;
}

export const BY_STATUS_INDEX = 'by-status';
export const BY_REQUESTER_INDEX = 'by-requester';
/** Sparse: only requests flagged for review (break-glass, not yet acknowledged) carry its partition key. */
export const BY_FLAG_INDEX = 'by-flag';

/**
 * Requests: one item per request (`id`), plus `idem#…` idempotency records and `refusals#…` link-refusal
 * tallies (dynamodb-link-refusals.ts), which carry no index key, so no index sees them.
 */
export const REQUESTS_TABLE: TableSpec = {
  partitionKey: { name: 'id', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: BY_STATUS_INDEX,
      partitionKey: { name: 'status', type: 'S' },
      // expiresAt while ACTIVE/REVOKE_FAILED, approvalDeadline while PENDING, else updatedAt
      sortKey: { name: 'sortAt', type: 'S' },
    },
    {
      indexName: BY_REQUESTER_INDEX,
      partitionKey: { name: 'requester', type: 'S' },
      sortKey: { name: 'createdAt', type: 'S' },
    },
    {
      indexName: BY_FLAG_INDEX,
      // `REVIEW` while flagged, absent otherwise
      partitionKey: { name: 'flag', type: 'S' },
      sortKey: { name: 'createdAt', type: 'S' },
    },
  ],
  timeToLiveAttribute: 'ttl',
};

/**
 * Keys-only, by the UTC day of `at`: which audit partitions got events in a time window (the audit digest's
 * discovery). `day` is stored beside the event, outside its hash (`auditItem`).
 */
export const AUDIT_BY_DAY_INDEX = 'by-day';

/** Audit: append-only, hash-chained per partition (a request id, or a loose stream like `security#2026-11-23`). */
export const AUDIT_TABLE: TableSpec = {
  partitionKey: { name: 'requestId', type: 'S' },
  sortKey: { name: 'seq', type: 'N' },
  globalSecondaryIndexes: [
    {
      indexName: AUDIT_BY_DAY_INDEX,
      partitionKey: { name: 'day', type: 'S' },
      sortKey: { name: 'at', type: 'S' },
      projection: 'KEYS_ONLY',
    },
  ],
};

/**
 * Digests: the signed anchors of the audit chains, written only by the audit-digest function, never updated.
 * `pk = "digest"`, `sk = seq` for each signed digest; `pk = "anchor#<stream>"`, `sk = <event seq>` for each
 * head a digest anchored (a pointer from a chain to the digest that covers it; the digest is the authority).
 */
export const DIGESTS_TABLE: TableSpec = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'N' },
  globalSecondaryIndexes: [],
};

export interface TableNames {
  requestsTable: string;
  auditTable: string;
  /** The digests table, where audit anchoring is deployed (DIGESTS_TABLE). */
  digestsTable?: string;
}

/**
 * Table names from REQUESTS_TABLE (unless `requests: false`), AUDIT_TABLE and (optional) DIGESTS_TABLE;
 * throws naming a missing one.
 */
export function tableNamesFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: { requests?: boolean } = {},
): TableNames {
  // A function that only reads audit chains (the digest function) is given no requests table: '' stands for it.
  const requestsTable = options.requests === false ? '' : env.REQUESTS_TABLE;
  const auditTable = env.AUDIT_TABLE;
  if (requestsTable === undefined || (options.requests !== false && !requestsTable))
    throw new Error('REQUESTS_TABLE is not set');
  if (!auditTable) throw new Error('AUDIT_TABLE is not set');
  const digestsTable = env.DIGESTS_TABLE;
  return { requestsTable, auditTable, ...(digestsTable ? { digestsTable } : {}) };
}

/** The stored form of an audit event: the event plus its `day` for AUDIT_BY_DAY_INDEX (not hashed). */
export function auditItem<T extends { at: string }>(event: T): T & { day: string } {
  return { ...event, day: event.at.slice(0, 10) };
}

/** An audit event as read back: the stored item without the index attribute `auditItem` added. */
export function fromAuditItem<T>(item: Record<string, unknown>): T {
  const { day: _day, ...event } = item;
  return event as T;
}

/** The CreateTable input for a spec: on-demand billing, every index projecting all attributes. */
export function createTableInput(tableName: string, spec: TableSpec): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributeDefinitions([
      spec.partitionKey,
      spec.sortKey,
      ...spec.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey]),
    ]),
    KeySchema: [
      { AttributeName: spec.partitionKey.name, KeyType: 'HASH' },
      ...(spec.sortKey ? [{ AttributeName: spec.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
    ...(spec.globalSecondaryIndexes.length > 0
      ? { GlobalSecondaryIndexes: spec.globalSecondaryIndexes.map(indexInput) }
      : {}),
  };
}

function attributeDefinitions(keys: readonly (KeySpec | undefined)[]) {
  const attributes = new Map<string, AttributeType>();
  for (const key of keys) if (key) attributes.set(key.name, key.type);
  return [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

function indexInput(index: IndexSpec) {
  return {
    IndexName: index.indexName,
    KeySchema: [
      { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
      { AttributeName: index.sortKey.name, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: index.projection ?? ('ALL' as const) },
  };
}

/**
 * Adds the spec's indexes an existing table lacks (a local state directory from before an index was added),
 * one per UpdateTable as DynamoDB requires, waiting for each to be ACTIVE.
 */
async function addMissingIndexes(client: DynamoDBClient, tableName: string, spec: TableSpec): Promise<void> {
  const describe = async () => (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  const existing = new Set(((await describe())?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  for (const index of spec.globalSecondaryIndexes.filter((i) => !existing.has(i.indexName))) {
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: attributeDefinitions([index.partitionKey, index.sortKey]),
        GlobalSecondaryIndexUpdates: [{ Create: indexInput(index) }],
      }),
    );
    for (let i = 0; i < 120; i++) {
      const status = (await describe())?.GlobalSecondaryIndexes?.find(
        (g) => g.IndexName === index.indexName,
      )?.IndexStatus;
      if (status === 'ACTIVE') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * Creates the tables (the digests table when named) unless they exist (then adds any index they lack), and waits until they are ACTIVE.
 * For local runs and tests.
 */
export async function createTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  const wanted: [string, TableSpec][] = [
    [names.requestsTable, REQUESTS_TABLE],
    [names.auditTable, AUDIT_TABLE],
    ...(names.digestsTable ? [[names.digestsTable, DIGESTS_TABLE] as [string, TableSpec]] : []),
  ];
  await Promise.all(
    wanted.map(async ([tableName, spec]) => {
      let existed = false;
      try {
        await client.send(new CreateTableCommand(createTableInput(tableName, spec)));
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
        existed = true;
      }
      await waitUntilTableExists(
        { client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
        { TableName: tableName },
      );
      if (existed) await addMissingIndexes(client, tableName, spec);
    }),
  );
}
