/** What the assembly runtime makes from the template before anything runs: its tables, admin secrets and signing keys. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateTableCommand,
  type ProjectionType,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { createDynamoDbClient } from '../../functions/adapters/dynamodb-client.js';
import type { StateDir } from '../state-dir.js';
import type { AssemblyModel, TableModel } from './model.js';
import { type LocalKmsKey, type LocalSecret, localKmsKey } from './services.js';

/** CreateTable from the template's definition (on-demand, as the template has it), and its TTL. */
export async function createTemplateTables(endpoint: string, tables: readonly TableModel[]): Promise<void> {
  const client = createDynamoDbClient({ endpoint });
  try {
    for (const table of tables) {
      try {
        await client.send(
          new CreateTableCommand({
            TableName: table.tableName,
            BillingMode: 'PAY_PER_REQUEST',
            KeySchema: table.keySchema,
            AttributeDefinitions: table.attributeDefinitions,
            ...(table.globalSecondaryIndexes.length > 0
              ? {
                  GlobalSecondaryIndexes: table.globalSecondaryIndexes.map((index) => ({
                    ...index,
                    Projection: {
                      ...index.Projection,
                      ProjectionType: index.Projection.ProjectionType as ProjectionType,
                    },
                  })),
                }
              : {}),
          }),
        );
        if (table.timeToLiveAttribute) {
          await client.send(
            new UpdateTimeToLiveCommand({
              TableName: table.tableName,
              TimeToLiveSpecification: { AttributeName: table.timeToLiveAttribute, Enabled: true },
            }),
          );
        }
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    }
  } finally {
    client.destroy();
  }
}

/** The admin login a target's secret holds: the local server's superuser, as an RDS-managed secret would. */
export function adminSecret(arn: string, adminUrl: string, engine: string): LocalSecret {
  const url = new URL(adminUrl);
  return {
    arn,
    name: arn.split(':secret:')[1]?.replace(/-[A-Za-z0-9]{6}$/, '') ?? arn,
    secretString: JSON.stringify({
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      engine,
      host: url.hostname,
      port: Number(url.port),
    }),
  };
}

/** One P-256 key per SIGN_VERIFY key of the template, kept in the state directory so anchors survive a restart. */
export function kmsKeys(model: AssemblyModel, dir: StateDir | undefined): LocalKmsKey[] {
  return model.kmsKeys
    .filter((k) => k.keyUsage === 'SIGN_VERIFY')
    .map((k) => {
      if (!dir) return localKmsKey(k.arn);
      const folder = join(dir.root, 'kms');
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      const file = join(folder, `${k.arn.split('/').at(-1)}.pem`);
      try {
        return localKmsKey(k.arn, readFileSync(file, 'utf8'));
      } catch {
        const key = localKmsKey(k.arn);
        writeFileSync(file, key.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
        return key;
      }
    });
}
