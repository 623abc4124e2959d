import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlProvisioner } from '../../functions/adapters/mysql-provisioner.js';
import type { CredentialProvisioner, Credentials, GrantSpec } from '../../functions/application/ports.js';
import { TargetUnavailableError } from '../../functions/domain/errors.js';
import type { Target } from '../../functions/domain/policy-schema.js';
import { freePort } from '../../local/embedded-postgres.js';
import { type ClientSession, openSession } from '../support/client-session.js';
import { asSuperuserIn, objectsOwnedBy, tablesNamed } from '../support/postgres-catalog.js';
import {
  createMysqlFixture,
  createPostgresFixture,
  type MysqlFixture,
  type PostgresFixture,
} from '../support/provisioner-databases.js';
import {
  errorCode,
  grantedWith,
  postgresProvisionerPool,
  provisionerPool,
  provisionerTarget,
  grantSpec as spec,
  type TargetOverrides,
  waitFor,
} from '../support/provisioner-fixtures.js';

/**
 * The CredentialProvisioner contract: what grant, credentials, revoke, listManagedUsers and check promise
 * on every engine, run against the real PostgreSQL and MariaDB servers. What only one engine does (VALID
 * UNTIL, DROP OWNED, definer objects, PROCESS, rds_kill, built-in roles) stays in provisioner-<engine>.test.ts.
 */

/** A provisioner as the tests drive it: the port, its revoke steps, and a way to let go of its pool. */
type TestProvisioner = CredentialProvisioner & {
  revokePlan(spec: Pick<GrantSpec, 'dbUser'>): { steps: { name: string; run(): Promise<unknown> }[] };
  close(): Promise<void>;
};

/** A granted user whose open session made something revoke must remove. */
interface GrantedWithObjects {
  s: GrantSpec;
  credentials: Credentials;
  session: ClientSession;
  /** Asserts that what the session made is gone (nothing to check where objects have no owner). */
  expectObjectsGone(): Promise<void>;
}

interface Engine {
  name: string;
  /** The driver's error codes: a refused login, a refused statement, a session ended by the server. */
  codes: { loginRefused: string; denied: string; killed: string };
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  adminUrl(): string;
  port(): number;
  database(): string;
  target(overrides?: TargetOverrides): Target;
  provisioner(t: Target, url?: string): TestProvisioner;
  /** SELECT on every table of the level's schema. */
  readApp(): unknown;
  /** SELECT on `orders` alone. */
  ordersOnly(): unknown;
  /** A table of the level's schema, or of the schema the level does not name, as the user writes it. */
  appTable(name: 'orders' | 'customers'): string;
  hiddenTable(): string;
  expectedUri(s: GrantSpec, password: string): string;
  login(uri: string): Promise<ClientSession>;
  userExists(user: string): Promise<boolean>;
  connectionLimit(user: string): Promise<number>;
  loginBlocked(user: string): Promise<boolean>;
  blockAndLimit(user: string, limit: number): Promise<void>;
  createLookalike(name: string): Promise<void>;
  dropLookalike(name: string): Promise<void>;
  hostile: {
    tables: string[];
    overrides: () => TargetOverrides;
    schema: () => string;
    qualified(name: string): string;
    /** Every table of the hostile schema, sorted byte-wise. */
    tablesInSchema(): Promise<string[]>;
    adminRows(sql: string): Promise<unknown[]>;
  };
  sleepQuery: string;
  /** Whether the user's session is running the sleep query. */
  sleeping(user: string): Promise<boolean>;
  grantedUserWithObjects(p: TestProvisioner, t: Target): Promise<GrantedWithObjects>;
  revokeSteps: string[];
  /** A target whose check exercises everything the engine checks. */
  checkTarget(): Target;
}

