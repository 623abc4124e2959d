import type { PolicyInput } from '../../../functions/domain/policy-schema.js';

type TargetInput = PolicyInput['targets'][number];
type LevelPrivileges = NonNullable<TargetInput['levels'][string]>['privileges'];
type SchemaPrivilege = NonNullable<LevelPrivileges['schemas']>[number]['privileges'][number];

/** A level's privileges on one schema of its database: `onSchema('app', 'SELECT')`. */
export function onSchema(name: string, ...privileges: SchemaPrivilege[]): LevelPrivileges {
  return { schemas: [{ name, privileges }] };
}

/**
 * A PostgreSQL target its users log in to with a password, on port 5432 of db.internal unless `fields`
 * says otherwise; `fields` names it, its database and its levels.
 */
export function passwordTarget(
  fields: Pick<TargetInput, 'id' | 'database' | 'levels'> & Partial<TargetInput>,
): TargetInput {
  return {
    engine: 'postgres',
    connection: { host: 'db.internal', port: 5432 },
    credentialKind: 'password',
    ...fields,
  };
}

/** A minimal valid policy input; tests clone it and break one thing. */
export function validPolicy(): PolicyInput {
  return {
    version: 1,
    targets: [
      passwordTarget({
        id: 'app-db',
        database: 'app',
        levels: {
          read: {
            privileges: onSchema('public', 'SELECT'),
            maxDuration: '1h',
            approvers: ['alice@example.com'],
          },
        },
      }),
    ],
  };
}
