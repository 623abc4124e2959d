import { describe, expect, it } from 'vitest';
import { DomainError } from '../../functions/domain/errors.js';
import type { Privileges } from '../../functions/domain/policy-schema.js';
import { narrowPrivileges, parseScopeArguments, privilegeNames } from '../../functions/domain/scope.js';
import type { RequestedScope } from '../../functions/domain/types.js';

const level: Privileges = {
  roles: [],
  schemas: [
    { name: 'public', tables: '*', privileges: ['SELECT', 'INSERT', 'UPDATE'], defaultPrivileges: true },
    { name: 'billing', tables: ['invoices', 'payments'], privileges: ['SELECT'], defaultPrivileges: false },
  ],
};

function refusalOf(scope: RequestedScope, privileges: Privileges = level) {
  try {
    narrowPrivileges(privileges, scope);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    const e = error as DomainError;
    return { code: e.code, message: e.message, details: e.details };
  }
  throw new Error('expected a refusal');
}

describe('narrowPrivileges', () => {
  it('returns the level unchanged without a scope', () => {
    expect(narrowPrivileges(level, undefined)).toBe(level);
  });

  it('keeps only the named schema, with all its tables and privileges', () => {
    expect(narrowPrivileges(level, { schemas: [{ name: 'billing' }] })).toEqual({
      roles: [],
      schemas: [
        {
          name: 'billing',
          tables: ['invoices', 'payments'],
          privileges: ['SELECT'],
          defaultPrivileges: false,
        },
      ],
    });
  });

  it("narrows a '*' schema to named tables and drops default privileges (they would cover new tables)", () => {
    expect(narrowPrivileges(level, { schemas: [{ name: 'public', tables: ['orders', 'orders'] }] })).toEqual({
      roles: [],
      schemas: [
        {
          name: 'public',
          tables: ['orders'],
          privileges: ['SELECT', 'INSERT', 'UPDATE'],
          defaultPrivileges: false,
        },
      ],
    });
  });

  it('narrows privileges, keeping default privileges on a whole schema', () => {
    expect(narrowPrivileges(level, { schemas: [{ name: 'public', privileges: ['SELECT'] }] })).toEqual({
      roles: [],
      schemas: [{ name: 'public', tables: '*', privileges: ['SELECT'], defaultPrivileges: true }],
    });
  });

  it('narrows named tables to fewer named tables and privileges', () => {
    expect(
      narrowPrivileges(level, {
        schemas: [{ name: 'billing', tables: ['payments'], privileges: ['SELECT'] }],
      }),
    ).toEqual({
      roles: [],
      schemas: [{ name: 'billing', tables: ['payments'], privileges: ['SELECT'], defaultPrivileges: false }],
    });
  });

  it('drops built-in roles when the scope names schemas, since a role reaches every schema', () => {
    const withRole: Privileges = { roles: ['pg_read_all_data'], schemas: level.schemas };
    expect(narrowPrivileges(withRole, { schemas: [{ name: 'billing' }] }).roles).toEqual([]);
  });

  it.each<{ name: string; scope: RequestedScope; message: string; details: unknown }>([
    {
      name: 'a schema that is not in the level',
      scope: { schemas: [{ name: 'secrets' }] },
      message: "schema 'secrets' is not in this level",
      details: { schema: 'secrets' },
    },
    {
      name: 'a table outside a schema listing named tables',
      scope: { schemas: [{ name: 'billing', tables: ['invoices', 'users'] }] },
      message: "table 'billing.users' is not in this level",
      details: { schema: 'billing', table: 'users' },
    },
    {
      name: 'a privilege the level does not grant on a table',
      scope: { schemas: [{ name: 'billing', tables: ['invoices'], privileges: ['DELETE'] }] },
      message: "DELETE on 'billing.invoices' is not in this level",
      details: { schema: 'billing', table: 'invoices', privilege: 'DELETE' },
    },
    {
      name: 'a privilege the level does not grant on a schema',
      scope: { schemas: [{ name: 'public', privileges: ['SELECT', 'TRUNCATE'] }] },
      message: "TRUNCATE on schema 'public' is not in this level",
      details: { schema: 'public', privilege: 'TRUNCATE' },
    },
    {
      name: 'an empty scope rather than granting nothing or everything',
      scope: { schemas: [] },
      message: 'a scope must name at least one schema',
      details: undefined,
    },
  ])('refuses $name', ({ scope, message, details }) => {
    expect(refusalOf(scope)).toEqual({ code: 'SCOPE_NOT_IN_LEVEL', message, details });
  });

  it('refuses a schema when the level only has built-in roles', () => {
    const rolesOnly: Privileges = { roles: ['pg_read_all_data'], schemas: [] };
    expect(refusalOf({ schemas: [{ name: 'public' }] }, rolesOnly).code).toBe('SCOPE_NOT_IN_LEVEL');
  });

  it('combines several grants of the same schema, each narrowed', () => {
    const split: Privileges = {
      roles: [],
      schemas: [
        { name: 'app', tables: ['a'], privileges: ['SELECT'], defaultPrivileges: false },
        { name: 'app', tables: ['b'], privileges: ['SELECT', 'INSERT'], defaultPrivileges: false },
      ],
    };
    expect(
      narrowPrivileges(split, { schemas: [{ name: 'app', tables: ['a', 'b'], privileges: ['SELECT'] }] }),
    ).toEqual({
      roles: [],
      schemas: [
        { name: 'app', tables: ['a'], privileges: ['SELECT'], defaultPrivileges: false },
        { name: 'app', tables: ['b'], privileges: ['SELECT'], defaultPrivileges: false },
      ],
    });
    expect(
      refusalOf({ schemas: [{ name: 'app', tables: ['a'], privileges: ['INSERT'] }] }, split).message,
    ).toBe("INSERT on 'app.a' is not in this level");
  });

  it('treats identifiers literally: quotes and SQL in a name match nothing', () => {
    expect(refusalOf({ schemas: [{ name: 'public"; DROP TABLE y; --' }] }).code).toBe('SCOPE_NOT_IN_LEVEL');
    expect(refusalOf({ schemas: [{ name: 'billing', tables: ['x; DROP TABLE y'] }] }).details).toEqual({
      schema: 'billing',
      table: 'x; DROP TABLE y',
    });
  });

  it('never returns more than the level grants (every result table and privilege is in the level)', () => {
    const scopes: RequestedScope[] = [
      { schemas: [{ name: 'public' }] },
      { schemas: [{ name: 'public', tables: ['t1', 't2'], privileges: ['UPDATE'] }] },
      {
        schemas: [
          { name: 'billing', privileges: ['SELECT'] },
          { name: 'public', tables: ['x'] },
        ],
      },
    ];
    for (const scope of scopes) {
      for (const grant of narrowPrivileges(level, scope).schemas) {
        const source = level.schemas.find((g) => g.name === grant.name);
        expect(source).toBeDefined();
        if (!source) continue;
        for (const p of grant.privileges) expect(source.privileges).toContain(p);
        if (source.tables !== '*') {
          expect(grant.tables).not.toBe('*');
          for (const t of grant.tables) expect(source.tables).toContain(t);
        }
      }
    }
  });
});

