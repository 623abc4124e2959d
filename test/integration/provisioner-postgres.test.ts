import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlProvisioner } from '../../functions/adapters/mysql-provisioner.js';
import { PostgresProvisioner } from '../../functions/adapters/postgres-provisioner.js';
import { databaseLockKey, isTransientPostgresError } from '../../functions/adapters/postgres-sql.js';
import type { ProvisionerDeps } from '../../functions/adapters/provisioner-common.js';
import { createProvisioners } from '../../functions/adapters/provisioners.js';
import { hostPortEndpoints } from '../../functions/adapters/rds-endpoint.js';
import {
  type AdminCredentialsSource,
  StaticAdminCredentials,
} from '../../functions/adapters/secrets-admin.js';
import type { GrantSpec } from '../../functions/application/ports.js';
import { TargetNotConfiguredForIamError } from '../../functions/domain/errors.js';
import type { Target } from '../../functions/domain/policy-schema.js';
import { startEmbeddedPostgres } from '../../local/embedded-postgres.js';
import { asSuperuserIn, objectsOwnedBy, tablesNamed } from '../support/postgres-catalog.js';
import { createPostgresFixture, type PostgresFixture } from '../support/provisioner-databases.js';
import {
  errorCode,
  grantedWith,
  postgresProvisionerPool,
  provisionerTarget,
  grantSpec as spec,
  type TargetOverrides,
  waitFor,
} from '../support/provisioner-fixtures.js';

let adminUrl: string;
let port: number;
let database: string;
let admin: pg.Client;
const provisioners = postgresProvisionerPool();

function target(overrides: TargetOverrides = {}): Target {
  return provisionerTarget('postgres', 'pg-test', { port, database, schema: 'app' }, overrides);
}

function provisioner(t: Target, url = adminUrl, extra: Partial<ProvisionerDeps> = {}): PostgresProvisioner {
  return provisioners.create(t, url, extra);
}

const READ_APP = { schemas: [{ name: 'app', privileges: ['SELECT'] }] };

/** A fresh target, its provisioner, and the spec of a grant of `privileges` (read on `app`) it has made. */
const granted = (privileges: unknown = READ_APP) => grantedWith(target, provisioner, privileges);

