import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequest } from '../../functions/application/create-request.js';
import { grant } from '../../functions/application/grant.js';
import type { Deps } from '../../functions/application/ports.js';
import { Policy } from '../../functions/domain/policy-schema.js';
import { type ApiTestDeps, apiTestDeps } from '../support/api-deps.js';
import { services } from '../support/services.js';
import { onSchema } from '../unit/support/policy-samples.js';

/**
 * A target whose admin lacks what revoke will need is found at grant, before any user exists — not at expiry,
 * when the grant could no longer be taken back. Real PostgreSQL: the admin is a LOGIN role without CREATEROLE.
 */

const suffix = randomBytes(4).toString('hex');
const weakAdmin = `weak_admin_${suffix}`;
let sys: ApiTestDeps;
let deps: Deps;
let adminUrl: string;

beforeAll(async () => {
  const { pgAdminUrl } = services();
  adminUrl = pgAdminUrl;
  const admin = new pg.Client({ connectionString: pgAdminUrl });
  await admin.connect();
  await admin.query(`CREATE ROLE ${weakAdmin} LOGIN PASSWORD 'weak-${suffix}'`);
  await admin.end();
  const weakUrl = new URL(pgAdminUrl);
  weakUrl.username = weakAdmin;
  weakUrl.password = `weak-${suffix}`;
  const url = new URL(pgAdminUrl);
  const policy = Policy.parse({
    version: 1,
    targets: [
      {
        id: 'weak',
        engine: 'postgres',
        connection: { host: url.hostname, port: Number(url.port) },
        database: url.pathname.slice(1) || 'postgres',
        credentialKind: 'password',
        tls: 'disable',
        levels: {
          read: {
            privileges: onSchema('public', 'SELECT'),
            maxDuration: '1h',
            autoApprove: {},
          },
        },
      },
    ],
  });
  sys = await apiTestDeps({ tablesPrefix: 'gc', policy, adminUrl: weakUrl.toString() });
  deps = sys.deps;
});

afterAll(async () => {
  await sys?.close();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${weakAdmin}`);
  await admin.end();
});

describe('the health check at grant', () => {
  it('refuses to grant on a target whose admin cannot create and drop roles, and creates nothing', async () => {
    const caller = { principal: 'erin@example.com', email: 'erin@example.com', via: 'local' as const };
    const { request } = await createRequest(
      { body: { target: 'weak', level: 'read', duration: '10m', reason: 'check' }, caller },
      deps,
    );
    expect(request.status).toBe('APPROVED');
    await expect(grant({ requestId: request.id }, deps)).rejects.toMatchObject({
      code: 'TARGET_MISCONFIGURED',
      message: expect.stringContaining('CREATEROLE'),
    });
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    const { rows } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [request.dbUser]);
    await admin.end();
    expect(rows).toEqual([]);
    expect((await deps.requests.get(request.id))?.status).toBe('APPROVED');
  });
});
