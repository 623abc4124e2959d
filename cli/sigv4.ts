import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';

export interface UnsignedRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/**
 * Signs a request for API Gateway (service `execute-api`) with the caller's AWS credentials, found the way
 * the AWS CLI finds them (env, SSO, profile, IMDS). Returns the headers to send.
 */
export async function signForApiGateway(
  request: UnsignedRequest,
  region: string,
  credentials: AwsCredentialIdentity | Provider<AwsCredentialIdentity> = fromNodeProviderChain(),
): Promise<Record<string, string>> {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  const query: Record<string, string> = {};
  for (const [key, value] of request.url.searchParams) query[key] = value;
  const unsigned = new HttpRequest({
    method: request.method,
    protocol: request.url.protocol,
    hostname: request.url.hostname,
    ...(request.url.port === '' ? {} : { port: Number(request.url.port) }),
    path: request.url.pathname,
    query,
    // SigV4 needs the Host header in the canonical request.
    headers: { ...request.headers, host: request.url.host },
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  const signed = await signer.sign(unsigned);
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(signed.headers)) {
    // fetch sets Host itself and refuses to be told.
    if (key.toLowerCase() !== 'host') headers[key] = value;
  }
  return headers;
}
