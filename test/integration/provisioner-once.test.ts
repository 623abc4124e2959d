import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlProvisioner } from '../../functions/adapters/mysql-provisioner.js';
import { sealInstallSql } from '../../functions/adapters/postgres-once.js';
import { PostgresProvisioner } from '../../functions/adapters/postgres-provisioner.js';
import type { GrantSpec } from '../../functions/application/ports.js';
import { DomainError } from '../../functions/domain/errors.js';
import {
  createMysqlFixture,
  createPostgresFixture,
  type MysqlFixture,
  type PostgresFixture,
} from '../support/provisioner-databases.js';
import { errorCode, grantSpec, provisionerPool, provisionerTarget } from '../support/provisioner-fixtures.js';

/** Use-once grants at the provisioner: the seal at first login, and what onceSession reports. */

let pgFixture: PostgresFixture;
let myFixture: MysqlFixture;
const pgProvisioners = provisionerPool((t, deps) => new PostgresProvisioner(t, deps));
const myProvisioners = provisionerPool((t, deps) => new MysqlProvisioner(t, deps));

beforeAll(async () => {
  pgFixture = await createPostgresFixture('once', ['side']);
  myFixture = await createMysqlFixture('once');
});

afterAll(async () => {
  await pgProvisioners.closeAll();
  await myProvisioners.closeAll();
  await pgFixture?.drop();
  await myFixture?.drop();
});

function onceSpec(spec: GrantSpec): GrantSpec {
  return { ...spec, once: true, connectionLimit: 1 };
}

