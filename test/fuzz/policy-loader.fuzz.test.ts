import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { Policy, PolicyInput } from '../../functions/domain/policy-schema.js';
import { PolicyFileError, parsePolicy } from '../../functions/shared/config.js';
import { validPolicy } from '../unit/support/policy-samples.js';

/**
 * Hostile input to the policy loader: whatever the YAML says, parsePolicy either returns a validated policy
 * or throws PolicyFileError with `path: message` problems — never a TypeError, RangeError or a hang.
 */

/** Runs `parse` and sorts the outcome; any throw other than PolicyFileError fails the property. */
function outcome(text: string): { ok: true; policy: Policy } | { ok: false; problems: string[] } {
  try {
    return { ok: true, policy: parsePolicy(text, 'fuzz.yaml') };
  } catch (error) {
    if (!(error instanceof PolicyFileError)) throw error;
    expect(error.code).toBe('POLICY_INVALID');
    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) expect(typeof problem).toBe('string');
    return { ok: false, problems: error.problems };
  }
}

function report(name: string, runs: number): void {
  console.log(`fuzz: ${runs} cases — policy loader: ${name}`);
}

/** Strings an attacker (or a careless policy author) would try in an identifier. */
const hostileText = fc.oneof(
  fc.constantFrom(
    `public"; DROP TABLE users; --`,
    `x' OR '1'='1`,
    'a\u0000b',
    '\u0000',
    '\u202Eevil\u202C',
    '\u200F\u200E',
    'tab\there',
    'new\nline',
    '`backtick`',
    '$$ dollar $$',
    '\\',
    '"',
    "'",
    '%s%n%x',
    `\${jndi:ldap://x}`,
    '{{7*7}}',
    '__proto__',
    'constructor',
    'prototype',
    'ß'.repeat(40),
    '🙂'.repeat(40),
    'a'.repeat(63),
    'a'.repeat(64),
    '',
    ' ',
    '*',
  ),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
);

/** Where a hostile string can land in a policy. */
const PLACES = [
  'targetId',
  'database',
  'schemaName',
  'tableName',
  'levelName',
  'approver',
  'host',
  'ticketPattern',
  'description',
  'duration',
  'privilege',
  'role',
] as const;
type Place = (typeof PLACES)[number];

function withHostile(place: Place, value: string): PolicyInput {
  const policy = validPolicy();
  const target = policy.targets[0];
  if (!target) throw new Error('sample policy has no target');
  const read = target.levels.read;
  if (!read) throw new Error('sample policy has no read level');
  const schema = read.privileges.schemas?.[0];
  if (!schema) throw new Error('sample policy has no schema grant');
  switch (place) {
    case 'targetId':
      target.id = value;
      break;
    case 'database':
      target.database = value;
      break;
    case 'schemaName':
      schema.name = value;
      break;
    case 'tableName':
      schema.tables = [value];
      break;
    case 'levelName':
      target.levels = { [value]: read };
      break;
    case 'approver':
      read.approvers = [value];
      break;
    case 'host':
      target.connection = { host: value, port: 5432 };
      break;
    case 'ticketPattern':
      read.ticketPattern = value;
      break;
    case 'description':
      read.description = value;
      break;
    case 'duration':
      read.maxDuration = value;
      break;
    case 'privilege':
      (schema as { privileges: unknown[] }).privileges = [value];
      break;
    case 'role':
      (read.privileges as { roles: unknown[] }).roles = [value];
      break;
  }
  return policy;
}

function hasControl(text: string): boolean {
  return [...text].some((c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || code === 0x7f;
  });
}

