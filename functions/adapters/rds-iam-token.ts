import { Signer, type SignerConfig } from '@aws-sdk/rds-signer';
import { TargetNotConfiguredForIamError } from '../domain/errors.js';
import type { Target } from '../domain/policy-schema.js';

/** RDS IAM auth tokens are presigned for 15 minutes; AWS fixes this, callers cannot change it. */
export const IAM_TOKEN_LIFETIME_SECONDS = 900;

export interface IamTokenRequest {
  host: string;
  port: number;
  username: string;
  region: string;
  /** Defaults to the SDK's provider chain (the Lambda role). */
  credentials?: SignerConfig['credentials'];
}

/**
 * Mints an RDS IAM authentication token: a SigV4-presigned `connect` URL, computed locally without any
 * network call. The token is a secret: return it to the requester, never log or store it.
 */
export async function mintIamToken(
  request: IamTokenRequest,
  now: Date = new Date(),
): Promise<{ token: string; expiresAt: Date }> {
  const signer = new Signer({
    hostname: request.host,
    port: request.port,
    username: request.username,
    region: request.region,
    ...(request.credentials === undefined ? {} : { credentials: request.credentials }),
  });
  const token = await signer.getAuthToken();
  return { token, expiresAt: new Date(now.getTime() + IAM_TOKEN_LIFETIME_SECONDS * 1000) };
}

/**
 * The IAM credential of one grant on an `iam` target, for either engine: a fresh token for `username` at
 * `endpoint`, valid for new logins until the token or the grant ends, whichever is first.
 */
export async function mintGrantIamToken(
  target: Target,
  endpoint: { host: string; port: number },
  grant: { username: string; expiresAt: Date },
  signing: { region?: string; awsCredentials?: SignerConfig['credentials'] },
  now: Date,
): Promise<{ password: string; credentialExpiresAt: Date }> {
  const region = target.connection.region ?? signing.region;
  if (region === undefined) throw new TargetNotConfiguredForIamError(target.id, new Error('no AWS region'));
  const minted = await mintIamToken(
    {
      host: endpoint.host,
      port: endpoint.port,
      username: grant.username,
      region,
      ...(signing.awsCredentials === undefined ? {} : { credentials: signing.awsCredentials }),
    },
    now,
  );
  return {
    password: minted.token,
    credentialExpiresAt: new Date(Math.min(minted.expiresAt.getTime(), grant.expiresAt.getTime())),
  };
}
