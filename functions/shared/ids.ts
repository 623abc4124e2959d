import { randomBytes } from 'node:crypto';
import type { Ids } from '../application/ports.js';
import { newRequestId } from '../domain/naming.js';

/** The production `Ids`: ULIDs from the wall clock and a CSPRNG, secrets of 32 random bytes. */
export function cryptoIds(now: () => number = Date.now): Ids {
  return {
    requestId: () => newRequestId(now(), randomBytes(10)),
    secret: () => randomBytes(32).toString('base64url'),
  };
}