async function login(uri: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

const loginRefusal = (uri: string) => errorCode(async () => (await login(uri)).end());
const sqlError = (client: pg.Client, sql: string) => errorCode(() => client.query(sql));

async function roleExists(name: string): Promise<boolean> {
  return ((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount ?? 0) > 0;
}

async function roleOid(name: string): Promise<number> {
  const result = await admin.query<{ oid: number }>(
    'SELECT oid::int AS oid FROM pg_roles WHERE rolname = $1',
    [name],
  );
  return result.rows[0]?.oid ?? -1;
}

/**
 * Runs `work` with the admin URL of a fresh login role that `create(name, password literal)` makes (SQL run as the
 * superuser); the role and what it owns are dropped after.
 */
async function withAdminLogin(
  prefix: string,
  create: (name: string, password: string) => string,
  work: (url: string) => Promise<void>,
): Promise<void> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await admin.query(create(name, pg.escapeLiteral(password)));
  const url = new URL(adminUrl);
  url.username = name;
  url.password = password;
  try {
    await work(url.toString());
  } finally {
    await admin.query(`DROP OWNED BY ${name}; DROP ROLE ${name}`);
  }
}

let fixture: PostgresFixture;

beforeAll(async () => {
  fixture = await createPostgresFixture('prov_pg');
  ({ adminUrl, port, database, admin } = fixture);
});

afterAll(async () => {
  await provisioners.closeAll();
  await fixture?.drop();
});

describe('PostgreSQL password provisioner', () => {
  // Grant, login, rotation, retry, hostile names, listing: provisioner-contract.test.ts, for both engines.
  it('sets VALID UNTIL and the credential’s expiry to the grant’s end', async () => {
    const { p, s } = await granted();
    const credentials = await p.credentials(s);
    expect(credentials.credentialExpiresAt).toBe(s.expiresAt.toISOString());
    const role = await admin.query('SELECT rolconnlimit, rolvaliduntil FROM pg_roles WHERE rolname = $1', [
      s.dbUser,
    ]);
    expect(role.rows[0]).toEqual({ rolconnlimit: 3, rolvaliduntil: s.expiresAt });
    await p.revoke(s);
  });

  it('moves VALID UNTIL on extend, and an expired password cannot log in even before revoke', async () => {
    const { p, s } = await granted();
    const credentials = await p.credentials(s);
    const later = new Date(s.expiresAt.getTime() + 1800_000);
    await p.extend(s, later);
    const extended = await admin.query('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [s.dbUser]);
    expect(extended.rows[0]?.rolvaliduntil).toEqual(later);
    await p.extend(s, new Date(Date.now() - 60_000));
    expect(await loginRefusal(credentials.uri)).toBe('28P01');
    await p.revoke(s);
  });
});

describe('PostgreSQL built-in roles, admin rotation and the factory', () => {
  it('grants a built-in role such as pg_read_all_data', async () => {
    const { p, s } = await granted({ roles: ['pg_read_all_data'] });
    const user = await login((await p.credentials(s)).uri);
    expect((await user.query('SELECT count(*)::int AS n FROM other.hidden')).rows).toEqual([{ n: 0 }]);
    expect(await sqlError(user, 'INSERT INTO other.hidden VALUES (1)')).toBe('42501');
    await user.end();
    await p.revoke(s);
  });

  it('refetches the admin secret once when the cached password is refused (rotation)', async () => {
    const t = target();
    const right = await new StaticAdminCredentials(adminUrl).get();
    const requests: boolean[] = [];
    const rotating: AdminCredentialsSource = {
      async get(_target, options) {
        requests.push(options?.refresh === true);
        return options?.refresh ? right : { ...right, password: 'before-rotation' };
      },
    };
    const p = provisioners.track(
      new PostgresProvisioner(t, { admin: rotating, endpoints: hostPortEndpoints }),
    );
    expect(await p.listManagedUsers()).toEqual(expect.any(Array));
    expect(requests).toEqual([false, true]);
  });

  it('keeps one provisioner per target and replaces it when the connection changes', async () => {
    const factory = createProvisioners({
      admin: new StaticAdminCredentials(adminUrl),
      endpoints: hostPortEndpoints,
    });
    const t = target();
    const first = factory.for(t);
    expect(factory.for(target())).toBe(first);
    expect(factory.for(target({ port: port + 1 }))).not.toBe(first);
    expect(factory.for({ ...t, engine: 'mysql' })).toBeInstanceOf(MysqlProvisioner);
    await factory.close();
  });
});

describe('PostgreSQL revoke', () => {
  // Sessions ended, objects dropped in every database, idempotence, crash recovery: provisioner-contract.test.ts.
  it('works under a non-superuser CREATEROLE admin, as the RDS master user is', async () => {
    const suffix = randomBytes(4).toString('hex');
    const rdsAdmin = `rdsadmin_${suffix}`;
    const schema = `rdsapp_${suffix}`;
    const password = randomBytes(12).toString('hex');
    await admin.query(`CREATE ROLE ${rdsAdmin} LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(password)}`);
    await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${rdsAdmin}`);
    const rdsAdminUrl = new URL(adminUrl);
    rdsAdminUrl.username = rdsAdmin;
    rdsAdminUrl.password = password;
    const asRdsAdmin = new pg.Client({ connectionString: rdsAdminUrl.toString() });
    await asRdsAdmin.connect();
    try {
      await asRdsAdmin.query(`CREATE TABLE ${schema}.t (id int)`);
      const t = target();
      const p = provisioner(t, rdsAdminUrl.toString());
      const s = spec(t, { schemas: [{ name: schema, privileges: ['SELECT'], defaultPrivileges: true }] });
      await p.grant(s);
      // Test setup, not the level: lets the user own a table that revoke must drop.
      await asRdsAdmin.query(`GRANT CREATE ON SCHEMA ${schema} TO ${pg.escapeIdentifier(s.dbUser)}`);
      const session = await login((await p.credentials(s)).uri);
      await session.query(`CREATE TABLE ${schema}.mine (id int)`);
      const sleeping = session.query('SELECT pg_sleep(30)').then(
        () => 'finished',
        (error: { code?: string }) => error.code,
      );
      await waitFor(async () => {
        const active = await admin.query(
          "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND state = 'active'",
          [s.dbUser],
        );
        return (active.rowCount ?? 0) > 0;
      });
      expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 1 });
      expect(await sleeping).toBe('57P01');
      expect(await roleExists(s.dbUser)).toBe(false);
      const left = await admin.query('SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2', [
        schema,
        'mine',
      ]);
      expect(left.rows).toEqual([]);
      await p.close();
    } finally {
      await asRdsAdmin.end();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.query(`DROP OWNED BY ${rdsAdmin}`);
      await admin.query(`DROP ROLE ${rdsAdmin}`);
    }
  });

  it('drops a view and a SECURITY DEFINER function the user made, so no other login reads through them', async () => {
    const { p, s } = await granted();
    const suffix = randomBytes(4).toString('hex');
    const shared = `shared_${suffix}`;
    const bystander = `bystander_${suffix}`;
    const password = randomBytes(12).toString('hex');
    // Test setup, not the level: a schema where everyone may create, as `public` was up to PostgreSQL 14.
    await admin.query(`CREATE SCHEMA ${shared}; GRANT USAGE, CREATE ON SCHEMA ${shared} TO PUBLIC`);
    await admin.query(`CREATE ROLE ${bystander} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
    const bystanderUrl = new URL(adminUrl);
    bystanderUrl.username = bystander;
    bystanderUrl.password = password;
    const other = await login(bystanderUrl.toString());
    try {
      const session = await login((await p.credentials(s)).uri);
      await session.query(`CREATE VIEW ${shared}.leak AS SELECT name FROM app.customers`);
      await session.query(`GRANT SELECT ON ${shared}.leak TO PUBLIC`);
      await session.query(
        `CREATE FUNCTION ${shared}.peek() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT name FROM app.customers'`,
      );
      await session.end();
      // The holes are real while the grant lasts: the bystander reads app.customers through the user's objects.
      expect((await other.query(`SELECT name FROM ${shared}.leak`)).rows).toEqual([{ name: 'ada' }]);
      expect((await other.query(`SELECT ${shared}.peek() AS name`)).rows).toEqual([{ name: 'ada' }]);
      const oid = await roleOid(s.dbUser);

      expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 0 });
      expect(await sqlError(other, `SELECT name FROM ${shared}.leak`)).toBe('42P01');
      expect(await sqlError(other, `SELECT ${shared}.peek()`)).toBe('42883');
      expect(await sqlError(other, 'SELECT name FROM app.customers')).toBe('42501');
      const left = await admin.query(
        `SELECT relname AS name FROM pg_class WHERE relnamespace = $1::regnamespace
         UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = $1::regnamespace`,
        [shared],
      );
      expect(left.rows).toEqual([]);
      expect(await objectsOwnedBy(oid)).toEqual({});
    } finally {
      await other.end();
      await admin.query(`DROP SCHEMA ${shared} CASCADE`);
      await admin.query(`DROP ROLE ${bystander}`);
    }
  });

  it('fails with REVOKE_INCOMPLETE while another role’s object depends on one of the user’s, then finishes', async () => {
    const { p, s } = await granted();
    const table = `made_by_${s.requestId}`;
    const dependent = `depends_on_${s.requestId}`;
    // Test setup, not the level: lets the user own a table that an admin view then depends on.
    await admin.query(`GRANT CREATE ON SCHEMA app TO ${pg.escapeIdentifier(s.dbUser)}`);
    const session = await login((await p.credentials(s)).uri);
    await session.query(`CREATE TABLE app.${table} (id int)`);
    await session.end();
    await admin.query(`CREATE VIEW app.${dependent} AS SELECT id FROM app.${table}`);

    await expect(p.revoke(s)).rejects.toMatchObject({
      name: 'RevokeIncompleteError',
      code: 'REVOKE_INCOMPLETE',
      message: expect.stringContaining(dependent),
    });
    expect(await roleExists(s.dbUser)).toBe(true);
    expect(await tablesNamed(database, table)).toEqual(['app']);
    await admin.query(`DROP VIEW app.${dependent}`);
    expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 0 });
    expect(await tablesNamed(database, table)).toEqual([]);
  });

  it('fails with REVOKE_INCOMPLETE naming a database that takes no connections where the user owns something', async () => {
    const { p, s } = await granted();
    const closed = `prov_pg_closed_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${closed}`);
    try {
      // Test setup, not the level: the user owns a table in a database that then stops taking connections.
      await asSuperuserIn(closed, (client) =>
        client.query(`GRANT CREATE ON SCHEMA public TO ${pg.escapeIdentifier(s.dbUser)}`),
      );
      const session = await login((await p.credentials(s)).uri.replace(`/${database}?`, `/${closed}?`));
      await session.query('CREATE TABLE public.stranded (id int)');
      await session.end();
      await admin.query(`ALTER DATABASE ${closed} ALLOW_CONNECTIONS false`);

      await expect(p.revoke(s)).rejects.toMatchObject({
        code: 'REVOKE_INCOMPLETE',
        message: expect.stringContaining(closed),
      });
      expect(await roleExists(s.dbUser)).toBe(true);
      await admin.query(`ALTER DATABASE ${closed} ALLOW_CONNECTIONS true`);
      expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 0 });
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${closed} WITH (FORCE)`);
    }
  });
});

describe('PostgreSQL admin SQL and what a database user planted', () => {
  /**
   * CREATE on public granted to PUBLIC (PostgreSQL ≤ 14's default, kept by in-place upgrades): the user plants
   * functions that match the admin's calls more closely than the built-ins, each recording who ran it.
   */
  async function plantedBy(uri: string): Promise<void> {
    const user = await login(uri);
    const record = 'INSERT INTO public.planted_ran VALUES (current_user)';
    await user.query(`
      CREATE FUNCTION public.pg_terminate_backend(integer, integer) RETURNS boolean LANGUAGE sql
        AS $f$ ${record}; SELECT pg_catalog.pg_terminate_backend($1, $2::bigint) $f$;
      CREATE FUNCTION public.shobj_description(oid, text) RETURNS text LANGUAGE sql
        AS $f$ ${record}; SELECT pg_catalog.shobj_description($1, $2::name) $f$;
      CREATE FUNCTION public.has_database_privilege(text, name, text) RETURNS boolean LANGUAGE sql
        AS $f$ ${record}; SELECT pg_catalog.has_database_privilege($1, $2, $3) $f$;`);
    // A session stays open, so revoke has a backend to end.
  }

  it('never runs them as the admin: not in revoke, a use-once grant or its session check', async () => {
    await admin.query(`GRANT CREATE ON SCHEMA public TO PUBLIC;
      CREATE TABLE IF NOT EXISTS public.planted_ran (who text); GRANT INSERT ON public.planted_ran TO PUBLIC`);
    try {
      const { p, s } = await granted();
      await plantedBy((await p.credentials(s)).uri);
      const once = { ...spec(target(), READ_APP), once: true as const, connectionLimit: 1 };
      await p.grant(once);
      await p.onceSession(once);
      await p.revoke(once);
      expect(await p.revoke(s)).toMatchObject({ dropped: true, sessionsTerminated: 1 });
      expect((await admin.query('SELECT who FROM public.planted_ran')).rows).toEqual([]);
    } finally {
      await admin.query(
        'REVOKE CREATE ON SCHEMA public FROM PUBLIC; DROP TABLE IF EXISTS public.planted_ran',
      );
    }
  });
});

describe('PostgreSQL revoke against a user that holds locks', () => {
  /**
   * Anything a temporary user can hold from its own session: the row of its own role (any role may change its
   * own password) and the provisioner's database lock (its key is computable from the source). Revoke ends the
   * session first, so neither makes it wait; before, it waited out the 30 s statement timeout on every try.
   */
  const HOLDS = {
    'an open ALTER ROLE on itself': () => "BEGIN; ALTER ROLE CURRENT_USER PASSWORD 'held'",
    'the database lock': () => `SELECT pg_advisory_lock(${databaseLockKey(database)})`,
  };

  /** A CREATEROLE admin as on RDS (no superuser, no pg_signal_backend) that may grant reads on `app`. */
  const withRoleAdmin = (work: (url: string) => Promise<void>) =>
    withAdminLogin(
      'lockadm',
      (name, password) => `CREATE ROLE ${name} LOGIN CREATEROLE PASSWORD ${password};
        GRANT USAGE ON SCHEMA app TO ${name} WITH GRANT OPTION;
        GRANT SELECT ON ALL TABLES IN SCHEMA app TO ${name} WITH GRANT OPTION`,
      work,
    );

  async function asSuperuser(url: string, sql: string): Promise<unknown[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const results = await client.query(sql);
      return (Array.isArray(results) ? results.at(-1) : results)?.rows ?? [];
    } finally {
      await client.end();
    }
  }

  async function revokeWhileHeld(hold: () => string, url = adminUrl): Promise<void> {
    const t = target();
    const p = provisioner(t, url);
    const s = spec(t, READ_APP);
    await p.grant(s);
    const credentials = await p.credentials(s);
    const user = await login(credentials.uri);
    await user.query(hold());
    const started = Date.now();
    expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 1 });
    // Far below the admin's 30 s statement timeout, which the revoke used to wait out.
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(user.query('SELECT 1')).rejects.toThrow();
    expect(await roleExists(s.dbUser)).toBe(false);
    expect(await loginRefusal(credentials.uri)).toBe('28P01');
    await user.end().catch(() => undefined);
    await p.close();
  }

  it.each(Object.entries(HOLDS))(
    'ends a session holding %s, blocks its login and drops the role',
    (_, hold) => revokeWhileHeld(hold),
  );

  it.each(Object.entries(HOLDS))('does so under a non-superuser CREATEROLE admin: %s', (_, hold) =>
    withRoleAdmin((url) => revokeWhileHeld(hold, url)),
  );

  it('wins against a user that logs in again and again to take its row back', async () => {
    const { p, s } = await granted();
    const credentials = await p.credentials(s);
    let holds = 0;
    /** Until its login is refused: log in, take (or queue for) the role's row in an open transaction. */
    const retake = async (): Promise<void> => {
      for (;;) {
        const session = await login(credentials.uri).catch((error: { code?: string }) => error.code);
        // 53300: over the role's connection limit for now; anything else: refused for good.
        if (session === '53300') continue;
        if (typeof session !== 'object') return;
        await session
          .query("BEGIN; ALTER ROLE CURRENT_USER PASSWORD 'held'")
          .then(() => holds++)
          .catch(() => undefined);
      }
    };
    const attackers = [retake(), retake(), retake(), retake(), retake()];
    // Three logged in (the role's limit): one holds the row, two wait to take it the moment it is released.
    await waitFor(async () => {
      const open = await admin.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1', [s.dbUser]);
      return holds >= 1 && open.rowCount === 3;
    });
    const started = Date.now();
    expect(await p.revoke(s)).toMatchObject({ dropped: true });
    expect(Date.now() - started).toBeLessThan(10_000);
    await Promise.all(attackers);
    expect(await roleExists(s.dbUser)).toBe(false);
  });

  it('ends the session but fails with REVOKE_INCOMPLETE while another role holds its row, then finishes', async () => {
    const { p, s } = await granted();
    const user = await login((await p.credentials(s)).uri);
    const other = new pg.Client({ connectionString: adminUrl });
    await other.connect();
    try {
      await other.query(`BEGIN; ALTER ROLE ${pg.escapeIdentifier(s.dbUser)} CONNECTION LIMIT 2`);
      await expect(p.revoke(s)).rejects.toMatchObject({
        code: 'REVOKE_INCOMPLETE',
        message: expect.stringContaining('NOLOGIN'),
      });
      await expect(user.query('SELECT 1')).rejects.toThrow();
      await other.query('ROLLBACK');
      expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 0 });
    } finally {
      await other.end();
      await user.end().catch(() => undefined);
    }
  });

  it('rolls back the prepared transactions that keep both locks after the session is gone', async () => {
    // A separate server: PREPARE TRANSACTION needs max_prepared_transactions > 0, set only at server start.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'jitdb-pg-prepared-'));
    let server = await startEmbeddedPostgres({ dataDir, persistent: true });
    try {
      await asSuperuser(server.url, 'ALTER SYSTEM SET max_prepared_transactions = 4');
      await server.stop();
      server = await startEmbeddedPostgres({ dataDir, persistent: true, port: server.port });
      await asSuperuser(
        server.url,
        `CREATE SCHEMA app; CREATE TABLE app.orders (id int); CREATE ROLE rds_iam;
         CREATE ROLE prepadm LOGIN CREATEROLE PASSWORD 'prepadm-pw';
         GRANT USAGE ON SCHEMA app TO prepadm WITH GRANT OPTION;
         GRANT SELECT ON ALL TABLES IN SCHEMA app TO prepadm WITH GRANT OPTION`,
      );
      const roleAdmin = new URL(server.url);
      roleAdmin.username = 'prepadm';
      roleAdmin.password = 'prepadm-pw';
      for (const url of [server.url, roleAdmin.toString()]) {
        const t = target({ port: server.port, database: 'postgres' });
        const p = provisioner(t, url);
        const s = spec(t, READ_APP);
        await p.grant(s);
        const user = await login((await p.credentials(s)).uri);
        await user.query(`BEGIN; ALTER ROLE CURRENT_USER PASSWORD 'held'; PREPARE TRANSACTION 'row'`);
        await user.query(
          `BEGIN; SELECT pg_advisory_xact_lock(${databaseLockKey('postgres')}); PREPARE TRANSACTION 'lock'`,
        );
        await user.end();
        expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 0 });
        expect(await asSuperuser(server.url, 'SELECT gid FROM pg_prepared_xacts')).toEqual([]);
        await p.close();
      }
    } finally {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL health check', () => {
  /** A login role with `attributes`, as an admin URL; dropped after the test. */
  const adminRole = (attributes: string, work: (url: string) => Promise<void>) =>
    withAdminLogin(
      'chkadm',
      (name, password) => `CREATE ROLE ${name} LOGIN ${attributes} PASSWORD ${password}`,
      work,
    );

  /** The IAM target whose one level also grants pg_read_all_data. */
  function iamTargetGrantingARole(): Target {
    const base = target({ credentialKind: 'iam' });
    const read = base.levels.read as Target['levels'][string];
    return {
      ...base,
      levels: { read: { ...read, privileges: { ...read.privileges, roles: ['pg_read_all_data'] } } },
    };
  }

  it('passes for a CREATEROLE admin without pg_signal_backend: revoke ends sessions of roles it created as a member', async () => {
    await adminRole('CREATEROLE', async (url) => {
      const member = await admin.query("SELECT pg_has_role($1, 'pg_signal_backend', 'MEMBER') AS m", [
        new URL(url).username,
      ]);
      expect(member.rows).toEqual([{ m: false }]);
      const p = provisioner(target(), url);
      expect(await p.check()).toEqual({ ok: true, problems: [] });
      await p.close();
    });
  });

  it('fails visibly, session left open, when a CREATEROLE admin revokes a role another admin created (PostgreSQL 16+)', async () => {
    const t = target();
    const s = spec(t, READ_APP);
    await provisioner(t).grant(s);
    const session = await login((await provisioner(t).credentials(s)).uri);
    try {
      await adminRole('CREATEROLE', async (url) => {
        const other = provisioner(t, url);
        // Only the creator gets ADMIN OPTION on a role: this admin may neither alter it nor join it.
        await expect(other.revoke(s)).rejects.toMatchObject({ code: '42501' });
        await other.close();
      });
      expect((await session.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(await provisioner(t).revoke(s)).toEqual({ dropped: true, sessionsTerminated: 1 });
    } finally {
      await session.end().catch(() => undefined);
    }
  });

  it('names CREATEROLE, and ADMIN OPTION on each role the target grants (PostgreSQL 16+)', async () => {
    await adminRole('NOCREATEROLE', async (url) => {
      const p = provisioner(iamTargetGrantingARole(), url);
      expect(await p.check()).toEqual({
        ok: false,
        problems: [
          expect.stringContaining('CREATEROLE'),
          expect.stringContaining('ADMIN OPTION on pg_read_all_data'),
          expect.stringContaining('ADMIN OPTION on rds_iam'),
        ],
      });
      await p.close();
    });
  });
});

describe('PostgreSQL concurrent grants and revokes of one level', () => {
  /** Two schemas, default privileges and a built-in role: every shared catalog row a level's GRANT rewrites. */
  const WIDE_LEVEL = {
    roles: ['pg_read_all_stats'],
    schemas: [
      { name: 'app', privileges: ['SELECT'], defaultPrivileges: true },
      { name: 'weird', privileges: ['SELECT'], tables: ['y'] },
    ],
  };

  it('grants 10 users at once from 10 processes, then revokes all 10 at once', async () => {
    const t = target();
    // One provisioner each, as 10 Lambda instances would be: no shared pool serialises them.
    const workers = Array.from({ length: 10 }, () => provisioner(t));
    const specs = workers.map(() => spec(t, WIDE_LEVEL));
    const granted = await Promise.allSettled(workers.map((p, i) => p.grant(specs[i] as GrantSpec)));
    expect(granted.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason)))).toEqual(
      Array(10).fill('ok'),
    );
    const first = specs[0] as GrantSpec;
    const session = await login((await (workers[0] as PostgresProvisioner).credentials(first)).uri);
    expect((await session.query('SELECT item FROM app.orders')).rows).toEqual([{ item: 'book' }]);
    expect((await session.query('SELECT id FROM weird.y')).rows).toEqual([{ id: 42 }]);
    await session.end();

    const revoked = await Promise.allSettled(workers.map((p, i) => p.revoke(specs[i] as GrantSpec)));
    expect(revoked.map((r) => (r.status === 'fulfilled' ? r.value.dropped : String(r.reason)))).toEqual(
      Array(10).fill(true),
    );
    for (const s of specs) expect(await roleExists(s.dbUser)).toBe(false);
  });

  /** The database lock in pg_locks: a bigint advisory key shows as its high and low 32 bits. */
  async function lockEntries(): Promise<{ held: number; waiting: number }> {
    const key = BigInt.asUintN(64, BigInt(databaseLockKey(database)));
    const { rows } = await admin.query<{ held: number; waiting: number }>(
      `SELECT count(*) FILTER (WHERE granted)::int AS held, count(*) FILTER (WHERE NOT granted)::int AS waiting
       FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1`,
      [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
    );
    return rows[0] ?? { held: -1, waiting: -1 };
  }

  it('queues a grant behind the database lock held by another session, and holds no lock afterwards', async () => {
    const t = target();
    const p = provisioner(t);
    const s = spec(t, READ_APP);
    const holder = new pg.Client({ connectionString: adminUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(${databaseLockKey(database)})`);
      let done = false;
      const granting = p.grant(s).then(() => {
        done = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect([done, await roleExists(s.dbUser)]).toEqual([false, false]);
      expect(await lockEntries()).toEqual({ held: 1, waiting: 1 });
      await holder.query('COMMIT');
      await granting;
      expect(await roleExists(s.dbUser)).toBe(true);
    } finally {
      await holder.end();
    }
    expect(await lockEntries()).toEqual({ held: 0, waiting: 0 });
    await p.revoke(s);
  });

  it('keys the lock by database, stable across processes', () => {
    expect(databaseLockKey('app')).toBe(databaseLockKey('app'));
    expect(databaseLockKey('app')).not.toBe(databaseLockKey('billing'));
    expect(BigInt(databaseLockKey('app'))).toBeGreaterThanOrEqual(-(2n ** 63n));
    expect(BigInt(databaseLockKey('app'))).toBeLessThan(2n ** 63n);
  });

  it('treats tuple-concurrently-updated, serialization failures and deadlocks as transient, nothing else', () => {
    const error = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    expect(
      [
        error('XX000', 'tuple concurrently updated'),
        error('XX000', 'tuple concurrently deleted'),
        error('40001'),
        error('40P01'),
        error('XX000', 'cache lookup failed'),
        error('42710'),
        new Error('tuple concurrently updated'),
      ].map(isTransientPostgresError),
    ).toEqual([true, true, true, true, false, false, false]);
  });
});

