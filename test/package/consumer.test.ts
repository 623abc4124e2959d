/**
 * Issue #16: the package as a consumer gets it. `npm pack` (its prepack step builds dist/: compiled code,
 * declarations, the ASL and every function's bundle prebuilt), then, in a directory outside the repository,
 * a new CDK app — examples/cdk-app, plain JavaScript — installs the tarball with aws-cdk-lib, constructs and
 * cdk-nag only (no TypeScript, no tsx, no esbuild), synthesizes offline with the five cdk-nag packs, and runs
 * `npx jitdb`. Its template must be the one the repository builds from source for the same app (so every
 * least-privilege fact the infra tests prove carries over), hold those facts itself, and have no finding.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FUNCTION_NAMES, FUNCTIONS, type FunctionNeeds } from '../../functions/function-registry.js';
import { TemplateView } from '../infra/template-view.js';
import { type Ran, spawnCollecting } from '../support/child-output.js';

const ROOT = path.resolve('.');
const PACKAGE_NAME = 'jit-db-access';
const EXAMPLE = path.join(ROOT, 'examples/cdk-app');
/** The example app, plain JavaScript (no types to import). */
const EXAMPLE_APP = '../../examples/cdk-app/app.mjs';
interface ExampleApp {
  buildApp(app: App): { app: App };
  policy: unknown;
}
const loadExample = async (): Promise<ExampleApp> =>
  (await import(/* @vite-ignore */ EXAMPLE_APP)) as ExampleApp;

/** Runs a command to its end without blocking the event loop; throws with its output when it fails. */
async function run(command: string, args: string[], cwd: string, allowFailure = false): Promise<Ran> {
  const { output, exited } = spawnCollecting(command, args, {
    cwd,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  const ran = { code: await exited, ...output };
  if (ran.code !== 0 && !allowFailure)
    throw new Error(`${command} ${args.join(' ')} exited ${ran.code}\n${ran.stdout}\n${ran.stderr}`);
  return ran;
}

function installedVersion(name: string): string {
  const require = createRequire(path.join(ROOT, 'package.json'));
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string })
    .version;
}

/** What the consumer's check script prints: its templates and cdk-nag's unacknowledged findings. */
interface ConsumerReport {
  templates: Record<string, { Resources: Record<string, CfnResource> }>;
  findings: string[];
  policyError: string;
}
interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: unknown;
}

const CHECK_SCRIPT = `
import { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks } from 'cdk-nag';
import { JitDbAccess } from 'jit-db-access';
import { Stack } from 'aws-cdk-lib';
import { buildApp } from './app.mjs';

const app = new App({ outdir: 'cdk.out' });
buildApp(app);
const assembly = app.synth();
const packs = [new AwsSolutionsChecks(), new ServerlessChecks(), new NIST80053R5Checks(), new HIPAASecurityChecks(), new PCIDSS321Checks()];
const findings = packs.flatMap((pack) =>
  pack.validateScope(app).violations.flatMap((v) =>
    v.violatingResources.map((r) => v.ruleName + ' at ' + (r.constructPath ?? r.resourceLogicalId))));
let policyError = '';
try {
  new JitDbAccess(new Stack(new App(), 'Bad'), 'Bad', {
    senderEmail: 'a@example.com',
    policy: { version: 1, targets: [{ id: 'x', engine: 'oracle', database: 'd', levels: {} }] },
  });
} catch (error) {
  policyError = error.message;
}
const templates = Object.fromEntries(assembly.stacks.map((s) => [s.stackName, s.template]));
console.log(JSON.stringify({ templates, findings, policyError }));
`;

