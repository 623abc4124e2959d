import { describe, expect, it } from 'vitest';
import {
  dbUserFor,
  isManagedDbUser,
  isRequestId,
  newRequestId,
  requestIdOfDbUser,
  requestIdTime,
} from '../../functions/domain/naming.js';
import { cryptoIds } from '../../functions/shared/ids.js';

const zeros = new Uint8Array(10);
const ones = new Uint8Array(10).fill(0xff);

describe('newRequestId', () => {
  it('encodes the time in the first 10 characters like the ULID spec example', () => {
    expect(newRequestId(1469918176385, zeros)).toBe('01aryz6s410000000000000000');
  });

  it('encodes 80 random bits in the last 16 characters', () => {
    expect(newRequestId(0, ones)).toBe('0000000000zzzzzzzzzzzzzzzz');
    const oneBit = new Uint8Array(10);
    oneBit[9] = 1;
    expect(newRequestId(0, oneBit)).toBe('00000000000000000000000001');
  });

  it('encodes the largest 48-bit time', () => {
    expect(newRequestId(2 ** 48 - 1, zeros)).toBe('7zzzzzzzzz0000000000000000');
  });

  it('sorts by creation time', () => {
    const earlier = newRequestId(1_700_000_000_000, ones);
    const later = newRequestId(1_700_000_000_001, zeros);
    expect(earlier < later).toBe(true);
  });

  it('refuses anything but 10 random bytes', () => {
    expect(() => newRequestId(0, new Uint8Array(9))).toThrow('a ULID needs 10 random bytes, got 9');
  });

  it('refuses times outside 48 bits, negative or fractional', () => {
    expect(() => newRequestId(2 ** 48, zeros)).toThrow(RangeError);
    expect(() => newRequestId(-1, zeros)).toThrow(RangeError);
    expect(() => newRequestId(1.5, zeros)).toThrow(RangeError);
  });

  it('round-trips the time', () => {
    expect(requestIdTime(newRequestId(1_723_456_789_012, ones))).toBe(1_723_456_789_012);
  });
});

describe('isRequestId', () => {
  it('accepts a lowercase ULID', () => {
    expect(isRequestId('01aryz6s410000000000000000')).toBe(true);
  });

  it.each([
    ['uppercase', '01ARYZ6S410000000000000000'],
    ['too short', '01aryz6s41000000000000000'],
    ['too long', '01aryz6s4100000000000000000'],
    ['an excluded letter (u)', '01aryz6s41000000000000000u'],
    ['an excluded letter (i)', '01aryz6s41000000000000000i'],
    ['a time past 48 bits', '80000000000000000000000000'],
    ['SQL', "x'; DROP TABLE y; --aaaaaa"],
    ['empty', ''],
  ])('refuses %s', (_label, value) => {
    expect(isRequestId(value)).toBe(false);
  });

  it('refuses non-strings', () => {
    expect(isRequestId(42)).toBe(false);
    expect(isRequestId(undefined)).toBe(false);
  });
});

describe('database users', () => {
  const id = '01aryz6s410000000000000000';

  it('names the user jit_ + the request id, 30 characters', () => {
    expect(dbUserFor(id)).toBe('jit_01aryz6s410000000000000000');
    expect(dbUserFor(id)).toHaveLength(30);
  });

  it('refuses to derive a user from something that is not a request id', () => {
    expect(() => dbUserFor('alice')).toThrow('not a request id');
  });

  it('recognises managed users and nothing else', () => {
    expect(isManagedDbUser('jit_01aryz6s410000000000000000')).toBe(true);
    expect(isManagedDbUser('jit_admin')).toBe(false);
    expect(isManagedDbUser('postgres')).toBe(false);
    expect(isManagedDbUser('JIT_01aryz6s410000000000000000')).toBe(false);
    expect(isManagedDbUser('jit_01ARYZ6S410000000000000000')).toBe(false);
  });

  it('recovers the request id from a managed user', () => {
    expect(requestIdOfDbUser('jit_01aryz6s410000000000000000')).toBe(id);
    expect(requestIdOfDbUser('rdsadmin')).toBeUndefined();
  });
});

describe('cryptoIds', () => {
  it('makes request ids at the given time', () => {
    const ids = cryptoIds(() => 1469918176385);
    const requestId = ids.requestId();
    expect(isRequestId(requestId)).toBe(true);
    expect(requestId.slice(0, 10)).toBe('01aryz6s41');
  });

  it('makes 32-byte base64url secrets that differ', () => {
    const ids = cryptoIds();
    const a = ids.secret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(ids.secret()).not.toBe(a);
  });
});
