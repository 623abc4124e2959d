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
  assertScopeSyntax(scope);
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

/**
 * How a scope is spelled on the command line (`--scope`, repeatable):
 * - `schema` — every table the level grants in that schema (and, where the level has default privileges,
 *   tables created during the grant);
 * - `schema.*` — the same as `schema`: `*` is the policy's own spelling of "all tables";
 * - `schema.table` — that table only.
 * No other wildcard exists: `public.ord*`, `*.orders` or `*` are refused, as is an empty part.
 */
export function parseScopeArguments(values: readonly string[]): RequestedScope | undefined {
  if (values.length === 0) return undefined;
  const schemas = new Map<string, string[] | undefined>();
  for (const value of values) {
    const dot = value.indexOf('.');
    const schema = dot < 0 ? value : value.slice(0, dot);
    const rawTable = dot < 0 ? undefined : value.slice(dot + 1);
    const tableName = rawTable === '*' ? undefined : rawTable;
    if (schema === '' || tableName === '') {
      throw scopeInvalid(`scope '${value}' must be schema, schema.* or schema.table`);
    }
    if (WILDCARD.test(schema) || (tableName !== undefined && WILDCARD.test(tableName))) {
      throw scopeInvalid(
        `scope '${value}': the only wildcard is schema.* (every table the level grants in the schema); name tables one by one otherwise`,
      );
    }
    const tables = schemas.has(schema) ? schemas.get(schema) : [];
    // A whole-schema scope wins over single tables of the same schema.
    schemas.set(schema, tableName === undefined || tables === undefined ? undefined : [...tables, tableName]);
  }
  return {
    schemas: [...schemas].map(([name, tables]) => (tables === undefined ? { name } : { name, tables })),
  };
}

/** Characters that read as a pattern: never part of a scope name, so `public.*` cannot reach the database. */
const WILDCARD = /[*%?]/;

/**
 * Refuses a scope whose names are patterns (the API takes names, not patterns; the whole schema is asked for by
 * naming the schema without tables). A malformed scope is refused before anything is stored.
 */
export function assertScopeSyntax(scope: RequestedScope): void {
  for (const schema of scope.schemas) {
    if (WILDCARD.test(schema.name)) {
      throw scopeInvalid(`schema '${schema.name}' is a pattern: name the schema itself`, {
        schema: schema.name,
      });
    }
    for (const table of schema.tables ?? []) {
      if (WILDCARD.test(table)) {
        throw scopeInvalid(
          `table '${schema.name}.${table}' is a pattern: to ask for every table the level grants in '${schema.name}', give the schema without tables (CLI: --scope ${schema.name})`,
          { schema: schema.name },
        );
      }
    }
  }
}

function scopeInvalid(message: string, details: Record<string, string> = {}): PolicyRefusedError {
  return new PolicyRefusedError('SCOPE_INVALID', message, { details });
}
