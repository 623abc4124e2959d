import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlProvisioner } from '../../functions/adapters/mysql-provisioner.js';
import { isRdsTarget } from '../../functions/adapters/mysql-sql.js';
import type { GrantSpec } from '../../functions/application/ports.js';
import { TargetNotConfiguredForIamError } from '../../functions/domain/errors.js';
import type { Target } from '../../functions/domain/policy-schema.js';
import { createMysqlFixture, type MysqlFixture } from '../support/provisioner-databases.js';
import {
  errorCode,
  provisionerPool,
  provisionerTarget,
  grantSpec as spec,
  type TargetOverrides,
} from '../support/provisioner-fixtures.js';

/** Names a temporary user may give its own objects: revoke puts them in SQL, so they must be quoted. */
const HOSTILE_OBJECTS = ['trg`tick', "trg'quote", 'trg; DROP TABLE y', 'trg.dot'];

let adminUrl: string;
let port: number;
let app: string;
let lookalikeDb: string;
let weird: string;
let admin: mysql.Connection;
const provisioners = provisionerPool((t, deps) => new MysqlProvisioner(t, deps));

function target(overrides: TargetOverrides = {}): Target {
  return provisionerTarget('mysql', 'mysql-test', { port, database: app, schema: app }, overrides);
}

function provisioner(t: Target, url = adminUrl): MysqlProvisioner {
  return provisioners.create(t, url);
}

/** A fresh target, its provisioner, and the spec of a grant of `privileges` it has made. */
async function granted(privileges: unknown = readApp()) {
  const t = target();
  const p = provisioner(t);
  const s = spec(t, privileges);
  await p.grant(s);
  return { t, p, s };
}

const readApp = () => ({ schemas: [{ name: app, privileges: ['SELECT'] }] });

async function login(uri: string): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({ uri, connectTimeout: 5_000 });
  connection.on('error', () => undefined);
  return connection;
}

const sqlError = (connection: mysql.Connection, sql: string) => errorCode(() => connection.query(sql));

async function userExists(user: string): Promise<boolean> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT 1 FROM mysql.user WHERE User = ?', [user]);
  return rows.length > 0;
}

const id = (name: string) => mysql.escapeId(name, true);

let fixture: MysqlFixture;

beforeAll(async () => {
  fixture = await createMysqlFixture('prov_my');
  ({ adminUrl, port, app, weird, admin } = fixture);
  // Differs from `app` only where it has `_`: an unescaped database-level grant would match it too.
  lookalikeDb = `provxmy_${fixture.suffix}`;
  await admin.query(`CREATE DATABASE ${id(lookalikeDb)}`);
  await admin.query(`CREATE TABLE ${id(lookalikeDb)}.secrets (id int)`);
});

afterAll(async () => {
  await provisioners.closeAll();
  await admin.query(`DROP DATABASE IF EXISTS ${id(lookalikeDb)}`);
  await fixture.drop();
});

describe('the local MariaDB server', () => {
  it.skipIf(process.env.JITDB_MYSQL_URL !== undefined)(
    'keeps its temporary tables and sort files in a directory of its own (owner-only), not the shared /tmp',
    async () => {
      const connection = await mysql.createConnection({ uri: adminUrl });
      try {
        const [[row]] = await connection.query<mysql.RowDataPacket[]>('SELECT @@tmpdir AS dir');
        const dir = String(row?.dir);
        expect(path.basename(dir)).toBe('tmp');
        expect(path.basename(path.dirname(dir))).toMatch(/^jitdb-mysql-/);
        expect(statSync(dir).mode & 0o777).toBe(0o700);
      } finally {
        await connection.end();
      }
    },
  );
});

describe('MySQL password provisioner', () => {
  // Grant, login, rotation, retry, hostile names, listing: provisioner-contract.test.ts, for both engines.
  it('escapes `_` in the database grant, so a database whose name differs only there stays closed', async () => {
    const { p, s } = await granted();
    const user = await login((await p.credentials(s)).uri);
    expect(await sqlError(user, `SELECT * FROM ${id(lookalikeDb)}.secrets`)).toBe(
      'ER_TABLEACCESS_DENIED_ERROR',
    );
    await user.end();
    await p.revoke(s);
  });
});

