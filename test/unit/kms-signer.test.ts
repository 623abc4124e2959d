import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { fileSigner } from '../../functions/adapters/file-signer.js';
import { KmsSigner } from '../../functions/adapters/kms-signer.js';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const kms = mockClient(KMSClient);
// Stands in for the key inside KMS: KMS signs the SHA-256 digest it is sent, which is what sign('sha256') does.
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const message = new TextEncoder().encode('{"at":"2026-11-23T10:05:00.000Z","heads":[],"seq":1}');
const signedByKms = sign('sha256', message, privateKey);

beforeEach(() => {
  kms.reset();
});

function signer() {
  return new KmsSigner({ client: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN });
}

describe('KmsSigner.sign', () => {
  it("sends KMS the message's SHA-256 as a DIGEST, to be signed with ECDSA_SHA_256", async () => {
    kms
      .on(SignCommand)
      .resolves({ KeyId: KEY_ARN, Signature: signedByKms, SigningAlgorithm: 'ECDSA_SHA_256' });

    const signature = await signer().sign(message);

    expect(kms.commandCalls(SignCommand).map((call) => call.args[0].input)).toEqual([
      {
        KeyId: KEY_ARN,
        Message: createHash('sha256').update(message).digest(),
        MessageType: 'DIGEST',
        SigningAlgorithm: 'ECDSA_SHA_256',
      },
    ]);
    expect(signature).toEqual({
      signature: Buffer.from(signedByKms).toString('base64'),
      keyId: KEY_ARN,
      algorithm: 'ECDSA_SHA_256',
    });
  });

  it('fails when KMS returns no signature', async () => {
    kms.on(SignCommand).resolves({ KeyId: KEY_ARN });
    await expect(signer().sign(message)).rejects.toThrow('KMS Sign returned no signature');
  });
});

describe('KmsSigner.verify', () => {
  const publicKeyResponse = {
    KeyId: KEY_ARN,
    PublicKey: publicKey.export({ type: 'spki', format: 'der' }),
    KeySpec: 'ECC_NIST_P256' as const,
    KeyUsage: 'SIGN_VERIFY' as const,
  };

  it('checks signatures locally with the public key, fetched once', async () => {
    kms.on(GetPublicKeyCommand).resolves(publicKeyResponse);
    const verifier = signer();
    const other = sign('sha256', message, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);

    expect(await verifier.verify(message, Buffer.from(signedByKms).toString('base64'))).toBe(true);
    expect(await verifier.verify(new TextEncoder().encode('altered'), signedByKms.toString('base64'))).toBe(
      false,
    );
    expect(await verifier.verify(message, other.toString('base64'))).toBe(false);
    expect(await verifier.verify(message, 'not a signature')).toBe(false);
    expect(kms.commandCalls(GetPublicKeyCommand).map((call) => call.args[0].input)).toEqual([
      { KeyId: KEY_ARN },
    ]);
    expect(kms.commandCalls(SignCommand)).toEqual([]);
  });

  it('refuses a key that is not an ECC_NIST_P256 signing key', async () => {
    kms.on(GetPublicKeyCommand).resolves({ ...publicKeyResponse, KeySpec: 'RSA_2048' });
    await expect(signer().verify(message, signedByKms.toString('base64'))).rejects.toThrow(
      'is not an ECC_NIST_P256 SIGN_VERIFY key',
    );
  });
});

describe('fileSigner, the local stand-in', () => {
  it('makes its key on first use, owner-only, and signs as KMS does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitdb-key-'));
    try {
      const path = join(dir, 'digest-key.pem');
      const first = fileSigner(path);
      const again = fileSigner(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(again.keyId).toBe(first.keyId);
      const signed = await first.sign(message);
      expect(signed).toMatchObject({ keyId: first.keyId, algorithm: 'ECDSA_SHA_256' });
      expect(await again.verify(message, signed.signature)).toBe(true);
      expect(await again.verify(new TextEncoder().encode('altered'), signed.signature)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
