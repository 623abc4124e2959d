import { afterEach, describe, expect, it, vi } from 'vitest';
import { IAM_TOKEN_LIFETIME_SECONDS, mintIamToken } from '../../functions/adapters/rds-iam-token.js';

const credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const request = {
  host: 'db.example.eu-west-1.rds.amazonaws.com',
  port: 5432,
  username: 'jit_01jx5e8k3z9q7w2v4t6r8p0m1n',
  region: 'eu-west-1',
  credentials,
};

afterEach(() => {
  vi.useRealTimers();
});

describe('mintIamToken', () => {
  it('presigns an rds-db connect URL for the host, port, user and region, valid 900 seconds', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2025-03-04T05:06:07Z'));
    const { token, expiresAt } = await mintIamToken(request, new Date('2025-03-04T05:06:07Z'));
    const url = new URL(`https://${token}`);
    expect(url.host).toBe('db.example.eu-west-1.rds.amazonaws.com:5432');
    expect(url.pathname).toBe('/');
    expect(url.searchParams.get('Action')).toBe('connect');
    expect(url.searchParams.get('DBUser')).toBe('jit_01jx5e8k3z9q7w2v4t6r8p0m1n');
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toBe(
      'AKIAIOSFODNN7EXAMPLE/20250304/eu-west-1/rds-db/aws4_request',
    );
    expect(url.searchParams.get('X-Amz-Date')).toBe('20250304T050607Z');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(expiresAt.toISOString()).toBe('2025-03-04T05:21:07.000Z');
    expect(IAM_TOKEN_LIFETIME_SECONDS).toBe(900);
  });

  it('mints a different token on each fetch a second apart', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2025-03-04T05:06:07Z'));
    const first = await mintIamToken(request);
    vi.setSystemTime(new Date('2025-03-04T05:06:08Z'));
    const second = await mintIamToken(request);
    expect(second.token).not.toBe(first.token);
  });

  it('carries a session token when the signing credentials have one', async () => {
    const { token } = await mintIamToken({
      ...request,
      credentials: { ...credentials, sessionToken: 'FwoG/session+token=' },
    });
    expect(new URL(`https://${token}`).searchParams.get('X-Amz-Security-Token')).toBe('FwoG/session+token=');
  });
});
