import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type FunctionName, HANDLER_NAMES, PROJECT_ROOT } from '../../cdk/bundling.js';
import { DATABASE_HANDLERS } from '../../cdk/function-needs.js';
import { ASL_SUBSTITUTIONS, SUBSTITUTION_HANDLERS } from '../../functions/workflow-tasks.js';
import { ACCOUNT, nagFindings, REGION, type Synthesized, synthesize } from './fixture.js';
import type { Resource, Statement } from './template-view.js';

let s: Synthesized;
beforeAll(() => {
  s = synthesize();
}, 240_000);

const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
/** A DynamoDB global secondary index as CloudFormation declares it. */
const globalIndex = (name: string, hash: string, range: string, projection: 'ALL' | 'KEYS_ONLY') => ({
  IndexName: name,
  KeySchema: [
    { AttributeName: hash, KeyType: 'HASH' },
    { AttributeName: range, KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: projection },
});
const byJson = (a: Statement, b: Statement) => JSON.stringify(a).localeCompare(JSON.stringify(b));

const TABLES: Statement[] = [
  {
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    resources: ['<RequestsTable.Arn>'],
  },
  {
    actions: ['dynamodb:PutItem', 'dynamodb:Query'],
    resources: ['<AuditTable.Arn>'],
  },
  {
    actions: ['dynamodb:Query'],
    resources: [
      '<RequestsTable.Arn>/index/by-flag',
      '<RequestsTable.Arn>/index/by-requester',
      '<RequestsTable.Arn>/index/by-status',
    ],
  },
];
const XRAY: Statement = { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] };
const logsOf = (name: FunctionName): Statement => ({
  actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  resources: [`<logs:${name}.Arn>`],
});
// examples/policy.aws.yaml: orders-pg (RDS instance orders-prod) and billing-mysql (Aurora cluster billing-prod).
const TARGET_ADMIN: Statement[] = [
  {
    actions: ['secretsmanager:GetSecretValue'],
    resources: [
      arn('secretsmanager', 'secret:billing-admin-XyZ123'),
      arn('secretsmanager', 'secret:rds!db-orders-prod-AbCdEf'),
    ],
  },
  { actions: ['rds:DescribeDBInstances'], resources: [arn('rds', 'db:orders-prod')] },
  { actions: ['rds:DescribeDBClusters'], resources: [arn('rds', 'cluster:billing-prod')] },
];
const SEND_EMAIL: Statement = {
  actions: ['ses:SendEmail'],
  resources: [arn('ses', 'identity/jit-db-access@example.com')],
};
const DECIDE: Statement = {
  actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
  resources: ['<StateMachine>'],
};
// A task function of the state machine cannot reference it (circular): its ARN is formatted from its fixed name.
const DECIDE_FROM_TASK: Statement = {
  actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
  resources: [arn('states', 'stateMachine:JitDbAccess-access-request')],
};

const DIGESTS_READ: Statement[] = [
  { actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: ['<DigestsTable.Arn>'] },
  { actions: ['kms:GetPublicKey'], resources: ['<DigestKey.Arn>'] },
];

/** The one queue an asynchronously invoked function's failed invocations go to. */
function deadLetter(queue: string): Statement {
  return { actions: ['sqs:SendMessage'], resources: [`<${queue}.Arn>`] };
}

