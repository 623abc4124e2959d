import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { readState, type StateDir, writeState } from './state-dir.js';

/** The database of customers and orders every example target points at. */
export const DEMO_DATABASE = 'demo';
const SAMPLE_DATA = fileURLToPath(new URL('./sample-data.sql', import.meta.url));
const MYSQL_SAMPLE_DATA = fileURLToPath(new URL('./sample-data-mysql.sql', import.meta.url));

/** Creates database `demo` with customers and orders, once (remembered in state.json; the SQL is idempotent). */
export async function loadSampleData(
  adminUrl: string,
  database: string,
  dir: StateDir | undefined,
): Promise<void> {
  const state = dir ? readState(dir) : {};
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  let created = false;
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
      created = true;
    }
  } finally {
    await admin.end();
  }
  if (!created && state.sampleDataLoadedAt) return;
  const demoUrl = new URL(adminUrl);
  demoUrl.pathname = `/${encodeURIComponent(database)}`;
  const demo = new pg.Client({ connectionString: demoUrl.toString() });
  demo.on('error', () => undefined);
  await demo.connect();
  try {
    await demo.query(readFileSync(SAMPLE_DATA, 'utf8'));
  } finally {
    await demo.end();
  }
  if (dir) writeState(dir, { ...state, sampleDataLoadedAt: new Date().toISOString() });
}

/** The demo database on MariaDB, created and filled once (sample-data-mysql.sql, safe to re-run). */
export async function loadMysqlSampleData(adminUrl: string, database: string): Promise<void> {
  const admin = await mysql.createConnection({ uri: adminUrl, multipleStatements: true, charset: 'utf8mb4' });
  try {
    const [rows] = await admin.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [
      database,
    ]);
    if (Array.isArray(rows) && rows.length > 0) return;
    await admin.query(`CREATE DATABASE ${mysql.escapeId(database)} CHARACTER SET utf8mb4`);
    await admin.query(`USE ${mysql.escapeId(database)}`);
    await admin.query(readFileSync(MYSQL_SAMPLE_DATA, 'utf8'));
  } finally {
    await admin.end();
  }
}
