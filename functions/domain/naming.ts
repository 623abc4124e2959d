/**
 * Request ids and the database user names derived from them. Pure: the clock and the randomness are
 * parameters, so ids are reproducible in tests.
 */

/** Crockford base32, lowercase: no i, l, o, u (unambiguous when read aloud or copied by hand). */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const MAX_TIME_MS = 2 ** 48 - 1;
const REQUEST_ID_PATTERN = /^[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const DB_USER_PREFIX = 'jit_';

/**
 * A lowercase ULID: 10 characters of milliseconds since the epoch, then 16 of the 10 random bytes.
 * Time-ordered, so ids sort by creation time in DynamoDB and in listings.
 */
export function newRequestId(nowMs: number, random: Uint8Array): string {
  if (!Number.isInteger(nowMs) || nowMs < 0 || nowMs > MAX_TIME_MS) {
    throw new RangeError(`time ${nowMs} is outside the ULID range`);
  }
  if (random.length !== 10) throw new RangeError(`a ULID needs 10 random bytes, got ${random.length}`);
  let time = '';
  let rest = nowMs;
  for (let i = 0; i < 10; i++) {
    time = charAt(rest % 32) + time;
    rest = Math.floor(rest / 32);
  }
  // 80 bits → 16 characters of 5 bits each, most significant first.
  let bits = 0n;
  for (const byte of random) bits = (bits << 8n) | BigInt(byte);
  let randomPart = '';
  for (let i = 0; i < 16; i++) {
    randomPart = charAt(Number(bits & 31n)) + randomPart;
    bits >>= 5n;
  }
  return time + randomPart;
}

function charAt(index: number): string {
  return ALPHABET.charAt(index);
}

/** True for a lowercase ULID as produced by `newRequestId`. */
export function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value);
}

/** The milliseconds encoded in a request id's first 10 characters. */
export function requestIdTime(requestId: string): number {
  if (!isRequestId(requestId)) throw new RangeError('not a request id');
  let ms = 0;
  for (const c of requestId.slice(0, 10)) ms = ms * 32 + ALPHABET.indexOf(c);
  return ms;
}

/** The database user a request owns: `jit_` + its id (30 characters, within MySQL's 32). */
export function dbUserFor(requestId: string): string {
  if (!isRequestId(requestId)) throw new RangeError('not a request id');
  return DB_USER_PREFIX + requestId;
}

/** True for a user this system created (and so may drop): `jit_` followed by a request id. */
export function isManagedDbUser(name: string): boolean {
  return name.startsWith(DB_USER_PREFIX) && isRequestId(name.slice(DB_USER_PREFIX.length));
}

/** The request id behind a managed database user, or undefined for any other user. */
export function requestIdOfDbUser(name: string): string | undefined {
  return isManagedDbUser(name) ? name.slice(DB_USER_PREFIX.length) : undefined;
}
