import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../functions/domain/errors.js';
import { evaluateExtension } from '../../functions/domain/evaluate.js';
import { applyEvent, type LifecycleEvent, TRANSITIONS } from '../../functions/domain/lifecycle.js';
import type { Privileges, TablePrivilege } from '../../functions/domain/policy-schema.js';
import { narrowPrivileges } from '../../functions/domain/scope.js';
import { type AccessRequest, type Identity, TERMINAL_STATUSES } from '../../functions/domain/types.js';
import { alice, bob, carol, dave, freshRequest, levelOf, NOW, requester } from './support/domain-fixtures.js';

const write = levelOf('write');
const people: Identity[] = [
  alice,
  bob,
  carol,
  dave,
  requester,
  { principal: 'carol@example.com', via: 'approval-link' },
];
const GRANT = { engine: 'postgres', kind: 'password', host: 'h', port: 5432, database: 'd' } as const;

const person = fc.constantFrom(...people);
const eventArb: fc.Arbitrary<LifecycleEvent | { type: 'extend'; seconds: number }> = fc.oneof(
  person.map((by) => ({ type: 'approve' as const, by })),
  person.map((by) => ({ type: 'deny' as const, by })),
  fc.constant({ type: 'cancel' as const, by: requester }),
  fc.constant({ type: 'approval-expired' as const }),
  fc.constant({ type: 'escalated' as const }),
  fc.constant({ type: 'granted' as const, grant: GRANT }),
  fc.constant({ type: 'grant-failed' as const, error: { code: 'TARGET_UNAVAILABLE', message: 'down' } }),
  fc.integer({ min: 60, max: 4 * 3600 }).map((seconds) => ({ type: 'extend' as const, seconds })),
  person.map((by) => ({ type: 'extension-approve' as const, by })),
  person.map((by) => ({ type: 'extension-deny' as const, by })),
  fc.constant({ type: 'revoked' as const, reason: 'expired' as const }),
  fc.constant({ type: 'revoke-failed' as const, error: { code: 'TARGET_UNAVAILABLE', message: 'down' } }),
);

describe('lifecycle properties', () => {
  it('any sequence of events only follows the table, and a grant never outlives the level maximum', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(eventArb, fc.integer({ min: 0, max: 600 })), { maxLength: 25 }),
        (steps) => {
          let request: AccessRequest = freshRequest({ level: 'write', ticket: 'INC-1', duration: 3600 });
          let clock = NOW.getTime();
          for (const [step, advance] of steps) {
            clock += advance * 1000;
            const now = new Date(clock);
            const before = request;
            try {
              let event: LifecycleEvent;
              if (step.type === 'extend') {
                const evaluation = evaluateExtension(
                  request,
                  { duration: step.seconds, reason: 'r' },
                  write,
                  now,
                );
                event = { type: 'extension-requested', by: requester, ...evaluation };
              } else {
                event = step;
              }
              request = applyEvent(request, event, { level: write, now }).next;
              expect(TRANSITIONS[event.type][before.status]).toContain(request.status);
            } catch (error) {
              expect(error).toBeInstanceOf(DomainError);
              continue;
            }
            if (TERMINAL_STATUSES.includes(before.status)) throw new Error(`left terminal ${before.status}`);
            if (request.status === 'APPROVED' && before.status === 'PENDING') {
              expect(new Set(request.approvals.map((d) => d.email ?? d.by)).size).toBeGreaterThanOrEqual(2);
              expect(request.approvals.some((d) => d.by === requester.principal)).toBe(false);
            }
            if (request.grant) {
              const total = Date.parse(request.grant.expiresAt) - Date.parse(request.grant.grantedAt);
              expect(total).toBeLessThanOrEqual((write.extension.maxTotal ?? write.maxDuration) * 1000);
              expect(request.expiresAt).toBe(request.grant.expiresAt);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('scope properties', () => {
  const names = fc.constantFrom('public', 'billing', 'audit');
  const tables = fc.constantFrom('a', 'b', 'c', 'd');
  const privileges = fc.constantFrom<TablePrivilege>('SELECT', 'INSERT', 'UPDATE', 'DELETE');
  const grantArb = fc
    .record({
      name: names,
      tables: fc.oneof(fc.constant('*' as const), fc.uniqueArray(tables, { minLength: 1 })),
      privileges: fc.uniqueArray(privileges, { minLength: 1 }),
      defaultPrivileges: fc.boolean(),
    })
    // The policy schema only allows default privileges on a whole schema.
    .map((g) => ({ ...g, defaultPrivileges: g.defaultPrivileges && g.tables === '*' }));
  const levelArb: fc.Arbitrary<Privileges> = fc.record({
    roles: fc.constantFrom<Privileges['roles']>([], ['pg_read_all_data']),
    schemas: fc.array(grantArb, { minLength: 1, maxLength: 4 }),
  });
  const scopeArb = fc.record({
    schemas: fc.array(
      fc.record(
        {
          name: names,
          tables: fc.uniqueArray(tables, { minLength: 1 }),
          privileges: fc.uniqueArray(privileges, { minLength: 1 }),
        },
        { requiredKeys: ['name'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  });

  it('a scope is refused or narrows: every granted (schema, table, privilege) is granted by the level', () => {
    fc.assert(
      fc.property(levelArb, scopeArb, (level, scope) => {
        let narrowed: Privileges;
        try {
          narrowed = narrowPrivileges(level, scope);
        } catch (error) {
          expect((error as DomainError).code).toBe('SCOPE_NOT_IN_LEVEL');
          return;
        }
        expect(narrowed.roles).toEqual([]);
        for (const grant of narrowed.schemas) {
          for (const privilege of grant.privileges) {
            const tablesOut = grant.tables === '*' ? ['*'] : grant.tables;
            for (const table of tablesOut) {
              const covered = level.schemas.some(
                (g) =>
                  g.name === grant.name &&
                  g.privileges.includes(privilege) &&
                  (g.tables === '*' || (table !== '*' && g.tables.includes(table))),
              );
              expect(covered).toBe(true);
            }
          }
          if (grant.defaultPrivileges) expect(grant.tables).toBe('*');
        }
      }),
      { numRuns: 500 },
    );
  });
});
