/** The one place DynamoDB clients are configured: Lambda uses the defaults, local runs set DYNAMODB_ENDPOINT. */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

export interface DynamoDbClientOptions {
  /** Overrides DYNAMODB_ENDPOINT (e.g. http://127.0.0.1:8000 for DynamoDB Local). */
  endpoint?: string;
  region?: string;
  /** Retries of throttled or failed calls by the SDK (default 3 as in the SDK). */
  maxAttempts?: number;
}

/** A low-level client: for table administration (CreateTable, waiters) and anything lib-dynamodb lacks. */
export function createDynamoDbClient(
  options: DynamoDbClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): DynamoDBClient {
  const endpoint = options.endpoint ?? (env.DYNAMODB_ENDPOINT || undefined);
  const config: DynamoDBClientConfig = {
    region:
      options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  };
  if (endpoint) {
    config.endpoint = endpoint;
    // DynamoDB Local accepts any signature; don't make local runs hunt for an AWS profile.
    if (!env.AWS_ACCESS_KEY_ID) config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  }
  return new DynamoDBClient(config);
}

/** A DocumentClient: plain JS values in and out, undefined fields dropped (optional fields stay absent). */
export function createDocumentClient(
  client: DynamoDBClient = createDynamoDbClient(),
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

/** The item with the highest sort key under one partition key, read consistently; undefined if there is none. */
export async function newestItem(
  client: DynamoDBDocumentClient,
  table: string,
  partition: { key: string; value: string },
): Promise<Record<string, unknown> | undefined> {
  const result = await client.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: `${partition.key} = :pk`,
      ExpressionAttributeValues: { ':pk': partition.value },
      ConsistentRead: true,
      ScanIndexForward: false,
      Limit: 1,
    }),
  );
  return result.Items?.[0];
}

/** Every item a Query matches, page after page (ExclusiveStartKey from each LastEvaluatedKey). */
export async function queryAll(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}
