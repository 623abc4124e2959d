import { expect } from 'vitest';
import { type PolicyInput, Target } from '../../../functions/domain/policy-schema.js';

/**
 * The IAM-authenticated `orders` PostgreSQL target the AWS adapter tests resolve and fetch for: one
 * auto-approved level reading everything through pg_read_all_data; `fields` sets where it is and the rest.
 */
export function rdsTarget(fields: Partial<PolicyInput['targets'][number]>): Target {
  return Target.parse({
    id: 'orders',
    engine: 'postgres',
    database: 'orders',
    credentialKind: 'iam',
    levels: {
      read: {
        privileges: { roles: ['pg_read_all_data'] },
        allowDangerousRoles: ['pg_read_all_data'],
        maxDuration: '1h',
        autoApprove: {},
      },
    },
    ...fields,
  });
}

/** The clock an adapter's cache reads (milliseconds), moved by hand. */
export class ManualClock {
  ms = 0;
  readonly now = (): number => this.ms;
}

/**
 * Asserts that `fetch` is served from a cache for `ttlMs` on `clock` and goes to AWS again after it: one call
 * 1 s before the end of the ttl, a second 1 s after it. `calls` counts the AWS calls.
 */
export async function expectCachedFor(
  clock: ManualClock,
  ttlMs: number,
  fetch: () => Promise<unknown>,
  calls: () => number,
): Promise<void> {
  await fetch();
  clock.ms += ttlMs - 1_000;
  await fetch();
  expect(calls()).toBe(1);
  clock.ms += 2_000;
  await fetch();
  expect(calls()).toBe(2);
}