/** Exactly what each function's role may do; anything more is a finding. */
const EXPECTED_STATEMENTS: Record<FunctionName, Statement[]> = {
  // Faces callers: no admin secret, no RDS, no database; an early revoke is an invoke of the revoke function.
  api: [
    ...TABLES,
    SEND_EMAIL,
    DECIDE,
    { actions: ['states:StartExecution'], resources: ['<StateMachine>'] },
    { actions: ['states:StopExecution'], resources: [`${arn('states', 'execution')}:<StateMachine.Name>:*`] },
    ...DIGESTS_READ,
    { actions: ['lambda:InvokeFunction'], resources: ['<fn:revoke.Arn>'] },
  ],
  // The unauthenticated route: completes the task and mails retired approvers; no secret, no database.
  'approval-links': [...TABLES, SEND_EMAIL, DECIDE],
  credentials: [
    ...TABLES,
    ...TARGET_ADMIN,
    // Both targets are named by RDS identifier only, so the DbiResourceId position is open; the user is not.
    { actions: ['rds-db:connect'], resources: [arn('rds-db', 'dbuser:*/jit_*')] },
  ],
  'evaluate-policy': [...TABLES],
  'request-approval': [...TABLES, SEND_EMAIL, DECIDE_FROM_TASK],
  grant: [...TABLES, ...TARGET_ADMIN],
  revoke: [...TABLES, ...TARGET_ADMIN],
  // Logs in as the statement request's temporary user: an IAM token for iam targets, as credentials mints.
  'execute-statement': [
    ...TABLES,
    ...TARGET_ADMIN,
    { actions: ['rds-db:connect'], resources: [arn('rds-db', 'dbuser:*/jit_*')] },
  ],
  'record-outcome': [...TABLES, ...TARGET_ADMIN, SEND_EMAIL],
  // Asynchronously invoked: Lambda sends a failed invocation to the trigger's dead-letter queue as the role.
  'expiry-sweeper': [...TABLES, ...TARGET_ADMIN, SEND_EMAIL, DECIDE, deadLetter('SweeperDeadLetterQueue')],
  'execution-status-change': [...TABLES, ...TARGET_ADMIN, deadLetter('ExecutionEndedDeadLetterQueue')],
  // Reads the audit chains (never writes them), writes the digests, signs: the only role that can.
  'audit-digest': [
    { actions: ['dynamodb:Query'], resources: ['<AuditTable.Arn>', '<AuditTable.Arn>/index/by-day'] },
    {
      actions: ['dynamodb:PutItem', 'dynamodb:Query'],
      resources: ['<DigestsTable.Arn>'],
    },
    { actions: ['kms:Sign'], resources: ['<DigestKey.Arn>'] },
    deadLetter('DigestDeadLetterQueue'),
  ],
};

type RawStatement = { Action: string | string[]; Resource: never };

function fnNamed(name: FunctionName) {
  const fn = s.stateless.access.functions.find((f) => f.handlerName === name);
  if (!fn) throw new Error(`no ${name} function`);
  return fn;
}

function propsOf(resource: Resource): Record<string, unknown> {
  return resource.Properties ?? {};
}

function functionResource(name: FunctionName): Resource {
  const fn = fnNamed(name);
  return s.view.resource(s.stateless.resolve(s.stateless.getLogicalId(fn.node.defaultChild as never)));
}

function roleOf(name: FunctionName): string {
  return s.view.roleByDescription(`jit-db-access ${name} function`);
}

