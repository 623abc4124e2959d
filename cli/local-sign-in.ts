/**
 * Assembly mode's sign-in (`npm start -- --assembly` prints JITDB_SSO_URL): the local stand-in for
 * `aws sso login`. The CLI asks it for temporary credentials of the user's Identity Center session and then
 * signs every request with SigV4, exactly as it does against AWS; no identity header is sent.
 */
import type { AwsCredentialIdentity } from '@smithy/types';

/** What the local sign-in answers: the session's credentials and the region to sign for. */
export interface LocalSignIn {
  credentials: AwsCredentialIdentity;
  region: string;
}

/** Signs `user` in at `ssoUrl`; throws with the server's reason when it refuses. */
export async function signInLocally(
  ssoUrl: string,
  user: string,
  fetchImpl: typeof fetch = fetch,
): Promise<LocalSignIn> {
  const response = await fetchImpl(ssoUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    throw new Error(
      typeof body.message === 'string' ? body.message : `sign-in failed (HTTP ${response.status})`,
    );
  }
  const { accessKeyId, secretAccessKey, sessionToken, expiration, region } = body;
  if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string' || typeof region !== 'string') {
    throw new Error('the sign-in answer holds no credentials');
  }
  return {
    credentials: {
      accessKeyId,
      secretAccessKey,
      ...(typeof sessionToken === 'string' ? { sessionToken } : {}),
      ...(typeof expiration === 'string' ? { expiration: new Date(expiration) } : {}),
    },
    region,
  };
}
