import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateTableCommand, DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoDbClient } from '../../functions/adapters/dynamodb-client.js';
import {
  AUDIT_TABLE,
  createTableInput,
  createTables,
  DIGESTS_TABLE,
  REQUESTS_TABLE,
  tableNamesFromEnv,
} from '../../functions/adapters/dynamodb-tables.js';
import {
  DYNAMODB_LOCAL_JVM_OPTIONS,
  javaMajorVersion,
  startDynamoDbLocal,
} from '../../local/dynamodb-local.js';
import { services } from '../support/services.js';

const scratch: string[] = [];

afterAll(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jitdb-ddb-test-'));
  scratch.push(dir);
  return dir;
}

async function withPath<T>(pathValue: string, run: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = pathValue;
  try {
    return await run();
  } finally {
    process.env.PATH = saved;
  }
}

describe('DynamoDB Local launcher', () => {
  it('reads the Java major version from `java -version` output', () => {
    expect(javaMajorVersion('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(javaMajorVersion('openjdk version "21" 2023-09-19')).toBe(21);
    expect(javaMajorVersion('java version "1.8.0_392"')).toBe(8);
    expect(javaMajorVersion('no version here')).toBeUndefined();
  });

  it('explains a missing java in one line with the fix, before spawning anything', async () => {
    const empty = await tempDir();

    const start = withPath(empty, () => startDynamoDbLocal());

    await expect(start).rejects.toMatchObject({
      name: 'DynamoDbLocalError',
      code: 'JAVA_MISSING',
      message:
        "DynamoDB Local needs Java 17+ but 'java' was not found on PATH — install a JRE 17+ (e.g. apt-get install openjdk-17-jre-headless) and put its bin/ on PATH",
    });
  });

  it('explains a Java older than 17', async () => {
    const bin = await tempDir();
    const fake = path.join(bin, 'java');
    await writeFile(fake, '#!/bin/sh\necho \'java version "1.8.0_392"\' >&2\n');
    await chmod(fake, 0o755);

    const start = withPath(`${bin}:/usr/bin:/bin`, () => startDynamoDbLocal());

    await expect(start).rejects.toMatchObject({
      code: 'JAVA_TOO_OLD',
      message:
        "DynamoDB Local needs Java 17+ but 'java' is Java 8 — install a JRE 17+ and put it first on PATH",
    });
  });

  it('starts on a free port, keeps tables in dataDir across restarts, and is gone after stop', async () => {
    const dataDir = await tempDir();
    const names = { requestsTable: 'persisted-requests', auditTable: 'persisted-audit' };

    const first = await startDynamoDbLocal({ dataDir });
    const firstClient = createDynamoDbClient({ endpoint: first.url, maxAttempts: 1 });
    await createTables(firstClient, names);
    firstClient.destroy();
    await first.stop();

    const gone = createDynamoDbClient({ endpoint: first.url, maxAttempts: 1 });
    await expect(gone.send(new ListTablesCommand({}))).rejects.toThrow();
    gone.destroy();

    const second = await startDynamoDbLocal({ dataDir });
    const secondClient = createDynamoDbClient({ endpoint: second.url, maxAttempts: 1 });
    try {
      expect(second.url).toBe(`http://127.0.0.1:${second.port}`);
      // The JVM runs with the small-machine settings, after the user's own; this process's env is untouched.
      const environ = (await readFile(`/proc/${second.pid}/environ`, 'utf8')).split('\0');
      const own = process.env.JAVA_TOOL_OPTIONS;
      expect(environ).toContain(
        `JAVA_TOOL_OPTIONS=${[own, DYNAMODB_LOCAL_JVM_OPTIONS].filter(Boolean).join(' ')}`,
      );
      expect(DYNAMODB_LOCAL_JVM_OPTIONS).toBe('-XX:+UseSerialGC -XX:TieredStopAtLevel=1');
      expect(process.env.JAVA_TOOL_OPTIONS).toBe(own);
      const tables = await secondClient.send(new ListTablesCommand({}));
      expect(tables.TableNames?.sort()).toEqual(['persisted-audit', 'persisted-requests']);
    } finally {
      secondClient.destroy();
      await second.stop();
    }
  });
});

describe('table specs', () => {
  it('creates both tables with the shared key and index names, and tolerates existing ones', async () => {
    const client = createDynamoDbClient({ endpoint: services().dynamodbEndpoint });
    const names = { requestsTable: `spec-requests-${Date.now()}`, auditTable: `spec-audit-${Date.now()}` };
    try {
      await createTables(client, names);
      await createTables(client, names);

      const requests = (await client.send(new DescribeTableCommand({ TableName: names.requestsTable })))
        .Table;
      const audit = (await client.send(new DescribeTableCommand({ TableName: names.auditTable }))).Table;
      expect(requests?.TableStatus).toBe('ACTIVE');
      expect(requests?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
      expect(
        requests?.GlobalSecondaryIndexes?.map((i) => [
          i.IndexName,
          i.KeySchema,
          i.Projection?.ProjectionType,
        ]).sort(),
      ).toEqual([
        [
          'by-flag',
          [
            { AttributeName: 'flag', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
          'ALL',
        ],
        [
          'by-requester',
          [
            { AttributeName: 'requester', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
          'ALL',
        ],
        [
          'by-status',
          [
            { AttributeName: 'status', KeyType: 'HASH' },
            { AttributeName: 'sortAt', KeyType: 'RANGE' },
          ],
          'ALL',
        ],
      ]);
      expect(audit?.KeySchema).toEqual([
        { AttributeName: 'requestId', KeyType: 'HASH' },
        { AttributeName: 'seq', KeyType: 'RANGE' },
      ]);
      expect(audit?.AttributeDefinitions).toEqual(
        expect.arrayContaining([
          { AttributeName: 'requestId', AttributeType: 'S' },
          { AttributeName: 'seq', AttributeType: 'N' },
        ]),
      );
    } finally {
      client.destroy();
    }
  });

  it('adds an index a table made before it lacks (a local state directory from an older version)', async () => {
    const client = createDynamoDbClient({ endpoint: services().dynamodbEndpoint });
    const names = { requestsTable: `old-requests-${Date.now()}`, auditTable: `old-audit-${Date.now()}` };
    const older = {
      ...REQUESTS_TABLE,
      globalSecondaryIndexes: REQUESTS_TABLE.globalSecondaryIndexes.filter((i) => i.indexName !== 'by-flag'),
    };
    try {
      await client.send(new CreateTableCommand(createTableInput(names.requestsTable, older)));
      await createTables(client, names);
      const requests = (await client.send(new DescribeTableCommand({ TableName: names.requestsTable })))
        .Table;
      expect(requests?.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.IndexStatus]).sort()).toEqual([
        ['by-flag', 'ACTIVE'],
        ['by-requester', 'ACTIVE'],
        ['by-status', 'ACTIVE'],
      ]);
    } finally {
      client.destroy();
    }
  });

  it('describes the tables as data for CDK', () => {
    expect(REQUESTS_TABLE.partitionKey).toEqual({ name: 'id', type: 'S' });
    expect(REQUESTS_TABLE.globalSecondaryIndexes.map((i) => i.indexName)).toEqual([
      'by-status',
      'by-requester',
      'by-flag',
    ]);
    expect(AUDIT_TABLE).toEqual({
      partitionKey: { name: 'requestId', type: 'S' },
      sortKey: { name: 'seq', type: 'N' },
      globalSecondaryIndexes: [
        {
          indexName: 'by-day',
          partitionKey: { name: 'day', type: 'S' },
          sortKey: { name: 'at', type: 'S' },
          projection: 'KEYS_ONLY',
        },
      ],
    });
    expect(DIGESTS_TABLE).toEqual({
      partitionKey: { name: 'pk', type: 'S' },
      sortKey: { name: 'sk', type: 'N' },
      globalSecondaryIndexes: [],
    });
  });

  it('reads table names from REQUESTS_TABLE and AUDIT_TABLE, naming a missing one', () => {
    expect(tableNamesFromEnv({ REQUESTS_TABLE: 'r', AUDIT_TABLE: 'a' })).toEqual({
      requestsTable: 'r',
      auditTable: 'a',
    });
    expect(() => tableNamesFromEnv({ REQUESTS_TABLE: 'r' })).toThrow('AUDIT_TABLE is not set');
    expect(tableNamesFromEnv({ REQUESTS_TABLE: 'r', AUDIT_TABLE: 'a', DIGESTS_TABLE: 'd' })).toEqual({
      requestsTable: 'r',
      auditTable: 'a',
      digestsTable: 'd',
    });
    // The digest function reads audit chains only and is given no requests table.
    expect(tableNamesFromEnv({ AUDIT_TABLE: 'a' }, { requests: false })).toEqual({
      requestsTable: '',
      auditTable: 'a',
    });
    expect(() => tableNamesFromEnv({ AUDIT_TABLE: 'a' })).toThrow('REQUESTS_TABLE is not set');
  });
});
