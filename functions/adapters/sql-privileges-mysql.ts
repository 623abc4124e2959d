import mysql from 'mysql2/promise';
import { ValidationError } from '../domain/errors.js';
import type { Privileges, TablePrivilege } from '../domain/policy-schema.js';

/**
 * Renders an access level's structured privileges to SQL for MySQL/MariaDB. Every identifier goes through the
 * driver's identifier escaping; privilege keywords come from a closed enum, so nothing typed by a person
 * reaches SQL unquoted.
 */

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
