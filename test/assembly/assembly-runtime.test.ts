/**
 * Issue #14: the synthesized cloud assembly, run by `startAssemblyRuntime` exactly as `npm start -- --assembly`
 * runs it — the functions' built bundles in their own processes, the template's API (SigV4), state machine,
 * rules and tables, every AWS call checked against the caller's role. The tour passes end to end with no
 * denied call; a statement deleted from the template, or an environment variable, makes the flow fail the
 * way AWS would, naming the function and what it lacked.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiRefusedError } from '../../cli/client.js';
import type { Credentials } from '../../functions/application/ports.js';
import type { RequestView } from '../../functions/application/request-view.js';
import { REPO_ROOT } from '../../local/assembly/cloud-assembly.js';
import { type AssemblyRuntime, startAssemblyRuntime } from '../../local/assembly/runtime.js';
import { SIGN_IN_PATH } from '../../local/assembly/sessions.js';
import { freePort } from '../../local/free-port.js';
import { postgresPolicyYaml } from '../support/policies.js';
import { openApprovalLink, submitApprovalForm } from '../support/runtime.js';

const work = mkdtempSync(join(tmpdir(), 'jitdb-assembly-test-'));
const logs: string[] = [];
let runtime: AssemblyRuntime;
let policyFile: string;
let pgPort: number;

/** The demo target on this suite's own PostgreSQL: `read` needs alice or bob, `auto` is approved by policy. */
function policyYaml(port: number): string {
  const iamTarget = `  - id: iam-pg
    engine: postgres
    environment: dev
    connection: { host: 127.0.0.1, port: ${port}, resourceId: db-LOCALIAMTARGET }
    database: demo
    credentialKind: iam
    tls: disable
    levels:
      auto:
        privileges: { schemas: [{ name: public, privileges: [SELECT] }] }
        maxDuration: 1h
        autoApprove: {}
`;
  return `${postgresPolicyYaml({
    id: 'demo-pg',
    environment: 'dev',
    host: '127.0.0.1',
    port,
    database: 'demo',
    levels: {
      read: { maxDuration: '1h', approvers: ['alice@example.com', 'bob@example.com'] },
      auto: { maxDuration: '1h', autoApprove: true },
    },
  })}${iamTarget}`;
}

function start(extra: { assemblyDir?: string; outdir?: string } = {}): Promise<AssemblyRuntime> {
  return startAssemblyRuntime({
    policyFile,
    ephemeral: true,
    port: 0,
    pgPort,
    printEmails: false,
    log: (line) => void logs.push(line),
    scheduleOverridesMs: { 'expiry-sweeper': 1000 },
    outdir: extra.outdir ?? join(work, 'assembly'),
    retryIntervalMs: 50,
    ...(extra.assemblyDir ? { assemblyDir: extra.assemblyDir } : {}),
  });
}

function client(rt: AssemblyRuntime, user: string): ApiClient {
  return new ApiClient({ endpoint: rt.url, user, json: true, region: undefined, ssoUrl: rt.ssoUrl });
}

/** RDS has this role; a local server needs it for the grant of an IAM-auth target. */
async function createRdsIamRole(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(
      'DO $$ BEGIN CREATE ROLE rds_iam NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$',
    );
  } finally {
    await admin.end();
  }
}

/** A request for demo-pg at `level`, for ten minutes. */
function fileRequest(api: ApiClient, level: string, reason: string): Promise<RequestView> {
  return fileRequestFor(api, 'demo-pg', reason, level);
}

/** A request for `target` at `level` (default auto), for ten minutes. */
function fileRequestFor(
  api: ApiClient,
  target: string,
  reason: string,
  level = 'auto',
): Promise<RequestView> {
  return api.post<RequestView>('/requests', { target, level, duration: '10m', reason });
}

async function waitForStatus(api: ApiClient, id: string, wanted: string[]): Promise<RequestView> {
  for (let i = 0; i < 120; i++) {
    const view = await api.get<RequestView>(`/requests/${id}`);
    if (wanted.includes(view.status)) return view;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`request ${id} never reached ${wanted.join('/')}`);
}

type TemplateJson = {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
};

/** A copy of the assembly in `from`, named `name` under the work folder, its stack template changed by `edit`. */
function editedAssembly(from: string, name: string, edit: (template: TemplateJson) => void): string {
  const copy = join(work, name);
  cpSync(from, copy, { recursive: true });
  const templateFile = join(copy, 'JitDbAccess.template.json');
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as TemplateJson;
  edit(template);
  writeFileSync(templateFile, JSON.stringify(template));
  return copy;
}