describe('the stateful stack', () => {
  it.each([
    ['RequestsTable', [{ AttributeName: 'id', KeyType: 'HASH' }]],
    [
      'AuditTable',
      [
        { AttributeName: 'requestId', KeyType: 'HASH' },
        { AttributeName: 'seq', KeyType: 'RANGE' },
      ],
    ],
    [
      'DigestsTable',
      [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    ],
  ])('keeps %s on demand, encrypted, recoverable, deletion-protected and retained', (name, keySchema) => {
    const table = s.stateful.tables.node.findChild(name).node.defaultChild;
    const logicalId = s.stateful.resolve(s.stateful.getLogicalId(table as never));
    // The construct sits at id Default, so its tables keep the logical ids they had as the stack's own.
    expect(logicalId).toMatch(new RegExp(`^${name}[0-9A-F]{8}$`));
    const resource = s.statefulView.template.toJSON().Resources[logicalId];
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
    expect(resource.Properties.KeySchema).toEqual(keySchema);
    expect(resource.Properties.BillingMode).toBe('PAY_PER_REQUEST');
    expect(resource.Properties.SSESpecification).toEqual({ SSEEnabled: true });
    expect(resource.Properties.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
    expect(resource.Properties.DeletionProtectionEnabled).toBe(true);
  });

  it('indexes requests by status (sortAt), by requester and by review flag (createdAt), projecting everything', () => {
    const table = s.statefulView
      .resources('AWS::DynamoDB::Table')
      .find(
        ([, r]) => JSON.stringify(r.Properties?.KeySchema) === '[{"AttributeName":"id","KeyType":"HASH"}]',
      )?.[1];
    expect(table?.Properties?.GlobalSecondaryIndexes).toEqual([
      globalIndex('by-status', 'status', 'sortAt', 'ALL'),
      globalIndex('by-requester', 'requester', 'createdAt', 'ALL'),
      globalIndex('by-flag', 'flag', 'createdAt', 'ALL'),
    ]);
  });

  it('indexes audit events by day (keys only), for the digest to find the chains that changed', () => {
    const table = s.statefulView
      .resources('AWS::DynamoDB::Table')
      .find(([, r]) => JSON.stringify(r.Properties?.KeySchema).includes('"requestId"'))?.[1];
    expect(table?.Properties?.GlobalSecondaryIndexes).toEqual([
      globalIndex('by-day', 'day', 'at', 'KEYS_ONLY'),
    ]);
  });
});

describe('the functions', () => {
  it('creates exactly one function per handler file', () => {
    expect(s.stateless.access.functions.map((f) => f.handlerName).sort()).toEqual([...HANDLER_NAMES].sort());
    expect(
      s.view
        .resources('AWS::Lambda::Function')
        .map(([id]) => s.view.nameOf(id))
        .sort(),
    ).toEqual(HANDLER_NAMES.map((n) => `fn:${n}`).sort());
  });

  it.each(HANDLER_NAMES)(
    'runs %s on Node.js 24 / arm64 with active tracing and the bundled policy',
    (name) => {
      const props = functionResource(name).Properties ?? {};
      expect(props.Runtime).toBe('nodejs24.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Handler).toBe('index.handler');
      expect(props.TracingConfig).toEqual({ Mode: 'Active' });
      expect(props.VpcConfig).toBeUndefined();
      expect(s.view.render((props.LoggingConfig as { LogGroup: never }).LogGroup)).toBe(`<logs:${name}>`);
      const env = (props.Environment as { Variables: Record<string, never> }).Variables;
      expect(env.POWERTOOLS_SERVICE_NAME).toBe('jit-db-access');
      expect(env.POWERTOOLS_LOG_LEVEL).toBe('INFO');
      expect(env.JITDB_POLICY_FILE).toBe('/var/task/policy.json');
      // The digest function reads audit chains only: it is given no requests table.
      if (name === 'audit-digest') expect(env.REQUESTS_TABLE).toBeUndefined();
      else expect(s.view.render(env.REQUESTS_TABLE)).toBe('<RequestsTable>');
      expect(s.view.render(env.AUDIT_TABLE)).toBe('<AuditTable>');
    },
  );

  it('ships the validated policy inside every bundle as policy.json (its input form), next to a minified ESM index.mjs', () => {
    const input = parseYaml(readFileSync(join(PROJECT_ROOT, 'examples/policy.aws.yaml'), 'utf8'));
    for (const name of HANDLER_NAMES) {
      const dir = join(s.app.outdir, (fnNamed(name).node.findChild('Code') as Asset).assetPath);
      expect(JSON.parse(readFileSync(join(dir, 'policy.json'), 'utf8'))).toEqual(input);
      expect(existsSync(join(dir, 'policy.yaml'))).toBe(false);
      expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
      expect(readFileSync(join(dir, 'index.mjs'), 'utf8')).toContain('createRequire');
    }
  });

  it("builds each function's asset from its own handler, with its chunks beside it", () => {
    const dirs = HANDLER_NAMES.map((name) =>
      join(s.app.outdir, (fnNamed(name).node.findChild('Code') as Asset).assetPath),
    );
    expect(new Set(dirs).size).toBe(HANDLER_NAMES.length);
    HANDLER_NAMES.forEach((name, i) => {
      const dir = dirs[i] ?? '';
      const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
      const handlers = map.sources.filter((source) => /functions\/handlers\/[a-z-]+\.ts$/.test(source));
      expect(
        handlers.filter((source) => !/\/(lambda|http-middleware|routes|openapi)\.ts$/.test(source)),
      ).toEqual([expect.stringMatching(new RegExp(`functions/handlers/${name}\\.ts$`))]);
      expect(existsSync(join(dir, 'chunks'))).toBe(true);
    });
  });

  it('sets the variables each function needs and no other function gets', () => {
    const env = (name: FunctionName) =>
      (propsOf(functionResource(name)).Environment as { Variables: Record<string, never> }).Variables;
    expect(s.view.render(env('api').STATE_MACHINE_ARN)).toBe('<StateMachine>');
    expect(s.view.render(env('approval-links').STATE_MACHINE_ARN)).toBe('<StateMachine>');
    expect(s.view.render(env('expiry-sweeper').STATE_MACHINE_ARN)).toBe('<StateMachine>');
    expect(env('grant').STATE_MACHINE_ARN).toBeUndefined();
    // Completes tasks by token only; naming the state machine from its own task would be circular.
    expect(env('request-approval').STATE_MACHINE_ARN).toBeUndefined();
    const base = `https://<RestApi>.execute-api.${REGION}.<AWS::URLSuffix>/prod`;
    for (const name of [
      'api',
      'approval-links',
      'credentials',
      'request-approval',
      'expiry-sweeper',
    ] as const) {
      expect(s.view.render(env(name).PUBLIC_BASE_URL), name).toBe(base);
    }
    // tls verify-full trusts the RDS CA only if Node loads Lambda's bundle of it.
    const withRdsCa = HANDLER_NAMES.filter((name) => env(name).NODE_EXTRA_CA_CERTS !== undefined);
    expect(withRdsCa).toEqual(DATABASE_HANDLERS);
    for (const name of withRdsCa) expect(env(name).NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
    const senders = HANDLER_NAMES.filter((name) => env(name).SENDER_EMAIL !== undefined);
    expect(senders).toEqual([
      'api',
      'approval-links',
      'request-approval',
      'record-outcome',
      'expiry-sweeper',
    ]);
    for (const name of senders) expect(env(name).SENDER_EMAIL, name).toBe('jit-db-access@example.com');
    const digestUsers = HANDLER_NAMES.filter((name) => env(name).DIGESTS_TABLE !== undefined);
    expect(digestUsers).toEqual(['api', 'audit-digest']);
    for (const name of digestUsers) {
      expect(s.view.render(env(name).DIGESTS_TABLE), name).toBe('<DigestsTable>');
      expect(s.view.render(env(name).DIGEST_KEY_ID), name).toBe('<DigestKey.Arn>');
    }
  });
});

describe('IAM, least privilege', () => {
  it.each(HANDLER_NAMES)('gives the %s function exactly its statements', (name) => {
    const expected = [...EXPECTED_STATEMENTS[name], logsOf(name), XRAY].sort(byJson);
    expect(s.view.statementsOfRole(roleOf(name))).toEqual(expected);
    expect(s.view.managedPoliciesOfRole(roleOf(name))).toEqual([]);
  });

  it('never lets any role update, delete or batch-write the audit table', () => {
    const auditWrites = s.view
      .resources('AWS::IAM::Policy')
      .flatMap(([, p]) => (propsOf(p).PolicyDocument as { Statement: RawStatement[] }).Statement)
      .filter((st) => s.view.render(st.Resource).includes('<AuditTable'))
      .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
    expect(auditWrites.length).toBeGreaterThan(0);
    expect(
      auditWrites.filter((a) => !/^dynamodb:(PutItem|ConditionCheckItem|GetItem|Query)$/.test(a)),
    ).toEqual([]);
  });

  it('lets only audit-digest write the digests table, with PutItem only; nobody updates or deletes it', () => {
    const writes = s.view
      .resources('AWS::IAM::Policy')
      .flatMap(([, p]) => (propsOf(p).PolicyDocument as { Statement: RawStatement[] }).Statement)
      .filter((st) => s.view.render(st.Resource).includes('<DigestsTable'))
      .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]))
      .filter((a) => !/^dynamodb:(GetItem|Query)$/.test(a));
    expect(writes).toEqual(['dynamodb:PutItem']);
    const writers = HANDLER_NAMES.filter((n) =>
      s.view
        .statementsOfRole(roleOf(n))
        .some((st) => st.actions.includes('dynamodb:PutItem') && st.resources.includes('<DigestsTable.Arn>')),
    );
    expect(writers).toEqual(['audit-digest']);
  });

  it('lets only audit-digest sign with the digest key, by IAM and by the key policy', () => {
    const signers = HANDLER_NAMES.filter((n) =>
      s.view.statementsOfRole(roleOf(n)).some((st) => st.actions.some((a) => /^kms:(Sign|\*)$/.test(a))),
    );
    expect(signers).toEqual(['audit-digest']);
    const keys = s.view
      .resources('AWS::KMS::Key')
      .filter(([, k]) => k.Properties?.KeyUsage === 'SIGN_VERIFY');
    expect(keys).toHaveLength(1);
    const key = keys[0]?.[1] ?? { Type: '' };
    const props = key.Properties ?? {};
    expect(props.KeySpec).toBe('ECC_NIST_P256');
    expect(props.KeyUsage).toBe('SIGN_VERIFY');
    expect((key as { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
    const statements = (props.KeyPolicy as { Statement: Record<string, never>[] }).Statement;
    const deny = statements.find((st) => st.Effect === 'Deny') ?? {};
    expect(deny.Action).toBe('kms:Sign');
    expect(deny.Principal).toEqual({ AWS: '*' });
    expect(
      s.view.render(
        (deny.Condition as unknown as { ArnNotEquals: Record<string, never> }).ArnNotEquals[
          'aws:PrincipalArn'
        ],
      ),
    ).toBe(`<${roleOf('audit-digest')}.Arn>`);
  });

  it('lets only the credentials and execute-statement functions connect to databases, and only as jit_ users', () => {
    const connectors = HANDLER_NAMES.filter((n) =>
      s.view.statementsOfRole(roleOf(n)).some((st) => st.actions.includes('rds-db:connect')),
    );
    expect(connectors).toEqual(['credentials', 'execute-statement']);
  });

  it('lets only the api start or stop executions, and only the functions that decide approvals complete tasks', () => {
    const holders = (action: string) =>
      HANDLER_NAMES.filter((n) =>
        s.view.statementsOfRole(roleOf(n)).some((st) => st.actions.includes(action)),
      );
    expect(holders('states:StartExecution')).toEqual(['api']);
    expect(holders('states:StopExecution')).toEqual(['api']);
    const deciders = ['api', 'approval-links', 'request-approval', 'expiry-sweeper'];
    expect(holders('states:SendTaskSuccess')).toEqual(deciders);
    expect(holders('states:SendTaskFailure')).toEqual(deciders);
  });

  it('lets the state machine invoke exactly its six task functions', () => {
    const invoke = s.view.statementsWithAction(
      'jit-db-access access-request state machine',
      'lambda:InvokeFunction',
    );
    expect(invoke).toEqual([
      {
        actions: ['lambda:InvokeFunction'],
        resources: [
          '<fn:evaluate-policy.Arn>',
          '<fn:execute-statement.Arn>',
          '<fn:grant.Arn>',
          '<fn:record-outcome.Arn>',
          '<fn:request-approval.Arn>',
          '<fn:revoke.Arn>',
        ],
      },
    ]);
  });
});

describe('the state machine', () => {
  it('is a Standard workflow with ALL logging to its log group and tracing on', () => {
    const machine = s.view.only('AWS::StepFunctions::StateMachine');
    const props = machine?.Properties ?? {};
    expect(props.StateMachineType).toBe('STANDARD');
    expect(props.TracingConfiguration).toEqual({ Enabled: true });
    const logging = props.LoggingConfiguration as { Level: string; IncludeExecutionData: boolean };
    expect(logging.Level).toBe('ALL');
    expect(logging.IncludeExecutionData).toBe(false);
  });

  it('deploys the ASL file with every placeholder substituted by a task function of this stack', () => {
    const machine = s.view.only('AWS::StepFunctions::StateMachine');
    const props = machine?.Properties ?? {};
    const substitutions = Object.fromEntries(
      Object.entries(props.DefinitionSubstitutions as Record<string, never>).map(([k, v]) => [
        k,
        s.view.render(v),
      ]),
    );
    expect(substitutions).toEqual(
      Object.fromEntries(ASL_SUBSTITUTIONS.map((p) => [p, `<fn:${SUBSTITUTION_HANDLERS[p]}.Arn>`])),
    );
    // The definition ships as an asset: the ASL file byte for byte, with placeholders CloudFormation fills.
    expect(s.view.render((props.DefinitionS3Location as { Bucket: never }).Bucket)).toContain('cdk-');
    const asl = readFileSync(join(PROJECT_ROOT, 'state-machines/access-request.asl.json'), 'utf8');
    const filled = asl.replace(
      /\$\{(\w+)\}/g,
      (_m, name: string) => substitutions[name] ?? `MISSING ${name}`,
    );
    expect(filled).not.toMatch(/\$\{|MISSING/);
    const definition = JSON.parse(filled) as { States: Record<string, Record<string, unknown>> };
    const invoked = Object.values(definition.States)
      .filter((state) => state.Type === 'Task')
      .map((state) =>
        state.Resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken'
          ? (state.Parameters as { FunctionName: string }).FunctionName
          : state.Resource,
      );
    expect([...new Set(invoked)].sort()).toEqual(Object.values(substitutions).sort());
  });
});

describe('the REST API', () => {
  function methodTable(): Record<string, { auth: string; target: string; validated: boolean }> {
    const resources = new Map(s.view.resources('AWS::ApiGateway::Resource'));
    const pathOf = (parent: unknown): string => {
      const rendered = s.view.render(parent as never);
      if (rendered === '<RestApi.RootResourceId>') return '';
      const id = rendered.slice(1, -1);
      const resource = [...resources].find(([logicalId]) => s.view.nameOf(logicalId) === id)?.[1];
      if (!resource) throw new Error(`unknown resource ${rendered}`);
      return `${pathOf(resource.Properties?.ParentId)}/${String(resource.Properties?.PathPart)}`;
    };
    const table: Record<string, { auth: string; target: string; validated: boolean }> = {};
    for (const [, method] of s.view.resources('AWS::ApiGateway::Method')) {
      const p = method.Properties ?? {};
      if (p.HttpMethod === 'OPTIONS') continue;
      const uri = s.view.render((p.Integration as { Uri: never }).Uri);
      table[`${String(p.HttpMethod)} ${pathOf(p.ResourceId) || '/'}`] = {
        auth: String(p.AuthorizationType),
        target: /<fn:([a-z-]+)\.Arn>/.exec(uri)?.[1] ?? uri,
        validated: p.RequestValidatorId !== undefined,
      };
    }
    return table;
  }

  it('authorizes every route with AWS_IAM except approval links and the OpenAPI document', () => {
    const iam = (target: string, validated = false) => ({ auth: 'AWS_IAM', target, validated });
    expect(methodTable()).toEqual({
      'POST /requests': iam('api', true),
      'GET /requests': iam('api'),
      'GET /requests/{id}': iam('api'),
      'POST /requests/{id}/approve': iam('api'),
      'POST /requests/{id}/deny': iam('api'),
      'POST /requests/{id}/cancel': iam('api'),
      'POST /requests/{id}/revoke': iam('api'),
      'POST /requests/{id}/extend': iam('api', true),
      'POST /requests/{id}/review': iam('api'),
      'GET /requests/{id}/credentials': iam('credentials'),
      'GET /requests/{id}/result': iam('api'),
      'GET /requests/{id}/audit': iam('api'),
      'GET /targets': iam('api'),
      'GET /openapi.json': { auth: 'NONE', target: 'api', validated: false },
      'GET /approvals/{token}': { auth: 'NONE', target: 'approval-links', validated: false },
      'POST /approvals/{token}': { auth: 'NONE', target: 'approval-links', validated: false },
    });
  });

  it("answers API Gateway's own refusals in the API's error shape: a rejected body is VALIDATION_FAILED", () => {
    const responses = Object.fromEntries(
      s.view.resources('AWS::ApiGateway::GatewayResponse').map(([, r]) => {
        const templates = (r.Properties?.ResponseTemplates ?? {}) as Record<string, string>;
        return [r.Properties?.ResponseType as string, templates['application/json']];
      }),
    );
    expect(responses).toEqual({
      BAD_REQUEST_BODY: '{"error":{"code":"VALIDATION_FAILED","message":$context.error.messageString}}',
      DEFAULT_4XX: '{"error":{"code":"$context.error.responseType","message":$context.error.messageString}}',
      DEFAULT_5XX: '{"error":{"code":"INTERNAL","message":$context.error.messageString}}',
    });
  });

  it('logs access as JSON without the path, does not trace the stage, and throttles it', () => {
    const stage = s.view.only('AWS::ApiGateway::Stage');
    const p = stage?.Properties ?? {};
    expect(p.StageName).toBe('prod');
    // X-Ray would record the request path, and an approval link's path is its secret.
    expect(p.TracingEnabled).toBe(false);
    const format = (p.AccessLogSetting as { Format: string }).Format;
    expect(format).toContain('$context.resourcePath');
    expect(format).not.toContain('$context.path');
    expect(s.view.render((p.AccessLogSetting as { DestinationArn: never }).DestinationArn)).toMatch(
      /^<.*\.Arn>$/,
    );
    expect(p.MethodSettings).toEqual([
      {
        DataTraceEnabled: false,
        HttpMethod: '*',
        LoggingLevel: 'ERROR',
        ResourcePath: '/*',
        ThrottlingBurstLimit: 100,
        ThrottlingRateLimit: 50,
      },
      // The unauthenticated link routes have a budget of their own: a flood there leaves the rest alone.
      ...['GET', 'POST'].map((HttpMethod) => ({
        DataTraceEnabled: false,
        HttpMethod,
        LoggingLevel: 'ERROR',
        ResourcePath: '/~1approvals~1{token}',
        ThrottlingBurstLimit: 20,
        ThrottlingRateLimit: 10,
      })),
    ]);
  });

  it('reserves concurrency for the approval-links function and, against connection storms, each database function', () => {
    const reserved = Object.fromEntries(
      HANDLER_NAMES.map((name) => [
        name,
        propsOf(functionResource(name)).ReservedConcurrentExecutions,
      ]).filter(([, value]) => value !== undefined),
    );
    expect(reserved).toEqual({
      'approval-links': 5,
      ...Object.fromEntries(DATABASE_HANDLERS.map((name) => [name, 10])),
    });
  });
});

describe('EventBridge rules, queues and alarms', () => {
  function rule(match: (p: Record<string, unknown>) => boolean) {
    const found = s.view.resources('AWS::Events::Rule').filter(([, r]) => match(r.Properties ?? {}));
    expect(found).toHaveLength(1);
    const props = found[0]?.[1].Properties ?? {};
    const [target] = props.Targets as { Arn: never; DeadLetterConfig: { Arn: never } }[];
    return { props, target: s.view.render(target?.Arn), dlq: s.view.render(target?.DeadLetterConfig.Arn) };
  }

  it('sweeps every minute with the expiry sweeper, failures to its dead-letter queue', () => {
    const sweep = rule((p) => p.ScheduleExpression === 'rate(1 minute)');
    expect(sweep.props.ScheduleExpression).toBe('rate(1 minute)');
    expect(sweep.target).toBe('<fn:expiry-sweeper.Arn>');
    expect(sweep.dlq).toBe('<SweeperDeadLetterQueue.Arn>');
  });

  it('signs an audit digest every five minutes, failures to its dead-letter queue', () => {
    const digest = rule((p) => p.ScheduleExpression === 'rate(5 minutes)');
    expect(digest.target).toBe('<fn:audit-digest.Arn>');
    expect(digest.dlq).toBe('<DigestDeadLetterQueue.Arn>');
  });

  it('sends FAILED, TIMED_OUT and ABORTED executions of this state machine to execution-status-change', () => {
    const ended = rule((p) => p.EventPattern !== undefined);
    const pattern = ended.props.EventPattern as { detail: { stateMachineArn: never[] } };
    expect({
      ...pattern,
      detail: {
        ...pattern.detail,
        stateMachineArn: pattern.detail.stateMachineArn.map((a) => s.view.render(a)),
      },
    }).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: ['<StateMachine>'] },
    });
    expect(ended.target).toBe('<fn:execution-status-change.Arn>');
    expect(ended.dlq).toBe('<ExecutionEndedDeadLetterQueue.Arn>');
  });

  it('encrypts the dead-letter queues and refuses them over plain HTTP', () => {
    for (const [logicalId, queue] of s.view.resources('AWS::SQS::Queue')) {
      expect(queue.Properties?.SqsManagedSseEnabled, logicalId).toBe(true);
    }
    const policies = s.view.resources('AWS::SQS::QueuePolicy').map(([, p]) => JSON.stringify(p.Properties));
    for (const name of ['SweeperDeadLetterQueue', 'ExecutionEndedDeadLetterQueue', 'DigestDeadLetterQueue']) {
      const policy = s.view
        .resources('AWS::SQS::QueuePolicy')
        .find(([, p]) => s.view.render(p.Properties?.Queues as never).includes(`<${name}>`));
      expect(JSON.stringify(policy?.[1].Properties), name).toContain('"aws:SecureTransport":"false"');
    }
    expect(policies).toHaveLength(3);
  });

  it('alarms to the encrypted SNS topic on RevokeFailed, anchor mismatches, uncounted link refusals, sweeper and digest errors and each dead-letter queue', () => {
    const alarms = s.view.resources('AWS::CloudWatch::Alarm').map(([, a]) => {
      const p = a.Properties ?? {};
      const dims = (p.Dimensions as { Name: string; Value: never }[] | undefined) ?? [];
      return {
        metric: `${String(p.Namespace)}/${String(p.MetricName)}`,
        dimensions: dims.map((d) => `${d.Name}=${s.view.render(d.Value)}`),
        actions: (p.AlarmActions as never[]).map((x) => s.view.render(x)),
      };
    });
    const topic = ['<AlarmTopic>'];
    expect(alarms.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { metric: 'AWS/Lambda/Errors', dimensions: ['FunctionName=<fn:audit-digest>'], actions: topic },
      { metric: 'AWS/Lambda/Errors', dimensions: ['FunctionName=<fn:expiry-sweeper>'], actions: topic },
      {
        metric: 'AWS/SQS/ApproximateNumberOfMessagesVisible',
        dimensions: ['QueueName=<DigestDeadLetterQueue.QueueName>'],
        actions: topic,
      },
      {
        metric: 'AWS/SQS/ApproximateNumberOfMessagesVisible',
        dimensions: ['QueueName=<ExecutionEndedDeadLetterQueue.QueueName>'],
        actions: topic,
      },
      {
        metric: 'AWS/SQS/ApproximateNumberOfMessagesVisible',
        dimensions: ['QueueName=<SweeperDeadLetterQueue.QueueName>'],
        actions: topic,
      },
      { metric: 'jit-db-access/AuditAnchorMismatch', dimensions: ['service=jit-db-access'], actions: topic },
      {
        metric: 'jit-db-access/LinkRefusalNotCounted',
        dimensions: ['service=jit-db-access'],
        actions: topic,
      },
      { metric: 'jit-db-access/RevokeFailed', dimensions: ['service=jit-db-access'], actions: topic },
    ]);
    const topicResource = s.view.only('AWS::SNS::Topic');
    expect(topicResource?.Properties?.KmsMasterKeyId).toBeDefined();
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged error or warning', () => {
    expect(nagFindings(s)).toEqual([]);
  });

  it("acknowledges request-approval's * for X-Ray only: its SendTask* names the state machine", () => {
    const reasons = fnNamed('request-approval')
      .executionRole.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules')
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([id]) => id.endsWith('AwsSolutions-IAM5[Resource::*]'))
      .map(([, reason]) => reason.split(' ')[0]);
    expect(reasons).toEqual(['Active']);
  });

  it('names the state machine after the stack, the name request-approval formats its ARN from', () => {
    const machine = s.view.only('AWS::StepFunctions::StateMachine');
    expect(machine.Properties?.StateMachineName).toBe('JitDbAccess-access-request');
  });

  it('gives every acknowledgement a reason a reviewer can check', () => {
    const reasons = s.app.node
      .findAll()
      .flatMap((c) => c.node.metadata)
      .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
      .flatMap((m) => Object.values(m.data as Record<string, { reason?: string } | string>))
      .map((v) => (typeof v === 'string' ? v : (v.reason ?? '')));
    expect(reasons.length).toBeGreaterThan(0);
    for (const reason of reasons) expect(reason.length).toBeGreaterThan(40);
  });
});
