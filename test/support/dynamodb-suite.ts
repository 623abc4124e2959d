import { afterAll, beforeAll } from 'vitest';
import { type DynamoTestTables, dynamoTestTables } from './dynamodb-local.js';
import { services } from './services.js';

/**
 * The setup of every DynamoDB store suite: fresh tables on the shared DynamoDB Local before the file's
 * tests, the client closed after. The tables answer from inside tests (hooks fill them in first).
 */
export function useDynamoTestTables(label: string): DynamoTestTables {
  let current: DynamoTestTables | undefined;
  beforeAll(async () => {
    current = await dynamoTestTables(services().dynamodbEndpoint, label);
  });
  afterAll(() => current?.close());
  const tables = (): DynamoTestTables => {
    if (!current) throw new Error(`the ${label} tables are used before beforeAll made them`);
    return current;
  };
  return {
    get names() {
      return tables().names;
    },
    get client() {
      return tables().client;
    },
    get doc() {
      return tables().doc;
    },
    get requests() {
      return tables().requests;
    },
    get audit() {
      return tables().audit;
    },
    close: () => tables().close(),
  };
}
