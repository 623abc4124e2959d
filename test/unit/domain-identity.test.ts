import { describe, expect, it } from 'vitest';
import {
  identityOfSignedCaller,
  parsePrincipalArn,
  personOf,
  samePerson,
} from '../../functions/domain/identity.js';
import { DEFAULT_IDENTITY_TRUST, type IdentityTrust } from '../../functions/domain/policy-identity.js';

const HOME = '111111111111';
const trust: IdentityTrust = DEFAULT_IDENTITY_TRUST;
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'none';
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

describe('identityOfSignedCaller', () => {
  it('reads an email from an IAM Identity Center session name', () => {
    const arn = `arn:aws:sts::${HOME}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/Alice@Example.com`;
    expect(identityOfSignedCaller({ userArn: arn }, trust, HOME)).toEqual({
      principal: arn,
      email: 'alice@example.com',
      via: 'iam',
    });
  });

  it('reads no email from the session name of any other role (the caller chose it)', () => {
    const arn = `arn:aws:sts::${HOME}:assumed-role/GitHubActionsDeploy/carol@example.com`;
    expect(identityOfSignedCaller({ userArn: arn }, trust, HOME)).toEqual({ principal: arn, via: 'iam' });
  });

  it('refuses a non-email Identity Center session name: as the role, it would not tell its users apart', () => {
    const arn = `arn:aws:sts::${HOME}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/alice`;
    expect(() => identityOfSignedCaller({ userArn: arn }, trust, HOME)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_PRINCIPAL' }),
    );
    // The directory may still map the permission set's role to one person.
    const role = `arn:aws:iam::${HOME}:role/AWSReservedSSO_ReadOnly_0123456789abcdef`;
    const mapped = { ...trust, people: { [role]: 'readonly-team@example.com' } };
    expect(identityOfSignedCaller({ userArn: arn }, mapped, HOME).email).toBe('readonly-team@example.com');
  });

  it('takes the email of a directory entry for an IAM user or every session of a role', () => {
    const people = {
      [`arn:aws:iam::${HOME}:user/ops/frank`]: 'frank@example.com',
      [`arn:aws:iam::${HOME}:role/Deployer`]: 'platform-team@example.com',
    };
    const withPeople = { ...trust, people };
    expect(
      identityOfSignedCaller({ userArn: `arn:aws:iam::${HOME}:user/ops/frank` }, withPeople, HOME).email,
    ).toBe('frank@example.com');
    const deployer = `arn:aws:sts::${HOME}:assumed-role/Deployer/anything-at-all`;
    expect(identityOfSignedCaller({ userArn: deployer }, withPeople, HOME).email).toBe(
      'platform-team@example.com',
    );
    // The directory keys the role, so a user named like the role is not it.
    expect(
      identityOfSignedCaller({ userArn: `arn:aws:iam::${HOME}:user/Deployer` }, withPeople, HOME).email,
    ).toBe(undefined);
  });

  it('refuses another account unless the policy lists it, and takes self to mean the home account', () => {
    const foreign = 'arn:aws:sts::999999999999:assumed-role/AWSReservedSSO_A_1/alice@example.com';
    expect(code(() => identityOfSignedCaller({ userArn: foreign }, trust, HOME))).toBe('ACCOUNT_NOT_TRUSTED');
    const listed = { ...trust, accounts: ['self', '999999999999'] };
    expect(identityOfSignedCaller({ userArn: foreign }, listed, HOME).email).toBe('alice@example.com');
    const notSelf = { ...trust, accounts: ['999999999999'] };
    expect(
      code(() => identityOfSignedCaller({ userArn: `arn:aws:iam::${HOME}:user/a` }, notSelf, HOME)),
    ).toBe('ACCOUNT_NOT_TRUSTED');
  });

  it('refuses every caller when the home account is unknown and the policy names only self', () => {
    expect(
      code(() => identityOfSignedCaller({ userArn: `arn:aws:iam::${HOME}:user/a` }, trust, undefined)),
    ).toBe('ACCOUNT_NOT_TRUSTED');
  });

  it('refuses an ARN whose account disagrees with the accountId API Gateway reports', () => {
    const arn = `arn:aws:iam::${HOME}:user/a`;
    expect(code(() => identityOfSignedCaller({ userArn: arn, accountId: '222222222222' }, trust, HOME))).toBe(
      'ACCOUNT_NOT_TRUSTED',
    );
  });

  it.each([
    `arn:aws:sts::${HOME}:federated-user/alice@example.com`,
    `arn:aws:iam::${HOME}:role/NotACaller`,
    'arn:aws:sts::12:assumed-role/R/s',
    `arn:aws:sts::${HOME}:assumed-role/R`,
    'local:alice@example.com',
    `arn:aws:sts::${HOME}:assumed-role/R/${'x'.repeat(65)}`,
  ])('refuses %s as UNSUPPORTED_PRINCIPAL', (arn) => {
    expect(code(() => identityOfSignedCaller({ userArn: arn }, trust, HOME))).toBe('UNSUPPORTED_PRINCIPAL');
  });

  it('accepts the account root, as itself', () => {
    const root = `arn:aws:iam::${HOME}:root`;
    expect(identityOfSignedCaller({ userArn: root }, trust, HOME)).toEqual({ principal: root, via: 'iam' });
  });

  it('parses the GovCloud and China partitions', () => {
    expect(parsePrincipalArn('arn:aws-us-gov:sts::111111111111:assumed-role/R/s1')?.kind).toBe(
      'role-session',
    );
    expect(parsePrincipalArn('arn:aws-cn:iam::111111111111:user/u')?.kind).toBe('user');
  });
});

describe('personOf and samePerson', () => {
  it('makes every session of a role without a trusted name one person: its role', () => {
    const one = { principal: `arn:aws:sts::${HOME}:assumed-role/Dba/session-one` };
    const two = { principal: `arn:aws:sts::${HOME}:assumed-role/Dba/bob@example.com` };
    expect(personOf(one)).toBe(`arn:aws:iam::${HOME}:role/Dba`);
    expect(samePerson(one, two)).toBe(true);
    expect(samePerson(one, { principal: `arn:aws:sts::${HOME}:assumed-role/Dba2/session-one` })).toBe(false);
  });

  it('makes a trusted email the person, whatever the principal', () => {
    const viaSso = {
      principal: `arn:aws:sts::${HOME}:assumed-role/AWSReservedSSO_A_1/erin@example.com`,
      email: 'erin@example.com',
    };
    const viaLink = { principal: 'erin@example.com', email: 'ERIN@example.com' };
    expect(samePerson(viaSso, viaLink)).toBe(true);
    // A role session that merely carries the name is not erin: no trusted email.
    expect(samePerson(viaSso, { principal: `arn:aws:sts::${HOME}:assumed-role/Ci/erin@example.com` })).toBe(
      false,
    );
  });

  it('keeps IAM users apart by ARN', () => {
    expect(
      samePerson({ principal: `arn:aws:iam::${HOME}:user/a` }, { principal: `arn:aws:iam::${HOME}:user/b` }),
    ).toBe(false);
  });
});
