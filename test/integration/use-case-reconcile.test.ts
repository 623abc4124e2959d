import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CONFLICT_BACKOFF_CAP_MS,
  conflictBackoffMs,
  retryOnConflict,
} from '../../functions/application/conflict-retry.js';
import { createRequest } from '../../functions/application/create-request.js';
import { expirySweeper, SweepInput } from '../../functions/application/expiry-sweeper.js';
import { grant } from '../../functions/application/grant.js';
import type { Deps, Provisioners } from '../../functions/application/ports.js';
import {
  GRANT_IN_FLIGHT_SECONDS,
  serverKeyOf,
} from '../../functions/application/sweeper/reconcile-orphans.js';
import { ConflictError } from '../../functions/domain/errors.js';
import type { PolicyInput } from '../../functions/domain/policy-schema.js';
import {
  createTestDatabase,
  delegatingStore,
  ERIN,
  ordersPolicy,
  startTestSystem,
  type TestDatabase,
  type TestSystem,
} from '../support/deps.js';
import { testRequestId } from '../support/dynamodb-local.js';
import { services } from '../support/services.js';

/**
 * The reconciler with two targets (databases) on one PostgreSQL server, the explicit sweep modes, and the
 * time-bounded conflict retry every transitioning use case shares.
 */

let sys: TestSystem;
let orders: TestDatabase;
let billing: TestDatabase;
let admin: pg.Client;

/** `orders` and `billing`: the same levels, two databases of one server. */
function siblingPolicy(): PolicyInput {
  const base = ordersPolicy(orders);
  const [first] = base.targets;
  if (!first) throw new Error('no target');
  return { ...base, targets: [first, { ...first, id: 'billing', database: billing.database }] };
}

beforeAll(async () => {
  const { dynamodbEndpoint, pgAdminUrl } = services();
  orders = await createTestDatabase(pgAdminUrl, 'ucrecon_orders');
  billing = await createTestDatabase(pgAdminUrl, 'ucrecon_billing');
  sys = await startTestSystem({
    dynamodbEndpoint,
    db: orders,
    label: 'uc-reconcile',
    policy: siblingPolicy(),
  });
  admin = new pg.Client({ connectionString: pgAdminUrl });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await sys?.close();
});
beforeEach(async () => {
  sys.clock.set(new Date());
  await sys.freshTables();
  // Users of earlier tests belong to requests in tables since replaced: cleared before each test.
  await reconcileNow();
});

/** A sweep that reconciles now, with the test deps or `deps`: its report. */
function reconcileNow(deps: Deps = sys.deps) {
  return expirySweeper({ reconcile: 'now' }, deps);
}

/** Erin's request for 20 minutes at `level` of `target`, as created. */
async function erinAsks(target: string, level: string, reason: string) {
  return (await createRequest({ body: { target, level, duration: '20m', reason }, caller: ERIN }, sys.deps))
    .request;
}