describe('MySQL revoke of what the user defined', () => {
  async function definedBy(user: string, host = '%'): Promise<string[]> {
    const [rows] = await admin.query<mysql.RowDataPacket[]>(
      `SELECT CONCAT('TRIGGER ', TRIGGER_NAME) AS o FROM information_schema.TRIGGERS WHERE DEFINER = ?
       UNION ALL SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE DEFINER = ?
       UNION ALL SELECT CONCAT('EVENT ', EVENT_NAME) FROM information_schema.EVENTS WHERE DEFINER = ?
       UNION ALL SELECT CONCAT('VIEW ', TABLE_NAME) FROM information_schema.VIEWS WHERE DEFINER = ?`,
      [user, user, user, user].map((u) => `${u}@${host}`),
    );
    return rows.map((row) => String(row.o)).sort();
  }

  it('drops the triggers (hostile names too) a TRIGGER level let the user create, so writes keep working', async () => {
    const t = target();
    const p = provisioner(t);
    const table = `audited_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE TABLE ${id(app)}.${id(table)} (id int)`);
    const s = spec(t, {
      schemas: [{ name: app, tables: [table], privileges: ['SELECT', 'INSERT', 'TRIGGER'] }],
    });
    await p.grant(s);
    const session = await login((await p.credentials(s)).uri);
    for (const name of HOSTILE_OBJECTS) {
      await session.query(
        `CREATE TRIGGER ${id(name)} BEFORE INSERT ON ${id(table)} FOR EACH ROW SET @seen = NEW.id`,
      );
    }
    await session.query(`INSERT INTO ${id(table)} VALUES (1)`);
    expect(await definedBy(s.dbUser)).toEqual(HOSTILE_OBJECTS.map((name) => `TRIGGER ${name}`).sort());

    expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 1 });
    expect(await definedBy(s.dbUser)).toEqual([]);
    // A trigger left with a dangling definer would fail this with ER_NO_SUCH_USER.
    await admin.query(`INSERT INTO ${id(app)}.${id(table)} VALUES (2)`);
    const [rows] = await admin.query(`SELECT id FROM ${id(app)}.${id(table)} ORDER BY id`);
    expect(rows).toEqual([{ id: 1 }, { id: 2 }]);
    await session.end().catch(() => undefined);
  });

  it('drops a trigger whose DEFINER is the user on another host', async () => {
    const t = target();
    const p = provisioner(t);
    const table = `audited_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE TABLE ${id(app)}.${id(table)} (id int)`);
    const s = spec(t, readApp());
    await p.grant(s);
    // Only an admin can name another account as definer: the match is on the user, every host.
    await admin.query(
      `CREATE DEFINER = ${mysql.escape(s.dbUser)}@'localhost' TRIGGER ${id(app)}.${id(`t_${table}`)} BEFORE INSERT ON ${id(app)}.${id(table)} FOR EACH ROW SET @seen = NEW.id`,
    );
    expect(await definedBy(s.dbUser, 'localhost')).toEqual([`TRIGGER t_${table}`]);
    await p.revoke(s);
    expect(await definedBy(s.dbUser, 'localhost')).toEqual([]);
    await admin.query(`INSERT INTO ${id(app)}.${id(table)} VALUES (1)`);
  });

  it('drops views, procedures, functions and events it is the definer of', async () => {
    const { p, s } = await granted();
    // Test setup, not the level (a level grants table privileges only): lets the user define stored objects.
    await admin.query(
      `GRANT CREATE VIEW, CREATE ROUTINE, EVENT ON ${id(app.replaceAll('_', '\\_'))}.* TO ${mysql.escape(s.dbUser)}@'%'`,
    );
    const session = await login((await p.credentials(s)).uri);
    const [view, procedure, fn, event] = HOSTILE_OBJECTS;
    await session.query(`CREATE VIEW ${id(view as string)} AS SELECT item FROM orders`);
    await session.query(`CREATE PROCEDURE ${id(procedure as string)}() SELECT item FROM orders`);
    await session.query(
      `CREATE FUNCTION ${id(fn as string)}() RETURNS int RETURN (SELECT count(*) FROM orders)`,
    );
    await session.query(`CREATE EVENT ${id(event as string)} ON SCHEDULE EVERY 1 DAY DO SELECT 1`);
    await session.end();
    expect(await definedBy(s.dbUser)).toEqual(
      [`VIEW ${view}`, `PROCEDURE ${procedure}`, `FUNCTION ${fn}`, `EVENT ${event}`].sort(),
    );

    expect(await p.revoke(s)).toEqual({ dropped: true, sessionsTerminated: 0 });
    expect(await definedBy(s.dbUser)).toEqual([]);
    expect(await userExists(s.dbUser)).toBe(false);
    const [tables] = await admin.query<mysql.RowDataPacket[]>(
      'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
      [app],
    );
    expect(tables.map((row) => row.name)).toEqual(expect.arrayContaining(['customers', 'orders']));
  });
});