describe('PostgreSQL IAM provisioner', () => {
  it('grants rds_iam and mints a 15-minute token for the user, new on each fetch', async () => {
    const t = target({ credentialKind: 'iam' });
    const p = provisioner(t);
    const s = spec(t, READ_APP);
    await p.grant(s);
    const member = await admin.query(
      "SELECT pg_has_role($1, 'rds_iam', 'MEMBER') AS member, rolpassword IS NULL AS no_password FROM pg_authid WHERE rolname = $1",
      [s.dbUser],
    );
    expect(member.rows[0]).toEqual({ member: true, no_password: true });
    const before = Date.now();
    const first = await p.credentials(s);
    const url = new URL(`https://${first.password}`);
    expect(url.host).toBe(`127.0.0.1:${port}`);
    expect(url.searchParams.get('Action')).toBe('connect');
    expect(url.searchParams.get('DBUser')).toBe(s.dbUser);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(
      /^AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/rds-db\/aws4_request$/,
    );
    expect(first.kind).toBe('iam');
    expect(new URL(first.uri).password).toBe(encodeURIComponent(first.password));
    const credentialExpiresAt = Date.parse(first.credentialExpiresAt);
    expect(credentialExpiresAt).toBeGreaterThanOrEqual(before + 900_000 - 1000);
    expect(credentialExpiresAt).toBeLessThanOrEqual(Date.now() + 900_000);
    // SigV4 signs with one-second resolution: a fetch in a later second yields a different token.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await p.credentials(s)).password).not.toBe(first.password);
    await p.revoke(s);
    expect(await roleExists(s.dbUser)).toBe(false);
  });

  it('refuses with TargetNotConfiguredForIamError on a server without rds_iam, leaving no user behind', async () => {
    // A separate server: rds_iam is cluster-wide, and the shared one has the stand-in role.
    const bare = await startEmbeddedPostgres();
    try {
      const t = target({ credentialKind: 'iam', port: bare.port, database: 'postgres' });
      const p = provisioner(t, bare.url);
      const s = spec(t, { roles: ['pg_read_all_data'] });
      await expect(p.grant(s)).rejects.toBeInstanceOf(TargetNotConfiguredForIamError);
      expect(await p.listManagedUsers()).toEqual([]);
      await p.close();
    } finally {
      await bare.stop();
    }
  });
});