async function roleExists(name: string): Promise<boolean> {
  return ((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount ?? 0) > 0;
}

function targetNamed(id: string) {
  const target = sys.deps.policy.policy().targets.find((t) => t.id === id);
  if (!target) throw new Error(`no target ${id}`);
  return target;
}

/** A user made straight through the provisioner, as a grant in flight (or a crash before DynamoDB) leaves it. */
async function makeUser(targetId: string, requestId = testRequestId()): Promise<string> {
  const target = targetNamed(targetId);
  const dbUser = `jit_${requestId}`;
  await sys.deps.provisioners.for(target).grant({
    requestId,
    dbUser,
    target,
    privileges: {
      roles: [],
      schemas: [{ name: 'app', privileges: ['SELECT'], tables: '*', defaultPrivileges: false }],
    },
    expiresAt: new Date(Date.now() + 600_000),
    connectionLimit: 1,
  });
  return dbUser;
}

/** The test deps, with every listManagedUsers call recorded by target id. */
function countingListings(): { deps: Deps; listedOn: string[] } {
  const listedOn: string[] = [];
  const real = sys.deps.provisioners;
  const provisioners: Provisioners = {
    for(target) {
      const p = real.for(target);
      return {
        grant: (spec) => p.grant(spec),
        credentials: (spec) => p.credentials(spec),
        extend: (spec, at) => p.extend(spec, at),
        revoke: (spec) => p.revoke(spec),
        check: () => p.check(),
        onceSession: (spec) => p.onceSession(spec),
        listManagedUsers: async () => {
          listedOn.push(target.id);
          return p.listManagedUsers();
        },
      };
    },
  };
  return { deps: { ...sys.deps, provisioners }, listedOn };
}

describe('reconciler across targets sharing one server', () => {
  it('keeps an ACTIVE grant of one target while reconciling, lists the server once, drops only the orphan', async () => {
    const request = await erinAsks('billing', 'quick', 'INC-1');
    expect((await grant({ requestId: request.id }, sys.deps)).status).toBe('ACTIVE');
    const orphan = await makeUser('billing');

    const { deps, listedOn } = countingListings();
    const report = await reconcileNow(deps);

    expect(report).toMatchObject({ reconciled: true, orphansDropped: 1, errors: 0 });
    expect(listedOn).toEqual(['orders']);
    expect([await roleExists(request.dbUser), await roleExists(orphan)]).toEqual([true, false]);
    const stream = `security#${sys.clock.now().toISOString().slice(0, 10)}`;
    const events = (await sys.deps.audit.list(stream)).filter((e) => e.details?.dbUser === orphan);
    expect(events.map((e) => [e.action, e.actor, e.details?.targetId])).toEqual([
      ['orphan-dropped', 'system', 'orders'],
    ]);
  });

  it('keeps the user of a PENDING request created minutes ago (grant in flight), drops it once that is stale', async () => {
    const request = await erinAsks('orders', 'read', 'INC-2');
    expect(request.status).toBe('PENDING');
    await makeUser('orders', request.id);

    expect(await reconcileNow()).toMatchObject({ orphansDropped: 0, errors: 0 });
    expect(await roleExists(request.dbUser)).toBe(true);

    sys.clock.advance(GRANT_IN_FLIGHT_SECONDS + 1);
    expect(await reconcileNow()).toMatchObject({ orphansDropped: 1, errors: 0 });
    expect(await roleExists(request.dbUser)).toBe(false);
  });

  it('keeps the user of an APPROVED request, however old, until the sweeper fails the approval', async () => {
    const request = await erinAsks('billing', 'quick', 'INC-3');
    expect(request.status).toBe('APPROVED');
    await makeUser('billing', request.id);
    sys.clock.advance(GRANT_IN_FLIGHT_SECONDS + 60);
    expect(await reconcileNow()).toMatchObject({ orphansDropped: 0, errors: 0 });
    expect(await roleExists(request.dbUser)).toBe(true);
  });
});

describe('sweep modes', () => {
  it('reconciles hourly when an hour has passed since the last run (not at minute 00), always when now, never when never', async () => {
    const reconciled = async (reconcile?: 'never' | 'hourly' | 'now') =>
      (await expirySweeper(reconcile === undefined ? {} : { reconcile }, sys.deps)).reconciled;
    // Whatever ran before in this suite, an hour and a half later an hourly sweep is due, at any minute.
    const start = new Date(sys.clock.now().getTime() + 90 * 60_000);
    start.setUTCMinutes(37, 0, 0);
    sys.clock.set(start);
    expect(await reconciled('hourly')).toBe(true);
    // Claimed: the next sweeps of that hour do not reconcile again, whatever the minute.
    expect([await reconciled(), await reconciled('hourly'), await reconciled('never')]).toEqual([
      false,
      false,
      false,
    ]);
    expect(await reconciled('now')).toBe(true);
    sys.clock.advance(59 * 60);
    expect(await reconciled('hourly')).toBe(false);
    // One missed sweep (the one at the hour) does not skip a whole hour: the next one is due.
    sys.clock.advance(61);
    expect(await reconciled()).toBe(true);
  });

  it('lists the ACTIVE grants once a sweep, for the use-once and the expiry job alike', async () => {
    const listed: string[] = [];
    const requests = new Proxy(sys.deps.requests, {
      get(store, key, receiver) {
        const value = Reflect.get(store, key, receiver);
        if (key !== 'listByStatus' || typeof value !== 'function') return value;
        return (status: string, ...rest: unknown[]) => {
          listed.push(status);
          return value.call(store, status, ...rest);
        };
      },
    });
    await expirySweeper({ reconcile: 'never' }, { ...sys.deps, requests });
    expect(listed.filter((s) => s === 'ACTIVE')).toEqual(['ACTIVE']);
    expect([...listed].sort()).toEqual(['ACTIVE', 'APPROVED', 'PENDING', 'REVOKE_FAILED']);
  });

  it('accepts only the named modes; nothing is hourly', () => {
    expect(
      [{}, { reconcile: 'never' }, { reconcile: 'hourly' }, { reconcile: 'now' }].map(
        (v) => SweepInput.parse(v).reconcile ?? 'hourly',
      ),
    ).toEqual(['hourly', 'never', 'hourly', 'now']);
    expect(SweepInput.safeParse({ reconcile: true }).success).toBe(false);
  });

  it('keys servers by engine and host/port or RDS identifier', () => {
    const policy = sys.deps.policy.policy();
    const [a, b] = policy.targets;
    if (!a || !b) throw new Error('two targets expected');
    expect(serverKeyOf(a)).toBe(serverKeyOf(b));
    expect(serverKeyOf({ ...a, connection: { host: '127.0.0.1', port: 1 } })).not.toBe(serverKeyOf(a));
    expect(serverKeyOf({ ...a, connection: { rdsInstanceId: 'db1' } })).toBe('postgres|rds-instance||db1');
    expect(
      serverKeyOf({ ...a, engine: 'mysql', connection: { rdsClusterId: 'c', region: 'eu-west-1' } }),
    ).toBe('mysql|rds-cluster|eu-west-1|c');
  });
});

describe('retrying lost conditional writes', () => {
  const noPause = async () => undefined;

  it('keeps re-reading past any fixed count while within the time budget', async () => {
    let attempts = 0;
    const result = await retryOnConflict(
      async () => {
        attempts++;
        if (attempts <= 40) throw new ConflictError();
        return 'saved';
      },
      { sleep: noPause, elapsedMs: () => 0 },
    );
    expect([result, attempts]).toEqual(['saved', 41]);
  });

  it('lets the ConflictError surface once the time budget is spent', async () => {
    let attempts = 0;
    let elapsed = 0;
    const run = retryOnConflict(
      async () => {
        attempts++;
        elapsed += 1_000;
        throw new ConflictError();
      },
      { sleep: noPause, elapsedMs: () => elapsed, budgetMs: 10_000 },
    );
    await expect(run).rejects.toBeInstanceOf(ConflictError);
    expect(attempts).toBe(10);
  });

  it('rethrows anything but a ConflictError at once', async () => {
    let attempts = 0;
    const run = retryOnConflict(
      async () => {
        attempts++;
        throw new Error('boom');
      },
      { sleep: noPause },
    );
    await expect(run).rejects.toThrow('boom');
    expect(attempts).toBe(1);
  });

  it('pauses with full jitter over a doubling window, capped', () => {
    const top = () => 0.9999;
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((i) => conflictBackoffMs(i, top))).toEqual([
      5,
      10,
      20,
      40,
      80,
      160,
      CONFLICT_BACKOFF_CAP_MS,
      CONFLICT_BACKOFF_CAP_MS,
    ]);
    expect(conflictBackoffMs(3, () => 0)).toBe(1);
  });

  it('grants an approved request whose version is bumped by 15 audited refusals while it grants', async () => {
    const request = await erinAsks('orders', 'quick', 'INC-4');
    const real = sys.deps.requests;
    let bumps = 0;
    const deps: Deps = {
      ...sys.deps,
      requests: delegatingStore(real, {
        transition: async (previous, next, audit) => {
          if (audit.action === 'granted' && bumps < 15) {
            // A refused link POST lands between the grant's read and its write.
            bumps++;
            await real.recordEvent(previous, {
              at: sys.clock.now().toISOString(),
              actor: 'mallory@example.com',
              via: 'local',
              action: 'link-refused',
            });
          }
          return real.transition(previous, next, audit);
        },
      }),
    };
    const result = await grant({ requestId: request.id }, deps);
    expect(result.status).toBe('ACTIVE');
    expect(bumps).toBe(15);
    const actions = (await sys.deps.audit.list(request.id)).map((e) => e.action);
    expect(actions).toEqual(['auto-approved', ...Array(15).fill('link-refused'), 'granted']);
    expect((await sys.deps.audit.verify(request.id)).ok).toBe(true);
  });
});