/** What both engines take alike from their fixture and provisioner pool: server, provisioners, teardown. */
function fixtureParts(
  fixture: () => { adminUrl: string; port: number; drop(): Promise<void> } | undefined,
  provisioners: { create(t: Target, adminUrl: string): TestProvisioner; closeAll(): Promise<void> },
): Pick<Engine, 'tearDown' | 'adminUrl' | 'port' | 'provisioner'> {
  const adminUrl = () => fixture()?.adminUrl ?? '';
  return {
    async tearDown() {
      await provisioners.closeAll();
      await fixture()?.drop();
    },
    adminUrl,
    port: () => fixture()?.port ?? 0,
    provisioner: (t, url = adminUrl()) => provisioners.create(t, url),
  };
}

const HOSTILE_TABLES = ['odd"name', 'x; DROP TABLE y', "Robert'); --"];

function postgres(): Engine {
  let port = 0;
  let database = '';
  let otherDatabase = '';
  let admin: pg.Client;
  let fixture: PostgresFixture | undefined;
  const provisioners = postgresProvisionerPool();
  const q = pg.escapeIdentifier;

  const login = (uri: string) => openSession({ engine: 'postgres', uri });

  const engine: Engine = {
    name: 'PostgreSQL',
    codes: { loginRefused: '28P01', denied: '42501', killed: '57P01' },
    async setUp() {
      fixture = await createPostgresFixture('prov_pgc', ['other']);
      ({ port, database, admin } = fixture);
      otherDatabase = fixture.extra.other as string;
      for (const name of HOSTILE_TABLES) {
        await admin.query(`CREATE TABLE weird.${q(name)} (id int)`);
        await admin.query(`INSERT INTO weird.${q(name)} VALUES (7)`);
      }
    },
    ...fixtureParts(() => fixture, provisioners),
    database: () => database,
    target: (overrides = {}) =>
      provisionerTarget('postgres', 'pg-test', { port, database, schema: 'app' }, overrides),
    readApp: () => ({ schemas: [{ name: 'app', privileges: ['SELECT'] }] }),
    ordersOnly: () => ({ schemas: [{ name: 'app', tables: ['orders'], privileges: ['SELECT'] }] }),
    appTable: (name) => `app.${name}`,
    hiddenTable: () => 'other.hidden',
    expectedUri: (s, password) =>
      `postgres://${s.dbUser}:${password}@127.0.0.1:${port}/${database}?sslmode=disable`,
    login,
    async userExists(user) {
      return ((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user])).rowCount ?? 0) > 0;
    },
    async connectionLimit(user) {
      const role = await admin.query('SELECT rolconnlimit FROM pg_roles WHERE rolname = $1', [user]);
      return Number(role.rows[0]?.rolconnlimit);
    },
    async loginBlocked(user) {
      const role = await admin.query('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [user]);
      return role.rows[0]?.rolcanlogin === false;
    },
    async blockAndLimit(user, limit) {
      await admin.query(`ALTER ROLE ${q(user)} NOLOGIN CONNECTION LIMIT ${limit}`);
    },
    createLookalike: async (name) => void (await admin.query(`CREATE ROLE ${q(name)}`)),
    dropLookalike: async (name) => void (await admin.query(`DROP ROLE ${q(name)}`)),
    hostile: {
      tables: HOSTILE_TABLES,
      overrides: () => ({}),
      schema: () => 'weird',
      qualified: (name) => `weird.${q(name)}`,
      async tablesInSchema() {
        const tables = await admin.query(
          'SELECT tablename FROM pg_tables WHERE schemaname = \'weird\' ORDER BY tablename COLLATE "C"',
        );
        return tables.rows.map((row) => String(row.tablename));
      },
      adminRows: async (sql) => (await admin.query(sql)).rows,
    },
    sleepQuery: 'SELECT pg_sleep(30)',
    async sleeping(user) {
      const active = await admin.query(
        "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'SELECT pg_sleep%'",
        [user],
      );
      return (active.rowCount ?? 0) > 0;
    },
    /** Owns a table here and one in another database: revoke must drop both, never hand them to the admin. */
    async grantedUserWithObjects(p, t) {
      const s = spec(t, { schemas: [{ name: 'app', privileges: ['SELECT'], defaultPrivileges: true }] });
      await p.grant(s);
      const quoted = q(s.dbUser);
      // Test setup, not the level: lets the user own objects that revoke must clean up.
      await admin.query(`GRANT CREATE ON SCHEMA app TO ${quoted}`);
      await asSuperuserIn(otherDatabase, (client) =>
        client.query(`GRANT CREATE ON SCHEMA public TO ${quoted}`),
      );
      const credentials = await p.credentials(s);
      const session = await login(credentials.uri);
      const table = `made_by_${s.requestId}`;
      await session.query(`CREATE TABLE app.${table} (id int)`);
      const otherSession = await login(credentials.uri.replace(`/${database}?`, `/${otherDatabase}?`));
      await otherSession.query(`CREATE TABLE public.${table} (id int)`);
      await otherSession.end();
      const oid = (
        await admin.query<{ oid: number }>('SELECT oid::int AS oid FROM pg_roles WHERE rolname = $1', [
          s.dbUser,
        ])
      ).rows[0]?.oid;
      return {
        s,
        credentials,
        session,
        async expectObjectsGone() {
          // Dropped, not handed to the admin, here and in the other database.
          expect(await tablesNamed(database, table)).toEqual([]);
          expect(await tablesNamed(otherDatabase, table)).toEqual([]);
          expect(await objectsOwnedBy(oid ?? -1)).toEqual({});
        },
      };
    },
    revokeSteps: ['block-logins', 'terminate-sessions', 'drop-owned', 'drop-role'],
    /** The IAM target whose one level also grants pg_read_all_data: check covers rds_iam and the role. */
    checkTarget() {
      const base = engine.target({ credentialKind: 'iam' });
      const read = base.levels.read as Target['levels'][string];
      return {
        ...base,
        levels: { read: { ...read, privileges: { ...read.privileges, roles: ['pg_read_all_data'] } } },
      };
    },
  };
  return engine;
}

