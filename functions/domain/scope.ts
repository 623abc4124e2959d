import { PolicyRefusedError } from './errors.js';
import type { Privileges, SchemaGrant, TablePrivilege } from './policy-schema.js';
import type { RequestedScope } from './types.js';

/**
 * Narrows a level's privileges to what the requester asked for. The result is always a subset of the
 * level: fewer schemas, fewer tables, fewer privileges. Asking for anything the level does not grant is
 * refused with SCOPE_NOT_IN_LEVEL rather than silently dropped, so the requester knows what they will get.
 */
export function narrowPrivileges(level: Privileges, scope: RequestedScope | undefined): Privileges {
  if (scope === undefined) return level;
  if (scope.schemas.length === 0) {
    throw new PolicyRefusedError('SCOPE_NOT_IN_LEVEL', 'a scope must name at least one schema');
  }
  const schemas: SchemaGrant[] = [];
  for (const wanted of scope.schemas) {
    const grants = level.schemas.filter((g) => g.name === wanted.name);
    if (grants.length === 0) {
      throw refusal(`schema '${wanted.name}' is not in this level`, { schema: wanted.name });
    }
    assertCovered(wanted, grants);
    for (const grant of grants) {
      const narrowed = narrowGrant(grant, wanted);
      if (narrowed) schemas.push(narrowed);
    }
  }
  // Built-in roles (pg_read_all_data…) reach every schema; keeping one would undo the narrowing, so they go.
  return { roles: [], schemas };
}

type WantedSchema = RequestedScope['schemas'][number];

function assertCovered(wanted: WantedSchema, grants: SchemaGrant[]): void {
  const tables = wanted.tables ? unique(wanted.tables) : undefined;
  const privileges = wanted.privileges ? unique(wanted.privileges) : undefined;
  if (tables) {
    for (const table of tables) {
      const covering = grants.filter((g) => coversTable(g, table));
      if (covering.length === 0) {
        throw refusal(`table '${wanted.name}.${table}' is not in this level`, { schema: wanted.name, table });
      }
      for (const privilege of privileges ?? []) {
        if (!covering.some((g) => g.privileges.includes(privilege))) {
          throw refusal(`${privilege} on '${wanted.name}.${table}' is not in this level`, {
            schema: wanted.name,
            table,
            privilege,
          });
        }
      }
    }
    return;
  }
  for (const privilege of privileges ?? []) {
    if (!grants.some((g) => g.privileges.includes(privilege))) {
      throw refusal(`${privilege} on schema '${wanted.name}' is not in this level`, {
        schema: wanted.name,
        privilege,
      });
    }
  }
}

function narrowGrant(grant: SchemaGrant, wanted: WantedSchema): SchemaGrant | undefined {
  const privileges = wanted.privileges
    ? grant.privileges.filter((p) => wanted.privileges?.includes(p))
    : grant.privileges;
  if (privileges.length === 0) return undefined;
  if (wanted.tables === undefined) return { ...grant, privileges };
  const tables = unique(wanted.tables).filter((t) => coversTable(grant, t));
  if (tables.length === 0) return undefined;
  // Default privileges cover tables created later: only meaningful (and only a subset) while the grant is '*'.
  return { name: grant.name, tables, privileges, defaultPrivileges: false };
}

function coversTable(grant: SchemaGrant, table: string): boolean {
  return grant.tables === '*' || grant.tables.includes(table);
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

function refusal(message: string, details: Record<string, string>): PolicyRefusedError {
  return new PolicyRefusedError('SCOPE_NOT_IN_LEVEL', message, { details });
}

/** Privileges mentioned by a set of grants, for summaries (`SELECT, INSERT`). */
export function privilegeNames(privileges: Privileges): (TablePrivilege | string)[] {
  return unique([...privileges.roles, ...privileges.schemas.flatMap((s) => s.privileges)]);
}
