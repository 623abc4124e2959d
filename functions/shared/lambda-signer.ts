import { lazyOnce } from '../adapters/lazy-once.js';
import type { Signer } from '../application/ports.js';

/**
 * The digest key in KMS (DIGEST_KEY_ID, in AWS_REGION), its client imported on the first call, not at cold
 * start (cdk/bundling.ts). Undefined where the function was given no key.
 */
export function lambdaSigner(env: NodeJS.ProcessEnv = process.env): Signer | undefined {
  const keyId = env.DIGEST_KEY_ID;
  if (!keyId) return undefined;
  const region = env.AWS_REGION;
  const signer = lazyOnce(async () => {
    const { kmsSigner } = await import('../adapters/kms-signer.js');
    return kmsSigner(keyId, region);
  });
  return {
    sign: async (message) => (await signer()).sign(message),
    verify: async (message, signature) => (await signer()).verify(message, signature),
  };
}