describe('policy loader under hostile input', () => {
  it('throws nothing but PolicyFileError for arbitrary text', () => {
    const runs = 3000;
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        outcome(text);
      }),
      { numRuns: runs },
    );
    report('arbitrary text', runs);
  });

  it('throws nothing but PolicyFileError for arbitrary YAML documents, __proto__ and constructor keys included', () => {
    const runs = 1500;
    const keys = fc.oneof(
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'version', 'targets', 'levels', 'toString'),
      fc.string({ maxLength: 12 }),
    );
    const value = fc.anything({
      key: keys,
      maxDepth: 5,
      withNullPrototype: true,
      withMap: true,
      withSet: true,
      withDate: true,
      withBigInt: true,
      withTypedArray: true,
      withSparseArray: true,
    });
    fc.assert(
      fc.property(value, (data) => {
        let text: unknown;
        try {
          text = YAML.stringify(data);
        } catch {
          return; // not representable as YAML: nothing to feed the loader
        }
        // YAML.stringify(undefined) is undefined, not text: the loader takes strings only.
        if (typeof text !== 'string') return;
        const result = outcome(text);
        if (result.ok) expect(result.policy.version).toBe(1);
      }),
      { numRuns: runs },
    );
    report('arbitrary YAML documents', runs);
  });

  it('refuses or keeps verbatim SQL, quotes, NUL bytes and RTL marks in every identifier, and never lets a control character through', () => {
    const runs = 2000;
    fc.assert(
      fc.property(fc.constantFrom(...PLACES), hostileText, (place, value) => {
        const result = outcome(YAML.stringify(withHostile(place, value)));
        if (!result.ok) return;
        const target = result.policy.targets[0];
        const level = target ? Object.values(target.levels)[0] : undefined;
        const schema = level?.privileges.schemas[0];
        const identifiers = [
          target?.database,
          schema?.name,
          ...(Array.isArray(schema?.tables) ? schema.tables : []),
        ];
        for (const id of identifiers) {
          if (id === undefined) continue;
          expect(hasControl(id)).toBe(false);
          expect(id.length).toBeGreaterThan(0);
          expect([...id].length).toBeLessThanOrEqual(63);
        }
        if (place === 'targetId') expect(target?.id).toMatch(/^[a-z][a-z0-9-]{0,62}$/);
        if (place === 'levelName') expect(Object.keys(target?.levels ?? {})).toEqual([value]);
        if (place === 'schemaName') expect(schema?.name).toBe(value);
        if (place === 'tableName') expect(schema?.tables).toEqual([value]);
        if (place === 'database') expect(target?.database).toBe(value);
      }),
      { numRuns: runs },
    );
    report('hostile identifiers', runs);
  });

  // Found by this suite: max(63) counted code points, while PostgreSQL truncates identifiers at 63 bytes
  // (NAMEDATALEN), so 40 × 'ß' (80 bytes) would have been granted on a different, truncated schema name.
  it('refuses an identifier longer than 63 UTF-8 bytes, which PostgreSQL would truncate', () => {
    const result = outcome(YAML.stringify(withHostile('schemaName', 'ß'.repeat(40))));
    expect(result.ok).toBe(false);
  });

  it('refuses an identifier that is 1 MB long, and a 1 MB description, quickly', () => {
    const huge = 'x'.repeat(1024 * 1024);
    const cases = [
      ...(['database', 'schemaName', 'tableName', 'targetId', 'levelName', 'approver', 'host'] as const).map(
        (place) => withHostile(place, huge),
      ),
      withHostile('description', huge),
      withHostile('ticketPattern', `(${huge})`),
      withHostile('duration', `${'9'.repeat(1024 * 1024)}h`),
    ];
    const started = performance.now();
    for (const policy of cases) {
      const result = outcome(YAML.stringify(policy));
      expect(result.ok).toBe(false);
    }
    // A MB-sized string must not send the regexes into backtracking: 10 documents well under 5 s.
    expect(performance.now() - started).toBeLessThan(5000);
    report('1 MB strings', cases.length);
  });

  it('refuses alias bombs, deep nesting and foreign tags without crashing', () => {
    const laughs = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      ...Array.from({ length: 8 }, (_, i) => {
        const ref = String.fromCharCode(97 + i);
        const name = String.fromCharCode(98 + i);
        return `${name}: &${name} [${Array.from({ length: 10 }, () => `*${ref}`).join(',')}]`;
      }),
      'version: 1',
      'targets: *i',
    ].join('\n');
    const documents = [
      laughs,
      `${'['.repeat(5000)}${']'.repeat(5000)}`,
      `${'{a: '.repeat(2000)}1${'}'.repeat(2000)}`,
      Array.from({ length: 3000 }, (_, i) => `${'  '.repeat(i)}- `).join('\n'),
      'version: !!js/function "function(){return 1}"\ntargets: []',
      'version: !!binary aGVsbG8=\ntargets: []',
      'version: !<tag:yaml.org,2002:js/undefined> x\n',
      '%YAML 9.9\n---\nversion: 1\n',
      '---\nversion: 1\n---\nversion: 1\n',
      '\uFEFFversion: 1\ntargets: []',
      'version: 1\ntargets:\n  - &t {id: a}\n  - *t\n  - *t\n',
      '<<: {version: 1}\ntargets: []',
      'version: 1\n__proto__: {polluted: true}\ntargets: []',
      '? [a, b]\n: c\n',
      'version: 0x1\ntargets: []',
      'version: 1.0\ntargets: []',
    ];
    const started = performance.now();
    for (const text of documents) {
      expect(outcome(text).ok).toBe(false);
    }
    expect(performance.now() - started).toBeLessThan(5000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    report('alias bombs, nesting, tags', documents.length);
  });

  it('accepts every single-field mutation of a valid policy only if the result still validates', () => {
    const runs = 1500;
    const leaf = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.string({ maxLength: 20 }),
      hostileText,
      fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.nat(), leaf, (pick, replacement) => {
        const policy = validPolicy() as unknown as Record<string, unknown>;
        const slots = slotsOf(policy);
        const slot = slots[pick % slots.length];
        if (!slot) return;
        slot.parent[slot.key] = replacement;
        const result = outcome(YAML.stringify(policy));
        if (result.ok) expect(result.policy.targets.length).toBe(1);
      }),
      { numRuns: runs },
    );
    report('single-field mutations', runs);
  });
});

interface Slot {
  parent: Record<string, unknown>;
  key: string;
}

/** Every (object, key) pair in a plain JSON tree: the places a mutation can hit. */
function slotsOf(value: unknown): Slot[] {
  if (value === null || typeof value !== 'object') return [];
  const record = value as Record<string, unknown>;
  return Object.keys(record).flatMap((key) => [{ parent: record, key }, ...slotsOf(record[key])]);
}
