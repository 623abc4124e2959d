import { awsProvisionerDeps } from '../adapters/aws-provisioner-deps.js';
import { type LazyProvisionerFactory, lazyProvisioners } from '../adapters/lazy-provisioners.js';

/**
 * Provisioners for a Lambda that talks to target databases. The engine module and its driver load on the
 * first database call, not at cold start. (The SDK clients stay static imports: esbuild keeps every export
 * of a lazily imported module, which would double client-rds.)
 */
export function lambdaProvisioners(env: NodeJS.ProcessEnv = process.env): LazyProvisionerFactory {
  const region = env.AWS_REGION;
  return lazyProvisioners(async () => awsProvisionerDeps(region ? { region } : {}));
}
