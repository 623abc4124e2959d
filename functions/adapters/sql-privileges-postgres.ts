import pg from 'pg';
import type { Privileges, TablePrivilege } from '../domain/policy-schema.js';

/**
 * Renders an access level's structured privileges to SQL for PostgreSQL. Every identifier goes through the
 * driver's identifier escaping; privilege keywords come from a closed enum, so nothing typed by a person
 * reaches SQL unquoted.
 */

/** PostgreSQL: GRANT statements for `role` in the current database. `admin` owns tables created later. */
export function postgresGrantStatements(
  privileges: Privileges,
  role: string,
  admin: string,
  database: string,
): string[] {
  const grantee = pg.escapeIdentifier(role);
  const statements = [`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(database)} TO ${grantee}`];
  for (const builtIn of privileges.roles) {
    statements.push(`GRANT ${pg.escapeIdentifier(builtIn)} TO ${grantee}`);
  }
  for (const schema of privileges.schemas) {
    const schemaId = pg.escapeIdentifier(schema.name);
    const list = privilegeList(schema.privileges);
    statements.push(`GRANT USAGE ON SCHEMA ${schemaId} TO ${grantee}`);
    if (schema.tables === '*') {
      statements.push(`GRANT ${list} ON ALL TABLES IN SCHEMA ${schemaId} TO ${grantee}`);
    } else {
      const tables = schema.tables.map((table) => `${schemaId}.${pg.escapeIdentifier(table)}`).join(', ');
      statements.push(`GRANT ${list} ON TABLE ${tables} TO ${grantee}`);
    }
    if (schema.defaultPrivileges) {
      statements.push(
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${pg.escapeIdentifier(admin)} IN SCHEMA ${schemaId} GRANT ${list} ON TABLES TO ${grantee}`,
      );
    }
  }
  return statements;
}

function privilegeList(privileges: readonly TablePrivilege[]): string {
  return [...new Set(privileges)].join(', ');
}
