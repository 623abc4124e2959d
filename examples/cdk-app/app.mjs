// The smallest CDK app using jit-db-access: the tables in a stack with termination protection, the system
// in another. Plain JavaScript, so `node app.mjs` (or `npx cdk synth`) needs no TypeScript toolchain.
import { App, Stack } from 'aws-cdk-lib';
import { JitDbAccess, JitDbAccessTables } from 'jit-db-access';

/** The policy as an object (a path to a YAML file works too): one PostgreSQL target, one level. */
export const policy = {
  version: 1,
  targets: [
    {
      id: 'orders',
      engine: 'postgres',
      environment: 'production',
      connection: { rdsInstanceId: 'orders-prod', region: 'eu-west-1' },
      database: 'orders',
      credentialKind: 'iam',
      adminSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-AbCdEf',
      levels: {
        read: {
          description: 'Read the orders schema',
          privileges: { schemas: [{ name: 'orders', privileges: ['SELECT'] }] },
          maxDuration: '2h',
          approvers: ['dba@example.com'],
        },
      },
    },
  ],
};

export function buildApp(app = new App()) {
  const env = {
    account: process.env.CDK_DEFAULT_ACCOUNT ?? '123456789012',
    region: process.env.CDK_DEFAULT_REGION ?? 'eu-west-1',
  };
  const state = new Stack(app, 'AccessState', { env, terminationProtection: true });
  const tables = new JitDbAccessTables(state, 'Tables');
  const stack = new Stack(app, 'Access', { env });
  const access = new JitDbAccess(stack, 'JitDbAccess', {
    policy,
    senderEmail: 'jit-db-access@example.com',
    tables,
    targetResourceIds: { orders: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0' },
  });
  return { app, state, stack, access };
}

if (import.meta.url === `file://${process.argv[1]}`) buildApp().app.synth();