function mariadb(): Engine {
  let port = 0;
  let app = '';
  let other = '';
  let weird = '';
  let admin: mysql.Connection;
  let fixture: MysqlFixture | undefined;
  const provisioners = provisionerPool((t, deps) => new MysqlProvisioner(t, deps));
  const id = (name: string) => mysql.escapeId(name, true);
  const hostileTables = [...HOSTILE_TABLES, 'back`tick'];

  const login = (uri: string) => openSession({ engine: 'mysql', uri });

  async function rows(sql: string, values: unknown[] = []): Promise<mysql.RowDataPacket[]> {
    const [result] = await admin.query<mysql.RowDataPacket[]>(sql, values);
    return result;
  }

  const engine: Engine = {
    name: 'MariaDB',
    codes: {
      loginRefused: 'ER_ACCESS_DENIED_ERROR',
      denied: 'ER_TABLEACCESS_DENIED_ERROR',
      killed: 'PROTOCOL_CONNECTION_LOST',
    },
    async setUp() {
      fixture = await createMysqlFixture('prov_myc', ['other']);
      ({ port, app, weird, admin } = fixture);
      other = fixture.extra.other as string;
      await admin.query(`CREATE TABLE ${id(other)}.hidden (id int)`);
      for (const name of hostileTables) {
        await admin.query(`CREATE TABLE ${id(weird)}.${id(name)} (id int)`);
        await admin.query(`INSERT INTO ${id(weird)}.${id(name)} VALUES (7)`);
      }
    },
    ...fixtureParts(() => fixture, provisioners),
    database: () => app,
    target: (overrides = {}) =>
      provisionerTarget('mysql', 'mysql-test', { port, database: app, schema: app }, overrides),
    readApp: () => ({ schemas: [{ name: app, privileges: ['SELECT'] }] }),
    ordersOnly: () => ({ schemas: [{ name: app, tables: ['orders'], privileges: ['SELECT'] }] }),
    appTable: (name) => name,
    hiddenTable: () => `${id(other)}.hidden`,
    expectedUri: (s, password) => `mysql://${s.dbUser}:${password}@127.0.0.1:${port}/${app}`,
    login,
    async userExists(user) {
      return (await rows('SELECT 1 FROM mysql.user WHERE User = ?', [user])).length > 0;
    },
    async connectionLimit(user) {
      const limits = await rows("SELECT max_user_connections FROM mysql.user WHERE User = ? AND Host = '%'", [
        user,
      ]);
      return Number(limits[0]?.max_user_connections);
    },
    async loginBlocked(user) {
      const shown = await rows(`SHOW CREATE USER ${mysql.escape(user)}@'%'`);
      return Object.values(shown[0] ?? {}).some((line) => String(line).includes('ACCOUNT LOCK'));
    },
    async blockAndLimit(user, limit) {
      await admin.query(
        `ALTER USER ${mysql.escape(user)}@'%' WITH MAX_USER_CONNECTIONS ${limit} ACCOUNT LOCK`,
      );
    },
    createLookalike: async (name) => void (await admin.query(`CREATE USER ${mysql.escape(name)}@'%'`)),
    dropLookalike: async (name) => void (await admin.query(`DROP USER ${mysql.escape(name)}@'%'`)),
    hostile: {
      tables: hostileTables,
      overrides: () => ({ database: weird }),
      schema: () => weird,
      qualified: (name) => `${id(weird)}.${id(name)}`,
      async tablesInSchema() {
        const tables = await rows(
          'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY BINARY TABLE_NAME',
          [weird],
        );
        return tables.map((row) => String(row.name));
      },
      adminRows: (sql) => rows(sql),
    },
    sleepQuery: 'SELECT SLEEP(30)',
    async sleeping(user) {
      const busy = await rows(
        "SELECT 1 FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO LIKE 'SELECT SLEEP%'",
        [user],
      );
      return busy.length > 0;
    },
    /** Creates a table (nothing owns it on MariaDB, so revoke leaves it; definer objects are tested apart). */
    async grantedUserWithObjects(p, t) {
      const s = spec(t, engine.readApp());
      await p.grant(s);
      // Test setup, not the level: lets the user create a table before it is revoked.
      // `_` escaped as the provisioner does: MariaDB applies only the most specific matching database row.
      await admin.query(
        `GRANT CREATE ON ${id(app.replaceAll('_', '\\_'))}.* TO ${mysql.escape(s.dbUser)}@'%'`,
      );
      const credentials = await p.credentials(s);
      const session = await login(credentials.uri);
      await session.query(`CREATE TABLE made_by_${s.requestId} (id int)`);
      return { s, credentials, session, expectObjectsGone: async () => undefined };
    },
    revokeSteps: ['block-logins', 'terminate-sessions', 'drop-definer-objects', 'drop-user'],
    checkTarget: () => engine.target(),
  };
  return engine;
}

