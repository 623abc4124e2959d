import { describe, expect, it } from 'vitest';
import { formatPolicyIssues } from '../../functions/domain/policy-issues.js';
import { Policy } from '../../functions/domain/policy-schema.js';
import { validPolicy } from './support/policy-samples.js';

type Change = [path: string, value: unknown];

/** The sample with values set at dotted paths (`targets.0.levels.read.maxDuration`), shapes the types forbid included. */
function changed(changes: Change[]): unknown {
  const policy: unknown = validPolicy();
  for (const [path, value] of changes) {
    const keys = path.split('.');
    const last = keys.pop() ?? '';
    let node = policy as Record<string, unknown>;
    for (const key of keys) node = node[key] as Record<string, unknown>;
    node[last] = value;
  }
  return policy;
}

function problemsAfter(...changes: Change[]): string[] {
  const result = Policy.safeParse(changed(changes));
  return result.success ? [] : formatPolicyIssues(result.error.issues);
}

const READ = 'targets.0.levels.read';
const readLevel = () => validPolicy().targets[0]?.levels.read;

describe('Policy schema', () => {
  it('accepts the minimal policy and fills in the defaults', () => {
    const policy = Policy.parse(validPolicy());
    expect(policy.targets[0]?.environment).toBe('production');
    expect(policy.targets[0]?.tls).toBe('require');
    expect(policy.targets[0]?.levels.read).toEqual({
      privileges: {
        roles: [],
        schemas: [{ name: 'public', tables: '*', privileges: ['SELECT'], defaultPrivileges: false }],
      },
      maxDuration: 3600,
      allowDangerousRoles: [],
      allowDangerousPrivileges: [],
      approvers: ['alice@example.com'],
      approvalLinks: true,
      linkLifetime: 86400,
      approvalsRequired: 1,
      allowSelfApproval: false,
      approvalWindow: 3600,
      requireReason: true,
      extension: { allowed: true, autoApproveUpTo: 0 },
      connectionLimit: 5,
      requests: ['window'],
      statement: { timeout: 30, maxRows: 1000, maxBytes: 65536, retention: 86400 },
    });
  });

  it.each<[string, Change[], string[]]>([
    [
      'a statement timeout over 10m and a result past the ceilings',
      [
        [`${READ}.requests`, ['statement']],
        [`${READ}.statement`, { timeout: '16m', maxRows: 10001, maxBytes: 300000, retention: '8d' }],
      ],
      [
        'targets[0].levels.read.statement.timeout: must be ≤ 10m',
        'targets[0].levels.read.statement.maxRows: must be ≤ 10000',
        'targets[0].levels.read.statement.maxBytes: must be ≤ 262144',
        'targets[0].levels.read.statement.retention: must be ≤ 7d',
      ],
    ],
    [
      'an unknown request kind, and one named twice',
      [[`${READ}.requests`, ['window', 'window', 'query']]],
      ['targets[0].levels.read.requests[2]: must be one of: window, statement'],
    ],
    [
      'a statement timeout longer than the level maxDuration',
      [
        [`${READ}.maxDuration`, '1m'],
        [`${READ}.requests`, ['window', 'statement']],
        [`${READ}.statement`, { timeout: '2m' }],
      ],
      [
        'targets[0].levels.read.statement.timeout: must be ≤ the rule maxDuration (the statement user lives that long at most)',
      ],
    ],
    [
      'a maxDuration over 12h',
      [[`${READ}.maxDuration`, '13h']],
      ['targets[0].levels.read.maxDuration: must be ≤ 12h'],
    ],
    [
      'a duration that is not one',
      [[`${READ}.maxDuration`, 'soon']],
      ["targets[0].levels.read.maxDuration: 'soon' is not a duration (use 30m, 4h, 1h30m)"],
    ],
    [
      'an approval window over 7d',
      [[`${READ}.approvalWindow`, '8d']],
      ['targets[0].levels.read.approvalWindow: must be ≤ 7d'],
    ],
    [
      'an auto-approve maxDuration past the rule maxDuration',
      [[`${READ}.autoApprove`, { maxDuration: '2h' }]],
      [
        "targets[0].levels.read.autoApprove.maxDuration: must be ≤ the level's maxDuration (1h): auto-approve cannot grant longer than the level allows",
      ],
    ],
    [
      'an extension maxTotal below maxDuration',
      [[`${READ}.extension`, { maxTotal: '30m' }]],
      ['targets[0].levels.read.extension.maxTotal: must be ≥ maxDuration'],
    ],
    [
      'a break-glass maxDuration past the rule maxDuration',
      [[`${READ}.breakGlass`, { allowed: true, requesters: ['oncall@example.com'], maxDuration: '2h' }]],
      ["targets[0].levels.read.breakGlass.maxDuration: must be ≤ the level's maxDuration (1h)"],
    ],
    [
      'an escalation due after the approval window closes',
      [[`${READ}.escalation`, { after: '1h', approvers: ['oncall@example.com'] }]],
      ['targets[0].levels.read.escalation.after: must be shorter than approvalWindow'],
    ],
    [
      'default privileges on a fixed table list',
      [
        [
          `${READ}.privileges.schemas.0`,
          { name: 'public', tables: ['t'], privileges: ['SELECT'], defaultPrivileges: true },
        ],
      ],
      ["targets[0].levels.read.privileges.schemas[0].defaultPrivileges: needs tables: '*'"],
    ],
    [
      'a level without approvers or auto-approve',
      [[`${READ}.approvers`, []]],
      ['targets[0].levels.read.approvers: a rule without auto-approve needs approvers'],
    ],
    [
      'more approvals required than approvers',
      [[`${READ}.approvalsRequired`, 2]],
      ['targets[0].levels.read.approvalsRequired: needs 2 approvals but only 1 approvers are listed'],
    ],
    [
      'an approver that is neither email nor ARN',
      [[`${READ}.approvers`, ['alice']]],
      [
        'targets[0].levels.read.approvers[0]: must be an email address or an IAM principal ARN pattern (arn:aws:…)',
      ],
    ],
    [
      'an invalid ticket pattern',
      [[`${READ}.ticketPattern`, '([']],
      ['targets[0].levels.read.ticketPattern: must be a valid regular expression'],
    ],
    [
      'a level granting nothing',
      [[`${READ}.privileges`, {}]],
      ['targets[0].levels.read.privileges: an access level must grant at least one role or schema'],
    ],
    [
      'built-in roles on MySQL',
      [
        ['targets.0.engine', 'mysql'],
        [`${READ}.privileges`, { roles: ['pg_monitor'] }],
      ],
      ['targets[0].levels.read.privileges.roles: built-in roles are PostgreSQL only; use schemas on MySQL'],
    ],
    [
      'a target without levels',
      [['targets.0.levels', {}]],
      ['targets[0].levels: a target needs at least one level'],
    ],
    [
      'a level name that is not an id',
      [['targets.0.levels', { 'Read Only': readLevel() }]],
      [
        'targets[0].levels.Read Only: invalid key: must be lowercase letters, digits and dashes, starting with a letter',
      ],
    ],
    [
      'a target id that is not an id',
      [['targets.0.id', 'App_DB']],
      ['targets[0].id: must be lowercase letters, digits and dashes, starting with a letter'],
    ],
    [
      'a duplicate target id',
      [['targets.1', validPolicy().targets[0]]],
      ["targets[1].id: duplicate target id 'app-db'"],
    ],
    [
      'an admin secret that is not a Secrets Manager ARN',
      [['targets.0.adminSecretArn', 'arn:aws:s3:::bucket']],
      ['targets[0].adminSecretArn: must be a Secrets Manager ARN'],
    ],
    [
      'a NUL byte in a schema name',
      [[`${READ}.privileges.schemas.0.name`, 'a\u0000b']],
      ['targets[0].levels.read.privileges.schemas[0].name: must not contain control characters'],
    ],
    [
      'a NUL byte in a table name',
      [[`${READ}.privileges.schemas.0.tables`, ['t\u0000']]],
      ['targets[0].levels.read.privileges.schemas[0].tables[0]: must not contain control characters'],
    ],
    [
      'a newline in the database name',
      [['targets.0.database', 'a\nb']],
      ['targets[0].database: must not contain control characters'],
    ],
    [
      'an identifier over 63 characters',
      [['targets.0.database', 'x'.repeat(64)]],
      ['targets[0].database: must be at most 63 bytes in UTF-8'],
    ],
    [
      'an unknown table privilege',
      [[`${READ}.privileges.schemas.0.privileges`, ['ALL']]],
      [
        'targets[0].levels.read.privileges.schemas[0].privileges[0]: must be one of: SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER',
      ],
    ],
    [
      'an unknown built-in role',
      [[`${READ}.privileges.roles`, ['superuser']]],
      [
        'targets[0].levels.read.privileges.roles[0]: must be one of: pg_read_all_data, pg_write_all_data, pg_read_all_stats, pg_stat_scan_tables, pg_monitor, pg_signal_backend',
      ],
    ],
    [
      'unknown keys, each with its path',
      [
        [`${READ}.maxDurration`, '1h'],
        ['extra', 1],
      ],
      ['targets[0].levels.read.maxDurration: unknown key', 'extra: unknown key'],
    ],
    [
      'a host connection without a port (the closest connection shape is reported)',
      [['targets.0.connection', { host: 'db' }]],
      ['targets[0].connection.port: is required'],
    ],
    [
      'a port on an RDS instance connection',
      [['targets.0.connection', { rdsInstanceId: 'db', port: 5432 }]],
      ['targets[0].connection.port: unknown key'],
    ],
    ['another version', [['version', 2]], ['version: must be 1']],
    ['no targets', [['targets', []]], ['targets: must have at least 1 item']],
    [
      'a break-glass notify that is not an email',
      [[`${READ}.breakGlass`, { allowed: true, requesters: ['oncall@example.com'], notify: ['security'] }]],
      ['targets[0].levels.read.breakGlass.notify[0]: Invalid email address'],
    ],
    [
      'an escalation without approvers',
      [[`${READ}.escalation`, { after: '30m', approvers: [] }]],
      ['targets[0].levels.read.escalation.approvers: must have at least 1 item'],
    ],
    [
      'a connection limit of 0',
      [[`${READ}.connectionLimit`, 0]],
      ['targets[0].levels.read.connectionLimit: must be ≥ 1'],
    ],
  ])('refuses %s', (_label, changes, expected) => {
    expect(problemsAfter(...changes)).toEqual(expected);
  });

  it('counts escalation approvers towards approvalsRequired', () => {
    expect(
      problemsAfter(
        [`${READ}.approvalsRequired`, 2],
        [`${READ}.escalation`, { after: '30m', approvers: ['oncall@example.com'] }],
      ),
    ).toEqual([]);
  });

  it('accepts a level without approvers when it auto-approves or allows break-glass', () => {
    expect(problemsAfter([`${READ}.approvers`, []], [`${READ}.autoApprove`, {}])).toEqual([]);
    const breakGlass = { allowed: true, requesters: ['oncall@example.com'] };
    expect(problemsAfter([`${READ}.approvers`, []], [`${READ}.breakGlass`, breakGlass])).toEqual([]);
  });

  it('keeps identifiers with quotes and SQL text literally (they are quoted when rendered, never spliced)', () => {
    const parsed = Policy.parse(
      changed([
        [
          `${READ}.privileges.schemas.0`,
          { name: 'we"ird', tables: ['x; DROP TABLE y', "it's"], privileges: ['SELECT'] },
        ],
      ]),
    );
    expect(parsed.targets[0]?.levels.read?.privileges.schemas[0]).toEqual({
      name: 'we"ird',
      tables: ['x; DROP TABLE y', "it's"],
      privileges: ['SELECT'],
      defaultPrivileges: false,
    });
  });

  it('reads durations as seconds', () => {
    const policy = changed([
      [`${READ}.maxDuration`, '1h30m'],
      [`${READ}.approvalWindow`, 900],
    ]);
    const level = Policy.parse(policy).targets[0]?.levels.read;
    expect(level?.maxDuration).toBe(5400);
    expect(level?.approvalWindow).toBe(900);
  });
});

