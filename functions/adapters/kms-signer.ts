/**
 * The Signer port on AWS KMS: an asymmetric ECC_NIST_P256 SIGN_VERIFY key. Sign gets SHA-256 of the message
 * (MessageType DIGEST: a digest's heads may exceed Sign's 4 KB limit for raw messages); verification fetches
 * the public key once (kms:GetPublicKey) and checks signatures locally, so verifying needs no kms:Verify and
 * anyone holding the public key can do the same offline.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { Signer } from '../application/ports.js';
import type { DigestSignature } from '../domain/audit-anchor.js';
import { verifyEcdsaSha256 } from './ecdsa.js';
import { lazyOnce } from './lazy-once.js';

export const DIGEST_SIGNING_ALGORITHM = 'ECDSA_SHA_256';

export interface KmsSignerOptions {
  client: KMSClient;
  /** DIGEST_KEY_ID: the key's ARN (or id). */
  keyId: string;
}

export class KmsSigner implements Signer {
  private readonly client: KMSClient;
  private readonly keyId: string;
  private readonly publicKey: () => Promise<KeyObject>;

  constructor(options: KmsSignerOptions) {
    this.client = options.client;
    this.keyId = options.keyId;
    this.publicKey = lazyOnce(async () => {
      const key = await this.client.send(new GetPublicKeyCommand({ KeyId: this.keyId }));
      if (key.KeySpec !== 'ECC_NIST_P256' || key.KeyUsage !== 'SIGN_VERIFY' || !key.PublicKey)
        throw new Error(`${this.keyId} is not an ECC_NIST_P256 SIGN_VERIFY key`);
      return createPublicKey({ key: Buffer.from(key.PublicKey), format: 'der', type: 'spki' });
    });
  }

  async sign(message: Uint8Array): Promise<DigestSignature> {
    const signed = await this.client.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: createHash('sha256').update(message).digest(),
        MessageType: 'DIGEST',
        SigningAlgorithm: DIGEST_SIGNING_ALGORITHM,
      }),
    );
    if (!signed.Signature) throw new Error('KMS Sign returned no signature');
    return {
      signature: Buffer.from(signed.Signature).toString('base64'),
      keyId: signed.KeyId ?? this.keyId,
      algorithm: DIGEST_SIGNING_ALGORITHM,
    };
  }

  async verify(message: Uint8Array, signature: string): Promise<boolean> {
    return verifyEcdsaSha256(await this.publicKey(), message, signature);
  }
}

/** A signer on `keyId` with its own KMS client in `region` (the Lambda wiring's entry point). */
export function kmsSigner(keyId: string, region: string | undefined): KmsSigner {
  return new KmsSigner({ client: new KMSClient(region ? { region } : {}), keyId });
}
