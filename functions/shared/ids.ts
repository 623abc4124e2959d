import { randomBytes } from 'node:crypto';
import { newRequestId } from '../domain/naming.js';
import type { Ids } from '../ports.js';

/** The production `Ids`: ULIDs from the wall clock and a CSPRNG, secrets of 32 random bytes. */
export function cryptoIds(now: () => number = Date.now): Ids {
  return {
    requestId: () => newRequestId(now(), randomBytes(10)),
    secret: () => randomBytes(32).toString('base64url'),
  };
}
