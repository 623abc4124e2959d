import mysql from 'mysql2/promise';
import pg from 'pg';
import { ValidationError } from '../domain/errors.js';
import type { Privileges, TablePrivilege } from '../domain/policy-schema.js';

/**
 * Renders an access level's structured privileges to SQL for one engine. Every identifier goes through the
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

const MYSQL_PRIVILEGES: Partial<Record<TablePrivilege, string>> = {
  SELECT: 'SELECT',
  INSERT: 'INSERT',
  UPDATE: 'UPDATE',
  DELETE: 'DELETE',
  REFERENCES: 'REFERENCES',
  TRIGGER: 'TRIGGER',
};

/**
 * MySQL/MariaDB: GRANT statements for `'user'@'%'`. A schema is a MySQL database. Database-level grants
 * treat `_` and `%` in the name as wildcards, so they are escaped there to match only the named database.
 */
export function mysqlGrantStatements(privileges: Privileges, user: string): string[] {
  if (privileges.roles.length > 0) {
    throw new ValidationError('built-in roles are PostgreSQL only', { roles: privileges.roles });
  }
  const grantee = mysqlAccount(user);
  const statements: string[] = [];
  for (const schema of privileges.schemas) {
    const list = schema.privileges
      .map((privilege) => {
        const keyword = MYSQL_PRIVILEGES[privilege];
        if (keyword === undefined) {
          // TRUNCATE needs DROP on MySQL, which would also allow DROP TABLE: refuse rather than widen.
          throw new ValidationError(`${privilege} has no MySQL equivalent`, { privilege });
        }
        return keyword;
      })
      .join(', ');
    if (schema.tables === '*') {
      const database = mysql.escapeId(
        schema.name.replace(/[\\_%]/g, (c) => `\\${c}`),
        true,
      );
      statements.push(`GRANT ${list} ON ${database}.* TO ${grantee}`);
    } else {
      const database = mysql.escapeId(schema.name, true);
      for (const table of schema.tables) {
        statements.push(`GRANT ${list} ON ${database}.${mysql.escapeId(table, true)} TO ${grantee}`);
      }
    }
  }
  return statements;
}

/** `'user'@'%'`, the account every managed MySQL user lives on. */
export function mysqlAccount(user: string): string {
  return `${mysql.escape(user)}@'%'`;
}

function privilegeList(privileges: readonly TablePrivilege[]): string {
  return [...new Set(privileges)].join(', ');
}