describe('MySQL admin privileges', () => {
  const lowAdmins: string[] = [];
  afterAll(async () => {
    for (const name of lowAdmins) await admin.query(`DROP USER IF EXISTS ${mysql.escape(name)}@'%'`);
  });

  /** An admin account with `global` privileges on *.* and, unless `noGrantOption`, ALL on the app database WITH GRANT OPTION. */
  async function lowAdmin(global: string, { noGrantOption = false } = {}): Promise<string> {
    const name = `lowadm_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    lowAdmins.push(name);
    await admin.query(`CREATE USER ${mysql.escape(name)}@'%' IDENTIFIED BY ${mysql.escape(password)}`);
    await admin.query(`GRANT ${global} ON *.* TO ${mysql.escape(name)}@'%'`);
    if (!noGrantOption) {
      await admin.query(
        `GRANT ALL ON ${id(app.replaceAll('_', '\\_'))}.* TO ${mysql.escape(name)}@'%' WITH GRANT OPTION`,
      );
    }
    const url = new URL(adminUrl);
    url.username = name;
    url.password = password;
    return url.toString();
  }

  /** A provisioner whose admin holds only `global`, with a grant it made and a session of that user open. */
  async function weakWithSession(global: string) {
    const t = target();
    const weak = provisioner(t, await lowAdmin(global));
    const s = spec(t, readApp());
    await weak.grant(s);
    const session = await login((await weak.credentials(s)).uri);
    return { t, weak, s, session };
  }

  it('fails a revoke while a session is open if the admin lacks PROCESS, instead of reporting success', async () => {
    const { t, weak, s, session } = await weakWithSession('CREATE USER, CONNECTION ADMIN');

    await expect(weak.revoke(s)).rejects.toMatchObject({
      name: 'RevokeIncompleteError',
      code: 'REVOKE_INCOMPLETE',
      message: expect.stringContaining('PROCESS'),
    });
    // What a success would have hidden: the session is still there.
    const [alive] = await session.query('SELECT 1 AS one');
    expect(alive).toEqual([{ one: 1 }]);
    expect(await weak.check()).toEqual({ ok: false, problems: [expect.stringContaining('PROCESS')] });

    expect(await provisioner(t).revoke(s)).toEqual({ dropped: true, sessionsTerminated: 1 });
    await session.end().catch(() => undefined);
  });

  it('fails a revoke it may not KILL for, and its health check names CONNECTION ADMIN', async () => {
    const { t, weak, s, session } = await weakWithSession('CREATE USER, PROCESS');
    expect(await weak.check()).toEqual({
      ok: false,
      problems: [expect.stringContaining('CONNECTION ADMIN')],
    });
    await expect(weak.revoke(s)).rejects.toMatchObject({
      code: 'REVOKE_INCOMPLETE',
      message: expect.stringContaining('CONNECTION ADMIN'),
    });
    expect(await provisioner(t).revoke(s)).toEqual({ dropped: true, sessionsTerminated: 1 });
    await session.end().catch(() => undefined);
  });

  it('names CREATE USER and GRANT OPTION on the target database when the admin lacks them', async () => {
    const weak = provisioner(target(), await lowAdmin('PROCESS, CONNECTION ADMIN', { noGrantOption: true }));
    expect(await weak.check()).toEqual({
      ok: false,
      problems: [expect.stringContaining('CREATE USER'), expect.stringContaining(`GRANT OPTION on ${app}`)],
    });
  });

  it('ends sessions with mysql.rds_kill on a target addressed by RDS instance or cluster, or marked rds', () => {
    const base = target();
    expect(isRdsTarget(base)).toBe(false);
    expect(isRdsTarget({ ...base, rds: true })).toBe(true);
    expect(isRdsTarget({ ...base, connection: { rdsInstanceId: 'orders-prod' } })).toBe(true);
    expect(isRdsTarget({ ...base, connection: { rdsClusterId: 'billing-prod' } })).toBe(true);
    expect(isRdsTarget({ ...base, connection: { rdsClusterId: 'billing-prod' }, rds: false })).toBe(false);
  });
});

describe('MySQL concurrent grants and revokes of one level', () => {
  it('grants 10 users at once from 10 processes, then revokes all 10 at once, with sessions open', async () => {
    const t = target();
    // One provisioner each, as 10 Lambda instances would be: no shared pool serialises them.
    const workers = Array.from({ length: 10 }, () => provisioner(t));
    const level = {
      schemas: [
        { name: app, privileges: ['SELECT'] },
        { name: weird, privileges: ['SELECT'], tables: ['y'] },
      ],
    };
    const specs = workers.map(() => spec(t, level));
    const granted = await Promise.allSettled(workers.map((p, i) => p.grant(specs[i] as GrantSpec)));
    expect(granted.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason)))).toEqual(
      Array(10).fill('ok'),
    );
    const sessions = await Promise.all(
      workers.map(async (p, i) => login((await p.credentials(specs[i] as GrantSpec)).uri)),
    );
    const [rows] = await (sessions[0] as mysql.Connection).query(`SELECT id FROM ${id(weird)}.y`);
    expect(rows).toEqual([{ id: 42 }]);

    const revoked = await Promise.allSettled(workers.map((p, i) => p.revoke(specs[i] as GrantSpec)));
    expect(revoked.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual(
      Array(10).fill({ dropped: true, sessionsTerminated: 1 }),
    );
    for (const s of specs) expect(await userExists(s.dbUser)).toBe(false);
    await Promise.allSettled(sessions.map((session) => session.end()));
  });
});

describe('MySQL IAM', () => {
  it('maps MariaDB’s missing AWSAuthenticationPlugin to TargetNotConfiguredForIamError, leaving no user', async () => {
    const t = target({ credentialKind: 'iam' });
    const p = provisioner(t);
    const s = spec(t, readApp());
    await expect(p.grant(s)).rejects.toBeInstanceOf(TargetNotConfiguredForIamError);
    expect(await userExists(s.dbUser)).toBe(false);
  });
});
