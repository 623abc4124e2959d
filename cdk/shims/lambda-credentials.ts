/**
 * Stands in for `@aws-sdk/credential-provider-node` in Lambda bundles. Lambda puts the function role's
 * credentials in the environment, the first link of the SDK's default chain; the other links (INI files,
 * SSO, web identity, IMDS and the STS/SSO clients they carry, ~100 KB) never run there.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export const credentialsWillNeedRefresh = (credentials?: AwsCredentialIdentity): boolean =>
  credentials?.expiration !== undefined;

export const credentialsTreatedAsExpired = (credentials?: AwsCredentialIdentity): boolean =>
  credentials?.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300_000;

/** The default provider, as the SDK calls it, reduced to the environment (the SDK caches the identity). */
export function defaultProvider(init: Parameters<typeof fromEnv>[0] = {}): AwsCredentialIdentityProvider {
  return fromEnv(init);
}

/**
 * `@aws-sdk/credential-providers`' default chain, which @aws-sdk/rds-signer uses when it is given no
 * credentials (functions/adapters/rds-iam-token.ts on Lambda): the same environment provider, instead of
 * every provider that package carries (Cognito, SSO, INI, process, ...).
 */
export function fromNodeProviderChain(
  init: Parameters<typeof fromEnv>[0] = {},
): AwsCredentialIdentityProvider {
  return fromEnv(init);
}
