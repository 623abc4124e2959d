import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoAuditLog } from '../../functions/adapters/dynamodb-audit.js';
import { createDocumentClient, createDynamoDbClient } from '../../functions/adapters/dynamodb-client.js';
import { DynamoRequestStore } from '../../functions/adapters/dynamodb-requests.js';
import { createTables, type TableNames } from '../../functions/adapters/dynamodb-tables.js';
import { newRequestId } from '../../functions/domain/naming.js';
import type { AccessRequest, AuditDraft } from '../../functions/domain/types.js';
import { startDynamoDbLocal as startLocal } from '../../local/dynamodb-local.js';

/** DynamoDB Local for the test run: JITDB_DYNAMODB_URL if set, else a private in-memory server. */
export async function startDynamoDbLocal(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.JITDB_DYNAMODB_URL;
  if (given) return { url: given, stop: async () => undefined };
  const server = await startLocal();
  return { url: server.url, stop: server.stop };
}

export interface DynamoTestTables {
  names: TableNames;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  requests: DynamoRequestStore;
  audit: DynamoAuditLog;
  close(): void;
}

/** A fresh, uniquely named pair of tables on the shared DynamoDB Local, with the stores built on them. */
export async function dynamoTestTables(endpoint: string, label: string): Promise<DynamoTestTables> {
  const suffix = randomBytes(4).toString('hex');
  const names = {
    requestsTable: `${label}-requests-${suffix}`,
    auditTable: `${label}-audit-${suffix}`,
    digestsTable: `${label}-digests-${suffix}`,
  };
  const client = createDynamoDbClient({ endpoint, region: 'us-east-1' });
  await createTables(client, names);
  const doc = createDocumentClient(client);
  return {
    names,
    client,
    doc,
    requests: new DynamoRequestStore({ client: doc, ...names }),
    audit: new DynamoAuditLog({ client: doc, ...names }),
    close: () => client.destroy(),
  };
}

let idCounter = 0;

/** A distinct, valid request id per call (time-ordered within a test file). */
export function testRequestId(): string {
  idCounter += 1;
  return newRequestId(Date.now() + idCounter, randomBytes(10));
}

/** A PENDING request as the domain would build it, before the store numbers its audit chain. */
export function pendingRequest(overrides: Partial<AccessRequest> = {}): AccessRequest {
  const id = overrides.id ?? testRequestId();
  return {
    id,
    requester: 'arn:aws:sts::123456789012:assumed-role/Engineer/erin',
    requesterEmail: 'erin@example.com',
    targetId: 'orders-db',
    level: 'write',
    privileges: {
      roles: [],
      schemas: [{ name: 'public', tables: '*', privileges: ['SELECT', 'UPDATE'], defaultPrivileges: false }],
    },
    reason: 'investigate INC-1',
    ticket: 'INC-1',
    durationSeconds: 3600,
    breakGlass: false,
    autoApproved: false,
    status: 'PENDING',
    version: 1,
    createdAt: '2026-11-23T10:00:00.000Z',
    updatedAt: '2026-11-23T10:00:00.000Z',
    approvalDeadline: '2026-11-23T11:00:00.000Z',
    approvalsRequired: 2,
    approvals: [],
    dbUser: `jit_${id}`,
    extensions: [],
    revokeAttempts: 0,
    approvalLinks: [],
    auditSeq: 0,
    auditHead: '',
    ...overrides,
  };
}

export function requestedDraft(at = '2026-11-23T10:00:00.000Z'): AuditDraft {
  return {
    at,
    actor: 'arn:aws:sts::123456789012:assumed-role/Engineer/erin',
    via: 'iam',
    action: 'requested',
    toStatus: 'PENDING',
  };
}
