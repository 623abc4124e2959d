import { parse } from 'pg-connection-string';
import { describe, expect, it } from 'vitest';
import { connectionUri, driverTls, randomPassword } from '../../functions/adapters/connection-uri.js';

/** What an RDS IAM token looks like: a presigned URL without scheme, full of & = % / : characters. */
const IAM_TOKEN =
  'db.example.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=jit_01jx&X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=AKIAEXAMPLE%2F20250101%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20250101T000000Z' +
  '&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=abc123';

const base = {
  host: 'db.example.eu-west-1.rds.amazonaws.com',
  port: 5432,
  database: 'orders',
  username: 'jit_01jx5e8k3z9q7w2v4t6r8p0m1n',
} as const;

describe('connectionUri', () => {
  it('renders a PostgreSQL URI with sslmode=require by default TLS', () => {
    expect(connectionUri({ ...base, engine: 'postgres', password: 'pw', tls: 'require' })).toBe(
      'postgres://jit_01jx5e8k3z9q7w2v4t6r8p0m1n:pw@db.example.eu-west-1.rds.amazonaws.com:5432/orders?sslmode=require',
    );
  });

  it('names the sslmode for verify-full and disable', () => {
    expect(connectionUri({ ...base, engine: 'postgres', password: 'pw', tls: 'verify-full' })).toMatch(
      /\?sslmode=verify-full$/,
    );
    expect(connectionUri({ ...base, engine: 'postgres', password: 'pw', tls: 'disable' })).toMatch(
      /\?sslmode=disable$/,
    );
  });

  it('renders a MySQL URI with ssl-mode only when TLS is on', () => {
    expect(connectionUri({ ...base, port: 3306, engine: 'mysql', password: 'pw', tls: 'require' })).toBe(
      'mysql://jit_01jx5e8k3z9q7w2v4t6r8p0m1n:pw@db.example.eu-west-1.rds.amazonaws.com:3306/orders?ssl-mode=REQUIRED',
    );
    expect(
      connectionUri({ ...base, port: 3306, engine: 'mysql', password: 'pw', tls: 'verify-full' }),
    ).toMatch(/\?ssl-mode=VERIFY_IDENTITY$/);
    expect(connectionUri({ ...base, port: 3306, engine: 'mysql', password: 'pw', tls: 'disable' })).toBe(
      'mysql://jit_01jx5e8k3z9q7w2v4t6r8p0m1n:pw@db.example.eu-west-1.rds.amazonaws.com:3306/orders',
    );
  });

  it('round-trips an IAM token as the password through new URL()', () => {
    const uri = connectionUri({ ...base, engine: 'postgres', password: IAM_TOKEN, tls: 'require' });
    const url = new URL(uri);
    expect(decodeURIComponent(url.password)).toBe(IAM_TOKEN);
    expect(decodeURIComponent(url.username)).toBe(base.username);
    expect(url.hostname).toBe(base.host);
    expect(url.port).toBe('5432');
    expect(url.pathname).toBe('/orders');
    expect(url.searchParams.get('sslmode')).toBe('require');
  });

  it('round-trips an IAM token through pg’s connection-string parser', () => {
    const uri = connectionUri({ ...base, engine: 'postgres', password: IAM_TOKEN, tls: 'require' });
    const parsed = parse(uri);
    expect(parsed.password).toBe(IAM_TOKEN);
    expect(parsed.user).toBe(base.username);
    expect(parsed.host).toBe(base.host);
    expect(parsed.port).toBe('5432');
    expect(parsed.database).toBe('orders');
  });

  it('percent-encodes odd user, password and database characters', () => {
    const password = 'p@ss:w/rd?#&=% ';
    const uri = connectionUri({ ...base, database: 'my db', engine: 'mysql', password, tls: 'disable' });
    const url = new URL(uri);
    expect(decodeURIComponent(url.password)).toBe(password);
    expect(decodeURIComponent(url.pathname.slice(1))).toBe('my db');
  });

  it('brackets an IPv6 host', () => {
    const uri = connectionUri({ ...base, host: '::1', engine: 'postgres', password: 'pw', tls: 'disable' });
    expect(new URL(uri).hostname).toBe('[::1]');
  });
});

describe('driverTls', () => {
  it('encrypts without verifying for require, verifies for verify-full, and is off for disable', () => {
    expect(driverTls('require')).toEqual({ rejectUnauthorized: false });
    expect(driverTls('disable')).toBe(false);
    const verify = driverTls('verify-full');
    expect(verify === false ? undefined : verify.rejectUnauthorized).toBe(true);
    expect(verify === false ? 0 : (verify.ca?.length ?? 0)).toBeGreaterThan(0);
  });
});

describe('randomPassword', () => {
  it('is 43 URL-safe characters (32 random bytes) and never repeats', () => {
    const passwords = new Set(Array.from({ length: 100 }, randomPassword));
    expect(passwords.size).toBe(100);
    for (const password of passwords) expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
