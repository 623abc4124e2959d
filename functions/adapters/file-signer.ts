/**
 * The digest key for local runs: an ECDSA P-256 key made with node:crypto on first use and kept (PEM, mode
 * 0600) in the local state directory, or in memory for ephemeral runs. It signs exactly as KMS does with
 * ECC_NIST_P256 / ECDSA_SHA_256: a DER signature over SHA-256 of the message.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Signer } from '../application/ports.js';
import { verifyEcdsaSha256 } from './ecdsa.js';

export class FileSigner implements Signer {
  readonly keyId: string;
  private readonly publicKey: KeyObject;

  constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    const spki = this.publicKey.export({ type: 'spki', format: 'der' });
    this.keyId = `file:${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
  }

  async sign(message: Uint8Array) {
    const signature = sign('sha256', message, this.privateKey).toString('base64');
    return { signature, keyId: this.keyId, algorithm: 'ECDSA_SHA_256' as const };
  }

  async verify(message: Uint8Array, signature: string): Promise<boolean> {
    return verifyEcdsaSha256(this.publicKey, message, signature);
  }
}

/** A fresh in-memory key (ephemeral runs and tests). */
export function ephemeralFileSigner(): FileSigner {
  return new FileSigner(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
}

/** The key in `path`, made there on first use. */
export function fileSigner(path: string): FileSigner {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  }
  return new FileSigner(createPrivateKey(readFileSync(path, 'utf8')));
}
