import { lazyOnce } from '../adapters/lazy-once.js';
import type { Revoker } from '../application/ports.js';
import { requiredEnv } from './lambda-deps.js';

/**
 * The revoke function (REVOKE_FUNCTION_ARN, in AWS_REGION), its Lambda client imported on the first early
 * revoke, not at cold start (cdk/bundling.ts).
 */
export function lambdaRevoker(env: NodeJS.ProcessEnv = process.env): Revoker {
  const revoker = lazyOnce(async () => {
    const { lambdaRevokerFor } = await import('../adapters/lambda-revoker.js');
    return lambdaRevokerFor(requiredEnv(env, 'REVOKE_FUNCTION_ARN'), env.AWS_REGION);
  });
  return { revokeEarly: async (requestId, by) => (await revoker()).revokeEarly(requestId, by) };
}
