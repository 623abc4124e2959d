import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  parseAdminSecret,
  SecretsManagerAdminCredentials,
  StaticAdminCredentials,
} from '../../functions/adapters/secrets-admin.js';
import { TargetUnavailableError } from '../../functions/domain/errors.js';
import { expectCachedFor, ManualClock, rdsTarget } from './support/rds-fixtures.js';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf';
const target = rdsTarget({ connection: { rdsInstanceId: 'orders-db' }, adminSecretArn: SECRET_ARN });

const sm = mockClient(SecretsManagerClient);
const clock = new ManualClock();
const source = () =>
  new SecretsManagerAdminCredentials(new SecretsManagerClient({ region: 'eu-west-1' }), clock);

beforeEach(() => {
  sm.reset();
  clock.ms = 1_000_000;
});

describe('SecretsManagerAdminCredentials', () => {
  it('reads the RDS-managed secret by its ARN and returns username, password, host and port', async () => {
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({
        username: 'postgres',
        password: 's3cr3t',
        host: 'orders.x.rds.amazonaws.com',
        port: 5432,
        engine: 'postgres',
        dbname: 'orders',
      }),
    });
    expect(await source().get(target)).toEqual({
      username: 'postgres',
      password: 's3cr3t',
      host: 'orders.x.rds.amazonaws.com',
      port: 5432,
      database: 'orders',
    });
    expect(sm.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input)).toEqual([
      { SecretId: SECRET_ARN },
    ]);
  });

  it('serves a cached copy for five minutes, then fetches again', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"username":"postgres","password":"one"}' });
    const admin = source();
    await expectCachedFor(
      clock,
      300_000,
      () => admin.get(target),
      () => sm.commandCalls(GetSecretValueCommand).length,
    );
  });

  it('refetches at once when asked to refresh after an authentication failure', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: '{"username":"postgres","password":"old"}' })
      .resolves({ SecretString: '{"username":"postgres","password":"rotated"}' });
    const admin = source();
    expect((await admin.get(target)).password).toBe('old');
    expect((await admin.get(target, { refresh: true })).password).toBe('rotated');
    expect((await admin.get(target)).password).toBe('rotated');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('maps a Secrets Manager failure to TargetUnavailableError without caching it', async () => {
    const denied = Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' });
    sm.on(GetSecretValueCommand)
      .rejectsOnce(denied)
      .resolves({ SecretString: '{"username":"a","password":"b"}' });
    const admin = source();
    const error = await admin.get(target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnavailableError);
    expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE', details: { targetId: 'orders' } });
    expect(String((error as Error).cause)).toContain('AccessDeniedException');
    expect(await admin.get(target)).toEqual({ username: 'a', password: 'b' });
  });

  it('refuses a secret that is not JSON with username and password, without echoing it', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'hunter2' });
    const error = await source()
      .get(target)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnavailableError);
    expect(JSON.stringify(error)).not.toContain('hunter2');
    expect(String((error as Error).cause)).not.toContain('hunter2');
  });

  it('refuses a target without adminSecretArn and calls nothing', async () => {
    const { adminSecretArn: _unused, ...rest } = target;
    await expect(source().get(rest)).rejects.toBeInstanceOf(TargetUnavailableError);
    expect(sm.calls()).toHaveLength(0);
  });
});

describe('parseAdminSecret', () => {
  it('accepts a string port and drops empty optional fields', () => {
    expect(parseAdminSecret('{"username":"u","password":"p","port":"3306","host":""}')).toEqual({
      username: 'u',
      password: 'p',
      port: 3306,
    });
  });

  it('returns undefined for missing fields, non-objects and invalid JSON', () => {
    expect(parseAdminSecret('{"username":"u"}')).toBeUndefined();
    expect(parseAdminSecret('[]')).toBeUndefined();
    expect(parseAdminSecret('{')).toBeUndefined();
    expect(parseAdminSecret(undefined)).toBeUndefined();
  });
});

describe('StaticAdminCredentials', () => {
  it('decodes user, password, host, port and database from a URL', async () => {
    const admin = new StaticAdminCredentials('postgres://ad%40min:p%2Fw%3Ad@127.0.0.1:6543/postgres');
    expect(await admin.get()).toEqual({
      username: 'ad@min',
      password: 'p/w:d',
      host: '127.0.0.1',
      port: 6543,
      database: 'postgres',
    });
  });
});