/** Deletes the statements allowing `action` from the policies attached to a role; returns how many went. */
function dropStatements(template: TemplateJson, roleLogicalId: string, action: string): number {
  let removed = 0;
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    if (!JSON.stringify(resource.Properties.Roles).includes(roleLogicalId)) continue;
    const document = resource.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] };
    const before = document.Statement.length;
    document.Statement = document.Statement.filter(
      (s) => !([] as string[]).concat(s.Action).includes(action),
    );
    removed += before - document.Statement.length;
  }
  return removed;
}

beforeAll(async () => {
  pgPort = await freePort();
  policyFile = join(work, 'policy.yaml');
  writeFileSync(policyFile, policyYaml(pgPort));
  runtime = await start();
}, 300_000);

afterAll(async () => {
  await runtime?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('assembly mode', () => {
  it('runs the tour from the assembly: request → emailed link → approve → ACTIVE → connect → revoke, with no denied call', async () => {
    const dave = client(runtime, 'dave@example.com');
    const created = await fileRequest(dave, 'read', 'look at an order');
    expect(created.status).toBe('PENDING');
    expect(created.requester).toMatch(
      /:assumed-role\/AWSReservedSSO_JitDbUser_[0-9a-f]+\/dave@example\.com$/,
    );

    let link = '';
    for (let i = 0; i < 80 && !link; i++) {
      const mail = runtime.outbox.list().find((e) => e.to.includes('alice@example.com'));
      link = /https?:\/\/\S+\/approvals\/[^\s"<]+/.exec(mail?.text ?? '')?.[0] ?? '';
      if (!link) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(link.startsWith(`${runtime.url}/approvals/`)).toBe(true);
    const page = await openApprovalLink(link);
    expect(page.status).toBe(200);
    expect((await submitApprovalForm(link, { csrf: page.csrf, decision: 'approve' })).status).toBe(200);

    await waitForStatus(dave, created.id, ['ACTIVE']);
    const credentials = await dave.get<Credentials>(`/requests/${created.id}/credentials`);
    const session = new pg.Client({ connectionString: credentials.uri });
    await session.connect();
    try {
      expect((await session.query('SELECT current_user AS who')).rows[0]?.who).toBe(`jit_${created.id}`);
    } finally {
      await session.end();
    }

    await dave.post(`/requests/${created.id}/revoke`, { comment: 'tour done' });
    await waitForStatus(dave, created.id, ['REVOKED']);
    const after = new pg.Client({ connectionString: credentials.uri });
    await expect(after.connect()).rejects.toThrow(/password authentication failed/);

    // Every function ran from its own bundle, and every AWS call it made was allowed by its role.
    const ran = [...runtime.lambda.coldStarts.keys()].map(
      (name) => runtime.model.functions.find((f) => f.functionName === name)?.registryName,
    );
    expect(ran).toEqual(
      expect.arrayContaining([
        'api',
        'approval-links',
        'evaluate-policy',
        'request-approval',
        'grant',
        'revoke',
      ]),
    );
    expect(runtime.gatekeeper.calls.filter((c) => !c.allowed)).toEqual([]);
    const used = new Set(runtime.gatekeeper.calls.map((c) => c.action));
    for (const action of [
      'dynamodb:TransactWriteItems',
      'states:StartExecution',
      'ses:SendEmail',
      'secretsmanager:GetSecretValue',
      'lambda:InvokeFunction',
    ]) {
      expect(
        [...used].some(
          (u) => u === action || (action === 'dynamodb:TransactWriteItems' && u.startsWith('dynamodb:')),
        ),
      ).toBe(true);
    }
  });

  it('answers as API Gateway does: no signature, the local identity header, a forged key, a body off its model', async () => {
    const unsigned = await fetch(`${runtime.url}/targets`);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({
      error: { code: 'MISSING_AUTHENTICATION_TOKEN', message: 'Missing Authentication Token' },
    });
    // The local runtime's identity header means nothing here.
    const header = await fetch(`${runtime.url}/targets`, { headers: { 'x-jitdb-user': 'dave@example.com' } });
    expect(header.status).toBe(403);
    const forged = await fetch(`${runtime.url}/targets`, {
      headers: {
        authorization:
          'AWS4-HMAC-SHA256 Credential=ASIAFORGEDFORGEDFORG/20261129/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00',
        'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
      },
    });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED_CLIENT');

    const dave = client(runtime, 'dave@example.com');
    const offModel = await dave
      // No target: off the model (a missing duration is not, since statement requests take none).
      .post('/requests', { level: 'read', duration: '10m' })
      .catch((e: unknown) => e);
    expect(offModel).toBeInstanceOf(ApiRefusedError);
    expect(offModel).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      message: 'Invalid request body',
    });

    const signIn = await fetch(`${runtime.awsEndpoint}${SIGN_IN_PATH}`, {
      method: 'POST',
      body: '{"user":"not an email"}',
    });
    expect(signIn.status).toBe(400);
  });

  it('passes test/e2e, the suite written for a real deployment, with its own SigV4 signing and two signed-in people', async () => {
    const signIn = async (user: string) => {
      const response = await fetch(`${runtime.awsEndpoint}${SIGN_IN_PATH}`, {
        method: 'POST',
        body: JSON.stringify({ user }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as {
        accessKeyId: string;
        secretAccessKey: string;
        sessionToken: string;
      };
    };
    const dave = await signIn('dave@example.com');
    const alice = await signIn('alice@example.com');
    const credentialsFile = join(work, 'aws-credentials');
    writeFileSync(
      credentialsFile,
      `[approver]\naws_access_key_id = ${alice.accessKeyId}\naws_secret_access_key = ${alice.secretAccessKey}\naws_session_token = ${alice.sessionToken}\n`,
      { mode: 0o600 },
    );
    const { PATH, HOME } = process.env;
    const environment = {
      PATH,
      HOME,
      JITDB_API_URL: runtime.url,
      JITDB_TOUR_TARGET: 'demo-pg',
      JITDB_TOUR_LEVEL: 'read',
      JITDB_APPROVER_PROFILE: 'approver',
      AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
      AWS_CONFIG_FILE: join(work, 'no-aws-config'),
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: dave.accessKeyId,
      AWS_SECRET_ACCESS_KEY: dave.secretAccessKey,
      AWS_SESSION_TOKEN: dave.sessionToken,
    };
    // Asynchronously: the runtime serving the suite runs in this process.
    const run = await new Promise<{ status: number | null; output: string }>((resolve) => {
      const child = spawn(
        join(REPO_ROOT, 'node_modules/.bin/vitest'),
        ['run', '--config', 'vitest.e2e.config.ts'],
        { cwd: REPO_ROOT, env: environment },
      );
      let output = '';
      const collect = (chunk: Buffer) => {
        output += chunk.toString('utf8');
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.on('close', (status) => resolve({ status, output }));
    });
    expect(run.output).toMatch(/Tests\s+6 passed \(6\)/);
    expect(run.status).toBe(0);
    expect(runtime.gatekeeper.calls.filter((c) => !c.allowed)).toEqual([]);
  }, 200_000);

  it('checks rds-db:connect against the credentials function’s role when it mints an IAM token', async () => {
    await createRdsIamRole(runtime.pgAdminUrl);
    const dave = client(runtime, 'dave@example.com');
    const created = await dave.post<RequestView>('/requests', {
      target: 'iam-pg',
      level: 'auto',
      duration: '10m',
      reason: 'an IAM token',
    });
    await waitForStatus(dave, created.id, ['ACTIVE']);
    const credentials = await dave.get<Credentials & { kind: string }>(`/requests/${created.id}/credentials`);
    expect(credentials.kind).toBe('iam');
    expect(credentials.password).toContain('Action=connect');
    const connect = runtime.gatekeeper.calls.filter((c) => c.action === 'rds-db:connect');
    expect(connect).toEqual([
      expect.objectContaining({
        allowed: true,
        resource: `arn:aws:rds-db:eu-west-1:000000000000:dbuser:db-LOCALIAMTARGET/jit_${created.id}`,
      }),
    ]);
    const credentialsFn = runtime.model.functions.find((f) => f.registryName === 'credentials');
    expect(connect[0]?.holder).toBe(credentialsFn?.logicalId);
    await dave.post(`/requests/${created.id}/revoke`, { comment: 'done' });
    await waitForStatus(dave, created.id, ['REVOKED']);
  });

  it('ships no line of the IAM simulator (AGPL, development only) in any Lambda asset', () => {
    for (const fn of runtime.model.functions) {
      const files = readdirSync(fn.assetDir, { recursive: true, encoding: 'utf8' }).filter((f) =>
        /\.(m?js|json|map)$/.test(f),
      );
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const text = readFileSync(join(fn.assetDir, file), 'utf8');
        expect(
          text.includes('@cloud-copilot') || text.includes('iam-simulate'),
          `${fn.registryName}/${file}`,
        ).toBe(false);
      }
    }
  });

  it('fails as AWS would without a template statement (AccessDenied naming the function and action), an env var (the cold start) or a Lambda permission (API Gateway’s 500)', async () => {
    const grant = runtime.model.functions.find((f) => f.registryName === 'grant');
    const links = runtime.model.functions.find((f) => f.registryName === 'approval-links');
    if (!grant || !links) throw new Error('no grant or approval-links function in the assembly');
    const copy = editedAssembly(runtime.model.dir, 'edited', (template) => {
      expect(dropStatements(template, grant.roleLogicalId, 'secretsmanager:GetSecretValue')).toBe(1);
      const environment = template.Resources[links.logicalId]?.Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      delete environment.Variables.REQUESTS_TABLE;
      // And API Gateway loses its permission to invoke the api function for GET /targets.
      const permissions = Object.entries(template.Resources).filter(
        ([, r]) =>
          r.Type === 'AWS::Lambda::Permission' &&
          JSON.stringify(r.Properties.SourceArn).endsWith('"/GET/targets"]]}'),
      );
      expect(permissions).toHaveLength(1);
      for (const [id] of permissions) delete template.Resources[id];
    });

    await runtime.stop();
    logs.length = 0;
    runtime = await start({ assemblyDir: copy });
    const dave = client(runtime, 'dave@example.com');

    // The grant function's role no longer lets it read the admin secret: the grant fails, as it would on AWS.
    const created = await fileRequest(dave, 'auto', 'a statement less');
    const failed = await waitForStatus(dave, created.id, ['FAILED', 'ACTIVE']);
    expect(failed.status).toBe('FAILED');
    const denied = runtime.gatekeeper.calls.filter((c) => !c.allowed);
    expect(denied.length).toBeGreaterThan(0);
    expect(
      denied.every((c) => c.holder === grant.logicalId && c.action === 'secretsmanager:GetSecretValue'),
    ).toBe(true);
    expect(denied[0]?.resource).toMatch(
      /^arn:aws:secretsmanager:eu-west-1:000000000000:secret:jitdb-local\/demo-pg-/,
    );
    expect(logs.join('\n')).toContain(
      `is not authorized to perform: secretsmanager:GetSecretValue on resource: ${denied[0]?.resource}`,
    );

    // API Gateway without its permission on the function: 500, "Invalid permissions on Lambda function".
    const targets = await dave.get('/targets').catch((e: unknown) => e);
    expect(targets).toMatchObject({ status: 500 });
    expect(logs.join('\n')).toContain('Invalid permissions on Lambda function');
    expect(await dave.get('/requests')).toBeDefined(); // the other routes keep theirs

    // The approval-links function without REQUESTS_TABLE: its invocation fails, API Gateway answers 502.
    const page = await fetch(`${runtime.url}/approvals/${created.id}.forged`);
    expect(page.status).toBe(502);
    expect(logs.find((l) => l.includes('ApprovalLinks') && l.includes('Uncaught Exception'))).toContain(
      'REQUESTS_TABLE is not set',
    );
  }, 240_000);

  it('reports an IAM token minted by a role without rds-db:connect: the login it would make is denied', async () => {
    const credentialsFn = runtime.model.functions.find((f) => f.registryName === 'credentials');
    if (!credentialsFn) throw new Error('no credentials function in the assembly');
    const copy = editedAssembly(join(work, 'assembly'), 'no-connect', (template) => {
      expect(dropStatements(template, credentialsFn.roleLogicalId, 'rds-db:connect')).toBe(1);
    });

    await runtime.stop();
    logs.length = 0;
    runtime = await start({ assemblyDir: copy });
    await createRdsIamRole(runtime.pgAdminUrl);
    const dave = client(runtime, 'dave@example.com');
    const created = await fileRequestFor(dave, 'iam-pg', 'no connect');
    await waitForStatus(dave, created.id, ['ACTIVE']);
    // Minting is local signing, on AWS as here: the credentials still leave; the login they allow does not.
    const credentials = await dave.get<Credentials & { kind: string }>(`/requests/${created.id}/credentials`);
    expect(credentials.kind).toBe('iam');
    const denied = runtime.gatekeeper.calls.filter((c) => !c.allowed);
    expect(denied).toEqual([
      expect.objectContaining({
        holder: credentialsFn.logicalId,
        action: 'rds-db:connect',
        resource: `arn:aws:rds-db:eu-west-1:000000000000:dbuser:db-LOCALIAMTARGET/jit_${created.id}`,
      }),
    ]);
    expect(logs.join('\n')).toContain('is not authorized to perform: rds-db:connect');
  }, 180_000);
});
