import { type LazyProvisionerFactory, lazyProvisioners } from '../adapters/lazy-provisioners.js';

/**
 * Provisioners for a Lambda that talks to target databases. The Secrets Manager and RDS clients, the engine
 * module and its driver load on the first database call, not at cold start: each is a chunk of its own in
 * the function's bundle (cdk/bundling.ts).
 */
export function lambdaProvisioners(env: NodeJS.ProcessEnv = process.env): LazyProvisionerFactory {
  const region = env.AWS_REGION;
  return lazyProvisioners(async () => {
    const { awsProvisionerDeps } = await import('../adapters/aws-provisioner-deps.js');
    return awsProvisionerDeps(region ? { region } : {});
  });
}