let work: string;
let consumer: string;
let report: ConsumerReport;
let reference: Record<string, { Resources: Record<string, CfnResource> }>;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'jitdb-package-'));
  await run('npm', ['pack', '--pack-destination', work, '--silent'], ROOT);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${work}`);
  consumer = path.join(work, 'app');
  cpSync(EXAMPLE, consumer, { recursive: true });
  writeFileSync(path.join(consumer, 'check.mjs'), CHECK_SCRIPT);
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      path.join(work, tarball),
      `aws-cdk-lib@${installedVersion('aws-cdk-lib')}`,
      `constructs@${installedVersion('constructs')}`,
      `cdk-nag@${installedVersion('cdk-nag')}`,
    ],
    consumer,
  );
  report = JSON.parse((await run(process.execPath, ['check.mjs'], consumer)).stdout) as ConsumerReport;

  // The same example app, from the repository's sources, synthesized here: the example imports the package by
  // name, which here means the sources. (Registered only now: resolving the name needs the dist/ that npm pack
  // just built, and a fresh clone has none before.)
  vi.doMock('jit-db-access', async () => await import('../../cdk/index.js'));
  const sources = await import('../../cdk/index.js');
  const byName = (await import(/* @vite-ignore */ PACKAGE_NAME)) as typeof sources;
  if (byName.JitDbAccess !== sources.JitDbAccess)
    throw new Error('the reference app would not use the sources');
  const { buildApp } = await loadExample();
  const app = new App();
  buildApp(app);
  const assembly = app.synth();
  reference = Object.fromEntries(assembly.stacks.map((s) => [s.stackName, s.template]));
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A resource without what legitimately differs between the two builds: where its asset was staged. */
function comparable(resource: CfnResource): CfnResource {
  const { Metadata: _metadata, ...rest } = resource;
  if (resource.Type !== 'AWS::Lambda::Function') return rest;
  const { Code: _code, ...properties } = resource.Properties ?? {};
  return { ...rest, Properties: properties };
}

describe('the npm package, installed in a new CDK app outside the repository', () => {
  it('installs without a TypeScript toolchain or esbuild, and synthesizes from the prebuilt bundles', () => {
    for (const tool of ['typescript', 'tsx', 'esbuild'])
      expect({ tool, installed: existsSync(path.join(consumer, 'node_modules', tool)) }).toEqual({
        tool,
        installed: false,
      });
    const functions = Object.values(report.templates.Access?.Resources ?? {}).filter(
      (r) => r.Type === 'AWS::Lambda::Function',
    );
    expect(functions.length).toBe(FUNCTION_NAMES.length);
    const assets = readdirSync(path.join(consumer, 'cdk.out')).filter((d) => d.startsWith('asset.'));
    for (const asset of assets.filter((d) => existsSync(path.join(consumer, 'cdk.out', d, 'index.mjs')))) {
      expect(
        JSON.parse(readFileSync(path.join(consumer, 'cdk.out', asset, 'policy.json'), 'utf8')),
      ).toMatchObject({ targets: [{ id: 'orders' }] });
    }
  });

  it('synthesizes the same stacks as the repository builds from source: every resource, role and policy', () => {
    expect(Object.keys(report.templates).sort()).toEqual(Object.keys(reference).sort());
    for (const [stack, template] of Object.entries(reference)) {
      const got = report.templates[stack]?.Resources ?? {};
      expect(Object.keys(got).sort()).toEqual(Object.keys(template.Resources).sort());
      for (const [id, resource] of Object.entries(template.Resources)) {
        expect({ id, resource: comparable(got[id] as CfnResource) }).toEqual({
          id,
          resource: comparable(resource),
        });
      }
    }
  });

  it('keeps least privilege: the audit table append-only, digests written by one function, rds-db:connect pinned', () => {
    const view = new TemplateView(Template.fromJSON(report.templates.Access ?? {}), []);
    const statements = view
      .resources('AWS::IAM::Policy')
      .flatMap(
        ([, p]) =>
          (p.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] } | undefined)?.Statement ??
          [],
      );
    const actions = (st: Record<string, unknown>) => [st.Action].flat() as string[];
    const on = (text: string) => statements.filter((st) => JSON.stringify(st.Resource).includes(text));
    const auditTable = JSON.stringify(report.templates.Access).match(
      /AccessState:ExportsOutputFnGetAttTablesAuditTable\w+/,
    )?.[0];
    expect(auditTable).toBeDefined();
    expect(
      on(auditTable ?? '-')
        .flatMap(actions)
        .filter((a) => !/^dynamodb:(PutItem|ConditionCheckItem|GetItem|Query)$/.test(a)),
    ).toEqual([]);
    const digestsTable = JSON.stringify(report.templates.Access).match(
      /AccessState:ExportsOutputFnGetAttTablesDigestsTable\w+/,
    )?.[0];
    expect(
      on(digestsTable ?? '-')
        .flatMap(actions)
        .filter((a) => !/^dynamodb:(GetItem|Query)$/.test(a)),
    ).toEqual(['dynamodb:PutItem']);
    // Only the functions that log in as a request's user (credentials, execute-statement), pinned to the target.
    const connects = statements.filter((st) => actions(st).includes('rds-db:connect'));
    expect(connects).toHaveLength(
      FUNCTION_NAMES.filter((name) => (FUNCTIONS[name].needs as FunctionNeeds).iamConnect).length,
    );
    for (const connect of connects)
      expect(JSON.stringify(connect.Resource)).toContain('dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY0/jit_*');
    expect(
      statements.filter((st) => actions(st).includes('secretsmanager:GetSecretValue')).length,
    ).toBeGreaterThan(0);
  });

  it('reports no finding of the AwsSolutions, Serverless, NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 packs', () => {
    expect(report.findings).toEqual([]);
  });

  it('validates the policy at synth with the messages jitdb policy check prints', async () => {
    writeFileSync(
      path.join(consumer, 'bad.json'),
      JSON.stringify({ version: 1, targets: [{ id: 'x', engine: 'oracle', database: 'd', levels: {} }] }),
    );
    const checked = await run('npx', ['jitdb', 'policy', 'check', 'bad.json'], consumer, true);
    expect(checked.code).not.toBe(0);
    const problems = checked.stderr
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim());
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(report.policyError).toContain(problem);
  });

  it('runs the installed jitdb: --version, --help and policy check, as compiled JavaScript', async () => {
    const version = await run('npx', ['jitdb', '--version'], consumer);
    expect(version.stdout.trim()).toBe(
      (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    );
    const help = await run('npx', ['jitdb', '--help'], consumer);
    expect(help.stdout).toContain('usage: jitdb <command>');
    expect(help.stdout).toContain('connect');
    writeFileSync(path.join(consumer, 'policy.json'), JSON.stringify((await loadExample()).policy));
    const check = await run('npx', ['jitdb', 'policy', 'check', 'policy.json'], consumer);
    expect(check.stdout).toContain('policy.json: ok (1 target(s), 1 level(s))');
    expect(existsSync(path.join(consumer, 'node_modules/jit-db-access/cli/main.ts'))).toBe(false);
  });
});
