import type { PolicyInput } from '../../../functions/domain/policy-schema.js';

/** A minimal valid policy input; tests clone it and break one thing. */
export function validPolicy(): PolicyInput {
  return {
    version: 1,
    targets: [
      {
        id: 'app-db',
        engine: 'postgres',
        connection: { host: 'db.internal', port: 5432 },
        database: 'app',
        credentialKind: 'password',
        levels: {
          read: {
            privileges: { schemas: [{ name: 'public', privileges: ['SELECT'] }] },
            maxDuration: '1h',
            approvers: ['alice@example.com'],
          },
        },
      },
    ],
  };
}
