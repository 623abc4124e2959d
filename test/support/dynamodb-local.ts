import { startDynamoDbLocal as startLocal } from '../../local/dynamodb-local.js';

/** DynamoDB Local for the test run: JITDB_DYNAMODB_URL if set, else a private in-memory server. */
export async function startDynamoDbLocal(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.JITDB_DYNAMODB_URL;
  if (given) return { url: given, stop: async () => undefined };
  const server = await startLocal();
  return { url: server.url, stop: server.stop };
}
