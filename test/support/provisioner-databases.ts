import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { inDatabase } from './postgres-catalog.js';
import { services } from './services.js';

/**
 * The throw-away databases the provisioner suites grant on, alike on both engines: `orders` and `customers`
 * (one row each) where the level's one schema reads, and `y` (42) in a schema the level does not name.
 * Each call makes its own, under a random suffix, so suites can run side by side.
 */

/** What a fixture of either engine has: the admin login to the server, its connection, and a way to drop it all. */
interface DatabaseFixture<Admin> {
  adminUrl: string;
  port: number;
  /** `${name}_${extra}_${suffix}` for each extra database asked for (on MySQL, empty). */
  extra: Record<string, string>;
  admin: Admin;
  drop(): Promise<void>;
}

export interface PostgresFixture extends DatabaseFixture<pg.Client> {
  /** The superuser's URL (`adminUrl`) is in this database. */
  database: string;
}

/** A database `${name}_${suffix}` with schemas app (orders, customers), other (hidden) and weird (y). */
export async function createPostgresFixture(
  name: string,
  extraNames: string[] = [],
): Promise<PostgresFixture> {
  const base = services().pgAdminUrl;
  const suffix = randomBytes(4).toString('hex');
  const database = `${name}_${suffix}`;
  const extra = Object.fromEntries(extraNames.map((e) => [e, `${name}_${e}_${suffix}`]));
  const bootstrap = new pg.Client({ connectionString: base });
  await bootstrap.connect();
  for (const db of [database, ...Object.values(extra)]) await bootstrap.query(`CREATE DATABASE ${db}`);
  // Stands in for RDS's built-in rds_iam role, which a plain PostgreSQL does not have.
  await bootstrap.query(`DO $$ BEGIN CREATE ROLE rds_iam; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await bootstrap.end();
  const adminUrl = inDatabase(base, database);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`
    CREATE SCHEMA app;
    CREATE TABLE app.orders (id int PRIMARY KEY, item text);
    CREATE TABLE app.customers (id int PRIMARY KEY, name text);
    INSERT INTO app.orders VALUES (1, 'book');
    INSERT INTO app.customers VALUES (1, 'ada');
    CREATE SCHEMA other;
    CREATE TABLE other.hidden (id int);
    CREATE SCHEMA weird;
    CREATE TABLE weird.y (id int);
    INSERT INTO weird.y VALUES (42);
  `);
  return {
    adminUrl,
    port: Number(new URL(base).port),
    database,
    extra,
    admin,
    async drop() {
      await admin.end();
      const cleanup = new pg.Client({ connectionString: base });
      await cleanup.connect();
      for (const db of [database, ...Object.values(extra)]) {
        await cleanup.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      }
      await cleanup.end();
    },
  };
}

export interface MysqlFixture extends DatabaseFixture<mysql.Connection> {
  suffix: string;
  /** `${name}_${suffix}`: orders and customers. */
  app: string;
  /** `${name}_weird_${suffix}`: y. */
  weird: string;
}

const id = (name: string) => mysql.escapeId(name, true);

/** Databases `${name}_${suffix}` (orders, customers) and `${name}_weird_${suffix}` (y), and the extras. */
export async function createMysqlFixture(name: string, extraNames: string[] = []): Promise<MysqlFixture> {
  const adminUrl = services().mysqlAdminUrl;
  const suffix = randomBytes(4).toString('hex');
  const app = `${name}_${suffix}`;
  const weird = `${name}_weird_${suffix}`;
  const extra = Object.fromEntries(extraNames.map((e) => [e, `${name}_${e}_${suffix}`]));
  const databases = [app, weird, ...Object.values(extra)];
  const admin = await mysql.createConnection({ uri: adminUrl });
  for (const db of databases) await admin.query(`CREATE DATABASE ${id(db)}`);
  await admin.query(`CREATE TABLE ${id(app)}.orders (id int PRIMARY KEY, item text)`);
  await admin.query(`CREATE TABLE ${id(app)}.customers (id int PRIMARY KEY, name text)`);
  await admin.query(`INSERT INTO ${id(app)}.orders VALUES (1, 'book')`);
  await admin.query(`INSERT INTO ${id(app)}.customers VALUES (1, 'ada')`);
  await admin.query(`CREATE TABLE ${id(weird)}.y (id int)`);
  await admin.query(`INSERT INTO ${id(weird)}.y VALUES (42)`);
  return {
    adminUrl,
    port: Number(new URL(adminUrl).port || 3306),
    suffix,
    app,
    weird,
    extra,
    admin,
    async drop() {
      for (const db of databases) await admin.query(`DROP DATABASE IF EXISTS ${id(db)}`);
      await admin.end();
    },
  };
}