async function pgLogin(uri: string, database?: string): Promise<pg.Client> {
  const url = new URL(uri);
  if (database) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describe('PostgreSQL use-once grants', () => {
  const target = () =>
    provisionerTarget('postgres', 'once-pg', {
      port: pgFixture.port,
      database: pgFixture.database,
      schema: 'app',
    });

  it('seals the role at its first login in any database it may reach: a later login anywhere is refused', async () => {
    const t = target();
    const p = pgProvisioners.create(t, pgFixture.adminUrl);
    const s = onceSpec(grantSpec(t, { schemas: [{ name: 'app', privileges: ['SELECT'] }] }));
    await p.grant(s);
    // A retried grant leaves it as it was: one login, sealed at the first.
    await p.grant(s);
    expect(await p.onceSession(s)).toEqual({ used: false, openSessions: 0 });
    const { uri } = await p.credentials(s);
    // The first session is in another database of the server: it seals the role there too.
    const side = await pgLogin(uri, pgFixture.extra.side);
    expect(await p.onceSession(s)).toEqual({ used: true, openSessions: 1 });
    await side.end();
    expect(await errorCode(async () => (await pgLogin(uri)).end())).toBe('28000');
    expect(await p.onceSession(s)).toEqual({ used: true, openSessions: 0 });
    await p.revoke(s);
    expect(await p.onceSession(s)).toEqual({ used: false, openSessions: 0 });
  });

  it('does not read a revoke in flight (NOLOGIN, then the role gone) as a use', async () => {
    const t = target();
    const p = pgProvisioners.create(t, pgFixture.adminUrl);
    const s = onceSpec(grantSpec(t, { schemas: [{ name: 'app', privileges: ['SELECT'] }] }));
    await p.grant(s);
    const [blockLogins, ...rest] = p.revokePlan(s).steps;
    await blockLogins?.run();
    expect(await p.onceSession(s)).toEqual({ used: false, openSessions: 0 });
    for (const step of rest) await step.run();
    expect(await p.onceSession(s)).toEqual({ used: false, openSessions: 0 });
  });

  /**
   * A database of its own with one login role (`attributes`) that may connect and create in it, both dropped
   * after. Not CONNECT for PUBLIC: a use-once grant elsewhere on this server (another test file) seals every
   * database its role may reach, and would meet this one half-made, planted or being dropped.
   */
  async function withScratchDatabase(
    prefix: string,
    attributes: string,
    work: (scratch: { database: string; role: string; roleUrl: URL; bootstrap: pg.Client }) => Promise<void>,
  ): Promise<void> {
    const suffix = randomBytes(4).toString('hex');
    const bootstrap = new pg.Client({ connectionString: pgFixture.adminUrl });
    await bootstrap.connect();
    const database = `${prefix}_${suffix}`;
    const role = `${prefix}_role_${suffix}`;
    const password = randomBytes(12).toString('hex');
    const roleUrl = new URL(pgFixture.adminUrl);
    roleUrl.username = role;
    roleUrl.password = password;
    roleUrl.pathname = `/${database}`;
    try {
      await bootstrap.query(`CREATE DATABASE ${database}`);
      await bootstrap.query(`CREATE ROLE ${role} LOGIN ${attributes} PASSWORD ${pg.escapeLiteral(password)}`);
      await bootstrap.query(`REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC`);
      await bootstrap.query(`GRANT CONNECT, CREATE ON DATABASE ${database} TO ${role}`);
      await work({ database, role, roleUrl, bootstrap });
    } finally {
      await bootstrap.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await bootstrap.query(`DROP ROLE IF EXISTS ${role}`);
      await bootstrap.end();
    }
  }

  it('refuses a use-once grant with TARGET_MISCONFIGURED under an admin that may not create event triggers, leaving no role', async () => {
    await withScratchDatabase('once_fresh', 'CREATEROLE', async ({ database, roleUrl, bootstrap }) => {
      const { message, dbUser } = await refusalOfOnceGrant(database, roleUrl);
      expect(message).toContain('event triggers');
      const role = await bootstrap.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [dbUser]);
      expect(role.rows).toEqual([]);
    });
  });

  /**
   * A fresh database where a role with CREATE on it (as the application's own user often has) made the seal
   * function, with `body`, in a schema jitdb it made too, or that the admin made and let it create in. The
   * caller's `work` gets the admin's URL and client there; everything is dropped afterwards.
   */
  async function withPlantedSeal(
    options: { adminMakesSchema: boolean; body: (planter: string) => string },
    work: (planted: {
      database: string;
      planter: string;
      adminUrl: URL;
      admin: pg.Client;
      bootstrap: pg.Client;
    }) => Promise<void>,
  ): Promise<void> {
    await withScratchDatabase('once_planted', '', async ({ database, role: planter, roleUrl, bootstrap }) => {
      const adminUrl = new URL(pgFixture.adminUrl);
      adminUrl.pathname = `/${database}`;
      const admin = new pg.Client({ connectionString: adminUrl.toString() });
      try {
        await admin.connect();
        await admin.query('CREATE TABLE public.ran (who text); GRANT INSERT ON public.ran TO PUBLIC');
        if (options.adminMakesSchema)
          await admin.query(`CREATE SCHEMA jitdb; GRANT CREATE ON SCHEMA jitdb TO ${planter}`);
        const app = await pgLogin(roleUrl.toString());
        await app.query(`${options.adminMakesSchema ? '' : 'CREATE SCHEMA jitdb;'}
          CREATE FUNCTION jitdb.seal_once_login() RETURNS event_trigger LANGUAGE plpgsql AS $planted$
          ${options.body(planter)}
          $planted$`);
        await app.end();
        await work({ database, planter, adminUrl, admin, bootstrap });
      } finally {
        await admin.end().catch(() => undefined);
      }
    });
  }

  async function refusalOfOnceGrant(database: string, adminUrl: URL) {
    const t = provisionerTarget('postgres', 'once-planted', {
      port: pgFixture.port,
      database,
      schema: 'public',
    });
    const p = pgProvisioners.create(t, adminUrl.toString());
    const s = onceSpec(grantSpec(t, { schemas: [{ name: 'public', privileges: ['SELECT'] }] }));
    const refusal = await p.grant(s).then(
      () => undefined,
      (error: unknown) => error,
    );
    await p.close();
    expect(refusal).toBeInstanceOf(DomainError);
    expect((refusal as DomainError).code).toBe('TARGET_MISCONFIGURED');
    return { message: (refusal as DomainError).message, dbUser: s.dbUser };
  }

  // The attack: CREATE OR REPLACE would keep the planter the owner, and the admin's login trigger would run its
  // code at every login. Here, as whoever logs in (SECURITY INVOKER), it notes the login and makes its planter
  // a superuser when the admin logs in.
  it.each([
    {
      title: 'owns the schema and the function',
      adminMakesSchema: false,
      named: (planter: string) => `schema jitdb is owned by ${planter}`,
    },
    {
      title: 'may create in an admin-owned schema and made the function',
      adminMakesSchema: true,
      named: (planter: string) => `${planter} may create objects in schema jitdb`,
    },
  ])(
    'refuses a use-once grant with TARGET_MISCONFIGURED when another role $title: none of its code runs as the admin',
    async ({ adminMakesSchema, named }) => {
      const body = (planter: string) => `BEGIN
          INSERT INTO public.ran VALUES (current_user);
          IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
            EXECUTE 'ALTER ROLE ${planter} SUPERUSER';
          END IF;
        END`;
      await withPlantedSeal(
        { adminMakesSchema, body },
        async ({ database, planter, adminUrl, admin, bootstrap }) => {
          const { message, dbUser } = await refusalOfOnceGrant(database, adminUrl);
          expect(message).toContain(named(planter));
          expect(message).toContain(`function jitdb.seal_once_login() is owned by ${planter}`);
          // The install checks again under the database's lock, in its own transaction: it refuses too.
          await expect(admin.query(sealInstallSql(database))).rejects.toMatchObject({
            code: 'JDB01',
            message: expect.stringContaining(`owned by ${planter}`),
          });

          // Nothing was installed or adopted: no trigger, the function is still the planter's, no role was made.
          expect(
            (await admin.query("SELECT 1 FROM pg_event_trigger WHERE evtname = 'jitdb_seal_once_login'"))
              .rows,
          ).toEqual([]);
          const owner = await admin.query(
            "SELECT proowner::regrole::text AS owner, prosecdef FROM pg_proc WHERE proname = 'seal_once_login'",
          );
          expect(owner.rows).toEqual([{ owner: planter, prosecdef: false }]);
          expect((await bootstrap.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [dbUser])).rows).toEqual(
            [],
          );
          // An admin login runs none of the planter's code.
          await (await pgLogin(adminUrl.toString())).end();
          expect((await admin.query('SELECT who FROM public.ran')).rows).toEqual([]);
          expect(
            (await bootstrap.query('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [planter])).rows,
          ).toEqual([{ rolsuper: false }]);
        },
      );
    },
  );

  it('refuses a use-once grant where an earlier version already put the login trigger on a planted function', async () => {
    const body = () => 'BEGIN END';
    await withPlantedSeal(
      { adminMakesSchema: false, body },
      async ({ database, planter, adminUrl, admin }) => {
        // What the seal's earlier versions did: CREATE OR REPLACE kept the planter's function, then the trigger.
        await admin.query(
          'CREATE EVENT TRIGGER jitdb_seal_once_login ON login EXECUTE FUNCTION jitdb.seal_once_login()',
        );
        const { message } = await refusalOfOnceGrant(database, adminUrl);
        expect(message).toContain(`function jitdb.seal_once_login() is owned by ${planter}`);
        expect(message).toContain('DROP EVENT TRIGGER IF EXISTS jitdb_seal_once_login');
      },
    );
  });
});

describe('MariaDB use-once grants', () => {
  const target = () =>
    provisionerTarget('mysql', 'once-my', {
      port: myFixture.port,
      database: myFixture.app,
      schema: myFixture.app,
    });

  async function myLogin(uri: string): Promise<mysql.Connection> {
    const connection = await mysql.createConnection({ uri, connectTimeout: 3000 });
    connection.on('error', () => undefined);
    return connection;
  }

  it('admits one connection; once it is counted the account is locked for good, past a FLUSH PRIVILEGES', async () => {
    const t = target();
    const p = myProvisioners.create(t, myFixture.adminUrl);
    const s = onceSpec(grantSpec(t, { schemas: [{ name: myFixture.app, privileges: ['SELECT'] }] }));
    await p.grant(s);
    expect(await p.onceSession(s)).toEqual({ used: false, openSessions: 0 });
    const { uri } = await p.credentials(s);
    const only = await myLogin(uri);
    await only.query('SELECT 1');
    await only.end();
    expect(await errorCode(async () => (await myLogin(uri)).end())).toBe('ER_USER_LIMIT_REACHED');
    expect(await p.onceSession(s)).toEqual({ used: true, openSessions: 0 });
    // FLUSH PRIVILEGES resets the hourly count; the lock onceSession set does not lapse with it.
    await myFixture.admin.query('FLUSH PRIVILEGES');
    await expect(myLogin(uri)).rejects.toThrow(/account is locked/);
    await p.revoke(s);
    expect(await p.onceSession(s)).toEqual({ used: false, openSessions: 0 });
  });
});