describe.each([postgres(), mariadb()])('$name provisioner contract', (engine) => {
  const { codes } = engine;
  const loginRefusal = (uri: string) => errorCode(async () => (await engine.login(uri)).end());
  const sqlError = (session: ClientSession, sql: string) => errorCode(() => session.query(sql));

  const granted = (privileges: unknown = engine.readApp()) =>
    grantedWith(engine.target, engine.provisioner, privileges);

  beforeAll(() => engine.setUp());
  afterAll(() => engine.tearDown());

  describe('grant and credentials', () => {
    it('grants a user who logs in with the returned URI and may only read the level’s tables', async () => {
      const t = engine.target();
      const p = engine.provisioner(t);
      const s = spec(t, engine.readApp());
      const [port, database] = [engine.port(), engine.database()];
      expect(await p.grant(s)).toEqual({ host: '127.0.0.1', port, database });
      const credentials = await p.credentials(s);
      expect(credentials).toMatchObject({
        engine: t.engine,
        kind: 'password',
        host: '127.0.0.1',
        port,
        database,
        username: s.dbUser,
        expiresAt: s.expiresAt.toISOString(),
      });
      expect(credentials.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(credentials.uri).toBe(engine.expectedUri(s, credentials.password));
      const user = await engine.login(credentials.uri);
      expect(await user.query(`SELECT item FROM ${engine.appTable('orders')}`)).toEqual([{ item: 'book' }]);
      expect(await user.query(`SELECT name FROM ${engine.appTable('customers')}`)).toEqual([{ name: 'ada' }]);
      expect(await sqlError(user, `INSERT INTO ${engine.appTable('orders')} VALUES (2, 'pen')`)).toBe(
        codes.denied,
      );
      expect(await sqlError(user, `SELECT * FROM ${engine.hiddenTable()}`)).toBe(codes.denied);
      await user.end();
      expect(await engine.connectionLimit(s.dbUser)).toBe(3);
      await p.revoke(s);
    });

    it('limits a narrowed level to its named tables', async () => {
      const { p, s } = await granted(engine.ordersOnly());
      const user = await engine.login((await p.credentials(s)).uri);
      expect(await user.query(`SELECT id FROM ${engine.appTable('orders')}`)).toEqual([{ id: 1 }]);
      expect(await sqlError(user, `SELECT * FROM ${engine.appTable('customers')}`)).toBe(codes.denied);
      await user.end();
      await p.revoke(s);
    });

    it('names a table the database does not have with ScopeObjectMissingError, the database’s words in it', async () => {
      const t = engine.target();
      const p = engine.provisioner(t);
      const missing: unknown = JSON.parse(
        JSON.stringify(engine.ordersOnly()).replace('"orders"', '"no_such_table"'),
      );
      const s = spec(t, missing);
      await expect(p.grant(s)).rejects.toMatchObject({
        name: 'ScopeObjectMissingError',
        code: 'SCOPE_NOT_IN_DATABASE',
        message: expect.stringMatching(/no_such_table.* in database .*: the scope names a table or schema/),
      });
      await p.revoke(s);
    });

    it('rotates the password on every credentials fetch', async () => {
      const { p, s } = await granted();
      const first = await p.credentials(s);
      const second = await p.credentials(s);
      expect(second.password).not.toBe(first.password);
      expect(await loginRefusal(first.uri)).toBe(codes.loginRefused);
      expect(await loginRefusal(second.uri)).toBeUndefined();
      await p.revoke(s);
    });

    it('brings an existing user to the spec (logins allowed, new limit) when a grant is retried', async () => {
      const { p, s } = await granted();
      await engine.blockAndLimit(s.dbUser, 1);
      expect(await engine.loginBlocked(s.dbUser)).toBe(true);
      await p.grant({ ...s, connectionLimit: 4 });
      expect(await engine.loginBlocked(s.dbUser)).toBe(false);
      expect(await engine.connectionLimit(s.dbUser)).toBe(4);
      expect(await loginRefusal((await p.credentials(s)).uri)).toBeUndefined();
      await p.revoke(s);
    });

    it('refuses credentials once the grant has ended', async () => {
      const t = engine.target();
      const s = { ...spec(t, engine.readApp()), expiresAt: new Date(Date.now() - 1000) };
      await expect(engine.provisioner(t).credentials(s)).rejects.toMatchObject({
        code: 'REQUEST_NOT_ACTIVE',
      });
    });

    it('quotes hostile table names and grants exactly those tables', async () => {
      const { hostile } = engine;
      const t = engine.target(hostile.overrides());
      const p = engine.provisioner(t);
      const s = spec(t, {
        schemas: [{ name: hostile.schema(), tables: hostile.tables, privileges: ['SELECT'] }],
      });
      await p.grant(s);
      const user = await engine.login((await p.credentials(s)).uri);
      for (const name of hostile.tables) {
        expect(await user.query(`SELECT id FROM ${hostile.qualified(name)}`)).toEqual([{ id: 7 }]);
      }
      expect(await sqlError(user, `SELECT * FROM ${hostile.qualified('y')}`)).toBe(codes.denied);
      await user.end();
      expect(await hostile.adminRows(`SELECT id FROM ${hostile.qualified('y')}`)).toEqual([{ id: 42 }]);
      expect(await hostile.tablesInSchema()).toEqual([...hostile.tables, 'y'].sort());
      await p.revoke(s);
    });

    it('lists only users whose name starts with the literal jit_', async () => {
      const { p, s } = await granted();
      const lookalike = `jitx${randomBytes(4).toString('hex')}`;
      await engine.createLookalike(lookalike);
      const users = await p.listManagedUsers();
      expect(users).toContain(s.dbUser);
      expect(users).not.toContain(lookalike);
      expect(users.every((u) => u.startsWith('jit_'))).toBe(true);
      await engine.dropLookalike(lookalike);
      await p.revoke(s);
    });
  });

  describe('revoke', () => {
    it('blocks logins, ends a session mid-query, removes what the user made and drops the user', async () => {
      const t = engine.target();
      const p = engine.provisioner(t);
      const { s, credentials, session, expectObjectsGone } = await engine.grantedUserWithObjects(p, t);
      const sleeping = session.query(engine.sleepQuery).then(
        () => 'finished',
        (error: { code?: string; message: string }) => error.code ?? error.message,
      );
      await waitFor(() => engine.sleeping(s.dbUser));
      const started = Date.now();
      expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 1 });
      expect(await sleeping).toBe(codes.killed);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await engine.userExists(s.dbUser)).toBe(false);
      expect(await loginRefusal(credentials.uri)).toBe(codes.loginRefused);
      await expectObjectsGone();
    });

    it('succeeds twice, and on a user that was never created, reporting dropped: false', async () => {
      const { t, p, s } = await granted();
      expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 0 });
      expect(await p.revoke(s)).toEqual({ dropped: false, sessionsTerminated: 0 });
      expect(await p.revoke(spec(t, engine.readApp()))).toEqual({ dropped: false, sessionsTerminated: 0 });
    });

    it('exposes its steps in order', () => {
      const t = engine.target();
      const steps = engine.provisioner(t).revokePlan(spec(t, engine.readApp())).steps;
      expect(steps.map((step) => step.name)).toEqual(engine.revokeSteps);
    });

    it('completes after a crash between any two of its steps', async () => {
      const t = engine.target();
      const p = engine.provisioner(t);
      const stepCount = p.revokePlan(spec(t, engine.readApp())).steps.length;
      for (let k = 0; k <= stepCount; k++) {
        const { s, credentials, session } = await engine.grantedUserWithObjects(p, t);
        for (const step of p.revokePlan(s).steps.slice(0, k)) await step.run();
        const report = await p.revoke(s);
        expect(report.dropped, `after ${k} steps`).toBe(k < stepCount);
        expect(await engine.userExists(s.dbUser), `after ${k} steps`).toBe(false);
        expect(await loginRefusal(credentials.uri)).toBe(codes.loginRefused);
        await session.end().catch(() => undefined);
      }
    });
  });

  describe('health check and target down', () => {
    it('passes the health check for the test admin', async () => {
      expect(await engine.provisioner(engine.checkTarget()).check()).toEqual({ ok: true, problems: [] });
    });

    it('raises TargetUnavailableError on grant, credentials and revoke', async () => {
      const closedPort = await freePort();
      const t = engine.target({ port: closedPort });
      const down = new URL(engine.adminUrl());
      down.port = String(closedPort);
      const p = engine.provisioner(t, down.toString());
      const s = spec(t, engine.readApp());
      await expect(p.grant(s)).rejects.toBeInstanceOf(TargetUnavailableError);
      await expect(p.credentials(s)).rejects.toBeInstanceOf(TargetUnavailableError);
      await expect(p.revoke(s)).rejects.toBeInstanceOf(TargetUnavailableError);
    });

    it('raises TargetUnavailableError when the admin password is refused', async () => {
      const t = engine.target();
      const wrong = new URL(engine.adminUrl());
      wrong.password = 'not-the-password';
      await expect(
        engine.provisioner(t, wrong.toString()).revoke(spec(t, engine.readApp())),
      ).rejects.toMatchObject({
        code: 'TARGET_UNAVAILABLE',
      });
    });
  });
});
