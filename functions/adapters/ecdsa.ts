import { type KeyObject, verify } from 'node:crypto';

/** Whether `signature` (DER, base64) is `publicKey`'s ECDSA signature of SHA-256(message); false if malformed. */
export function verifyEcdsaSha256(publicKey: KeyObject, message: Uint8Array, signature: string): boolean {
  try {
    return verify('sha256', message, publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