describe('privilegeNames', () => {
  it('lists roles and table privileges once each', () => {
    expect(privilegeNames({ roles: ['pg_read_all_data'], schemas: level.schemas })).toEqual([
      'pg_read_all_data',
      'SELECT',
      'INSERT',
      'UPDATE',
    ]);
  });
});

describe('parseScopeArguments (--scope)', () => {
  it('reads schema, schema.* and schema.table; schema.* is the whole schema and wins over its tables', () => {
    expect(parseScopeArguments([])).toBeUndefined();
    expect(parseScopeArguments(['public.*'])).toEqual({ schemas: [{ name: 'public' }] });
    expect(parseScopeArguments(['billing.invoices', 'public', 'billing.payments', 'public.orders'])).toEqual({
      schemas: [{ name: 'billing', tables: ['invoices', 'payments'] }, { name: 'public' }],
    });
    expect(parseScopeArguments(['public.orders', 'public.*'])).toEqual({ schemas: [{ name: 'public' }] });
  });

  it('refuses any other wildcard and empty parts with SCOPE_INVALID', () => {
    for (const value of ['public.ord*', '*.orders', '*', 'public.', '.orders', 'pub%.orders']) {
      expect(() => parseScopeArguments([value]), value).toThrow(
        expect.objectContaining({ code: 'SCOPE_INVALID' }),
      );
    }
  });
});

describe('a scope sent to the API', () => {
  it('refuses a pattern as a table or schema name before narrowing, and says how to ask for the whole schema', () => {
    expect(refusalOf({ schemas: [{ name: 'public', tables: ['*'] }] })).toEqual({
      code: 'SCOPE_INVALID',
      message:
        "table 'public.*' is a pattern: to ask for every table the level grants in 'public', give the schema without tables (CLI: --scope public)",
      details: { schema: 'public' },
    });
    expect(refusalOf({ schemas: [{ name: 'pub*' }] }).code).toBe('SCOPE_INVALID');
  });
});