describe('the trust model and eligibility in the policy', () => {
  it('defaults to the deploying account, Identity Center roles and an empty directory', () => {
    expect(Policy.parse(validPolicy()).identity).toEqual({
      accounts: ['self'],
      emailSessionRoles: ['AWSReservedSSO_*'],
      people: {},
    });
  });

  it.each<[string, Change[], string[]]>([
    [
      'an account id that is not 12 digits',
      [['identity', { accounts: ['self', '12345'] }]],
      ['identity.accounts[1]: must be a 12-digit AWS account id'],
    ],
    ['no account at all', [['identity', { accounts: [] }]], ['identity.accounts: must have at least 1 item']],
    [
      'a role name pattern with a slash',
      [['identity', { emailSessionRoles: ['sso/*'] }]],
      ['identity.emailSessionRoles[0]: must be an IAM role name, where * matches any run of characters'],
    ],
    [
      'a directory key that is not an IAM user or role',
      [['identity', { people: { 'arn:aws:sts::111111111111:assumed-role/R/s': 'a@example.com' } }]],
      [
        'identity.people.arn:aws:sts::111111111111:assumed-role/R/s: invalid key: must be an IAM user ARN or an IAM role ARN (arn:aws:iam::<account>:role/<name>, no path)',
      ],
    ],
    [
      'a directory entry that is not an email',
      [['identity', { people: { 'arn:aws:iam::111111111111:user/a': 'alice' } }]],
      ['identity.people.arn:aws:iam::111111111111:user/a: Invalid email address'],
    ],
    [
      'an approver pattern that trusts a session name the caller chooses',
      [[`${READ}.approvers`, ['arn:aws:sts::111111111111:assumed-role/GitHubActions/carol@example.com']]],
      [
        "targets[0].levels.read.approvers[0]: the session name of role 'GitHubActions' is chosen by whoever assumes it; name the role (assumed-role/GitHubActions/*), list the person's email, or add the role to identity.emailSessionRoles if an identity provider sets its session names",
      ],
    ],
    [
      'a requester pattern with any role and a fixed session name',
      [[`${READ}.requesters`, ['arn:aws:sts::111111111111:assumed-role/*/erin@example.com']]],
      [
        "targets[0].levels.read.requesters[0]: the session name of role '*' is chosen by whoever assumes it; name the role (assumed-role/*/*), list the person's email, or add the role to identity.emailSessionRoles if an identity provider sets its session names",
      ],
    ],
    ...[
      'arn:aws:sts:*:111111111111:assumed-role/GitHubActions/alice@example.com',
      'arn:aws:*::111111111111:assumed-role/GitHubActions/alice@example.com',
    ].map((pattern): [string, [string, unknown][], string[]] => [
      `a wildcard field that still pins a session name: ${pattern}`,
      [[`${READ}.approvers`, [pattern]]],
      [
        "targets[0].levels.read.approvers[0]: the session name of role 'GitHubActions' is chosen by whoever assumes it; name the role (assumed-role/GitHubActions/*), list the person's email, or add the role to identity.emailSessionRoles if an identity provider sets its session names",
      ],
    ]),
    ...[
      'arn:aws:sts::111111111111:assumed-role/GitHubActions*alice@example.com',
      'arn:aws:sts::111111111111:*alice@example.com',
      'arn:*:111111111111:assumed-role/GitHubActions/alice@example.com',
    ].map((pattern): [string, [string, unknown][], string[]] => [
      `a * standing for the role's slash: ${pattern}`,
      [[`${READ}.approvers`, [pattern]]],
      [
        'targets[0].levels.read.approvers[0]: a pattern that can match role sessions must read arn:aws:sts::<account>:assumed-role/<role>/<session or *>: a * elsewhere can stand for a session name the caller chooses',
      ],
    ]),
    [
      'break-glass without its own requesters',
      [[`${READ}.breakGlass`, { allowed: true, notify: ['security@example.com'] }]],
      ['targets[0].levels.read.breakGlass.requesters: break-glass needs its own list of who may use it'],
    ],
    [
      'an empty requesters list (write none to let anyone ask)',
      [[`${READ}.requesters`, []]],
      ['targets[0].levels.read.requesters: must have at least 1 item'],
    ],
    [
      'a reviewer that is neither an email nor an ARN',
      [['reviewers', ['security']]],
      ['reviewers[0]: must be an email address or an IAM principal ARN pattern (arn:aws:…)'],
    ],
  ])('explains %s by path', (_label, changes, expected) => {
    expect(problemsAfter(...changes)).toEqual(expected);
  });

  it.each([
    ['pg_read_all_data', 'reads every table, the system catalogs included'],
    ['pg_write_all_data', 'writes every table in every schema'],
    ['pg_signal_backend', "can cancel and terminate other roles' sessions"],
  ])('refuses %s unless the level names it in allowDangerousRoles, and says why', (role, why) => {
    const problems = problemsAfter([`${READ}.privileges`, { roles: [role] }]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`targets[0].levels.read.privileges.roles[0]: ${role} ${why}`);
    expect(problems[0]).toContain('name it in allowDangerousRoles to grant it anyway');
    expect(
      problemsAfter([`${READ}.privileges`, { roles: [role] }], [`${READ}.allowDangerousRoles`, [role]]),
    ).toEqual([]);
    expect(problemsAfter([`${READ}.privileges`, { roles: ['pg_monitor'] }])).toEqual([]);
  });

  it('refuses TRIGGER unless the level names it in allowDangerousPrivileges, and says why', () => {
    const withTrigger = { schemas: [{ name: 'public', privileges: ['SELECT', 'TRIGGER'] }] };
    const problems = problemsAfter([`${READ}.privileges`, withTrigger]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(
      'targets[0].levels.read.privileges.schemas[0].privileges[1]: TRIGGER lets the user create triggers that run on every later write: on PostgreSQL they outlive the revoke',
    );
    expect(problems[0]).toContain('name it in allowDangerousPrivileges to grant it anyway');
    expect(
      problemsAfter([`${READ}.privileges`, withTrigger], [`${READ}.allowDangerousPrivileges`, ['TRIGGER']]),
    ).toEqual([]);
  });

  it('accepts a session-name pattern on a role an identity provider names, and role-wide patterns anywhere', () => {
    expect(
      problemsAfter([
        `${READ}.approvers`,
        [
          'arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Dba_0123/alice@example.com',
          'arn:aws:sts::111111111111:assumed-role/Dba/*',
          'arn:aws:iam::111111111111:role/Dba',
        ],
      ]),
    ).toEqual([]);
    expect(
      problemsAfter(
        ['identity', { emailSessionRoles: ['OktaFederated'] }],
        [`${READ}.approvers`, ['arn:aws:sts::111111111111:assumed-role/OktaFederated/alice@example.com']],
      ),
    ).toEqual([]);
  });
});
