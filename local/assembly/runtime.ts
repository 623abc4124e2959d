/**
 * `npm start -- --assembly`: runs the synthesized cloud assembly and nothing else. The databases and DynamoDB
 * Local are the same local servers as `npm start`; everything AWS would run comes from the assembly — each
 * function's built asset in processes of its own with its template environment, the state machine's
 * definition (executed by the local runner, each Task invoking the function its ARN names), the REST API's
 * methods and auth, the EventBridge rules, the tables — and every AWS call a function makes is signed with its
 * own role session and evaluated against that role's policies from the template.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Policy } from '../../functions/domain/policy-schema.js';
import { DEMO_DATABASE, loadSampleData } from '../demo-data.js';
import { OutboxMailer } from '../outbox.js';
import { beginRuntime } from '../running-parts.js';
import {
  pointTargetsAtStartedServers,
  portMoves,
  portsMayMove,
  redact,
  type ServerOptions,
  startServers,
} from '../servers.js';
import type { LocalWorkflow } from '../workflow-runner.js';
import { type RunningApiGateway, type SignatureCheck, startApiGateway } from './api-gateway.js';
import { localSecretArn } from './assembly-policy.js';
import { type AwsEndpoint, startAwsEndpoint } from './aws-endpoint.js';
import { readAssembly, synthesizeAssembly } from './cloud-assembly.js';
import { type RunningEventRules, startEventRules } from './event-rules.js';
import { IamGatekeeper } from './gatekeeper.js';
import { mayInvoke } from './lambda-permissions.js';
import { LocalLambdaService } from './lambda-service.js';
import type { AssemblyModel, FunctionModel } from './model.js';
import { requestBodyValidator } from './request-validation.js';
import {
  dynamoDbEmulator,
  kmsEmulator,
  type LocalRdsDatabase,
  type LocalSecret,
  lambdaEmulator,
  rdsEmulator,
  secretsManagerEmulator,
  sesV2Emulator,
  stepFunctionsEmulator,
} from './services.js';
import { LocalSessions, type RoleSession, SIGN_IN_PATH, signInRoute } from './sessions.js';
import { assemblyWorkflow } from './state-machine.js';
import { adminSecret, createTemplateTables, kmsKeys } from './template-resources.js';

/** The SDK's per-service endpoint variables every function gets, all pointing at the one local endpoint. */
export const ENDPOINT_VARIABLES = [
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_SFN',
  'AWS_ENDPOINT_URL_SESV2',
  'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  'AWS_ENDPOINT_URL_RDS',
  'AWS_ENDPOINT_URL_LAMBDA',
  'AWS_ENDPOINT_URL_KMS',
] as const;

export interface AssemblyRuntimeOptions extends ServerOptions {
  /** The local policy; the assembly is synthesized from it with local admin secrets (assembly-policy.ts). */
  policyFile: string;
  /** The API's port; default 3000, 0 picks a free one. */
  port?: number;
  /** Nothing on disk: DynamoDB in memory, a throw-away PostgreSQL, the assembly in a temporary directory. */
  ephemeral?: boolean;
  stateDir?: string;
  /** Run this already synthesized assembly instead of synthesizing (tests that edit a template). */
  assemblyDir?: string;
  /** Where to synthesize; default <stateDir>/assembly. */
  outdir?: string;
  /** Faster schedules than the template's, by the target function's registry name (e.g. expiry-sweeper). */
  scheduleOverridesMs?: Partial<Record<string, number>>;
  printEmails?: boolean;
  /**
   * What the local RDS API describes (DescribeDBInstances/Clusters) for targets given by rdsInstanceId or
   * rdsClusterId; default none, so such a target is "not found", as an unknown instance is on AWS.
   */
  rdsDatabases?: LocalRdsDatabase[];
  /** Replaces the state machine's Retry pauses (tests: a grant retried four times need not take 30 s). */
  retryIntervalMs?: number;
  log?: (line: string) => void;
}

export interface AssemblyRuntime {
  /** The API stage URL: JITDB_ENDPOINT for jitdb. */
  url: string;
  /** The local sign-in: JITDB_SSO_URL for jitdb. */
  ssoUrl: string;
  /** The one local AWS endpoint the functions call. */
  awsEndpoint: string;
  model: AssemblyModel;
  policy: Policy;
  outbox: OutboxMailer;
  gatekeeper: IamGatekeeper;
  lambda: LocalLambdaService;
  workflow: LocalWorkflow;
  pgAdminUrl: string;
  dynamodbEndpoint: string;
  describe(): string[];
  /** Runs the schedule rule whose target is the named function (expiry-sweeper, audit-digest) now. */
  runSchedule(registryName: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the servers, synthesizes (or takes) the assembly, and runs it. Stops what started if a part fails. */
export async function startAssemblyRuntime(options: AssemblyRuntimeOptions): Promise<AssemblyRuntime> {
  const { log, policy, parts, dir } = beginRuntime(options);
  const { stopAll } = parts;
  try {
    const servers = startServers(options, dir, policy, log, (stop) => parts.add(stop));
    let outdir = options.outdir ?? (dir ? join(dir.root, 'assembly') : undefined);
    if (outdir === undefined) {
      // An ephemeral run synthesizes into a temporary directory, removed when it stops.
      const temporary = mkdtempSync(join(tmpdir(), 'jitdb-assembly-'));
      parts.add(async () => rmSync(temporary, { recursive: true, force: true }));
      outdir = temporary;
    }
    // A server started on another port than the policy names (--pg-port 0): its targets follow it, so the
    // synth waits for the servers then, and bundles the policy with the ports they got (as source mode does).
    const moves = portsMayMove(options) ? portMoves(options, await servers) : undefined;
    const synthesized = options.assemblyDir
      ? undefined
      : await synthesizeAssembly({ policyFile: options.policyFile, outdir, ...(moves ? { moves } : {}) });
    const model = readAssembly(options.assemblyDir ?? synthesized?.dir ?? outdir);
    const { dynamo, postgres, mysql } = await servers;
    await createTemplateTables(dynamo.url, model.tables);
    await loadSampleData(postgres.url, options.demoDatabase ?? DEMO_DATABASE, dir);

    const outbox = new OutboxMailer({
      ...(dir ? { file: dir.outbox } : {}),
      ...(options.printEmails === false ? { print: false as const } : {}),
    });
    const sessions = new LocalSessions(model.account);
    const roleOf = (logicalId: string) => {
      const role = model.roles.find((r) => r.logicalId === logicalId);
      if (!role) throw new Error(`the assembly has no role ${logicalId}`);
      return role;
    };
    const functionSessions = new Map<string, RoleSession>();
    for (const fn of model.functions) {
      const role = roleOf(fn.roleLogicalId);
      functionSessions.set(
        fn.logicalId,
        sessions.issue(
          role.arn,
          fn.functionName,
          role.policies.map((p) => p.document),
          fn.logicalId,
        ),
      );
    }
    const machineRole = roleOf(model.stateMachine.roleLogicalId);
    const machineSession = sessions.issue(
      machineRole.arn,
      model.stateMachine.name,
      machineRole.policies.map((p) => p.document),
      model.stateMachine.logicalId,
    );

    const secrets: LocalSecret[] = [];
    for (const target of policy.targets) {
      // The derived policy's secret (assembly-policy.ts), also for an assembly synthesized earlier.
      const arn =
        synthesized?.secretArns.get(target.id) ??
        target.adminSecretArn ??
        localSecretArn(target.id, model.account, model.region);
      const adminUrl = target.engine === 'mysql' ? ('url' in mysql ? mysql.url : undefined) : postgres.url;
      if (arn && adminUrl) secrets.push(adminSecret(arn, adminUrl, target.engine));
    }

    const gatekeeper = new IamGatekeeper(
      sessions,
      {
        account: model.account,
        region: model.region,
        stateMachineArnOfTaskToken: () => model.stateMachine.arn,
        secretArnOf: (id) => secrets.find((s) => s.arn === id || s.name === id)?.arn,
        // The RDS API's databases, or a host/port target's own resourceId (as the policy names it for IAM).
        dbiResourceIdOf: (host, port) =>
          options.rdsDatabases?.find((d) => d.address === host && d.port === port)?.resourceId ??
          policy.targets
            .map((t) => t.connection)
            .flatMap((c) =>
              'host' in c && c.host === host && c.port === port && c.resourceId ? [c.resourceId] : [],
            )[0],
        keyArnOf: (id) => model.kmsKeys.find((k) => k.arn === id || k.arn.endsWith(`/${id}`))?.arn,
        sesIdentityOf: (address) => {
          const domain = address.split('@')[1];
          return model.emailIdentities.find((i) => i.identity === address || i.identity === domain)?.identity;
        },
      },
      (holder, message) => log(`[aws] AccessDenied for ${holder}: ${message}`),
    );

    // Late-bound parts: the endpoint's emulators need the Lambda service and workflow, which need its URL.
    const late: { lambda?: LocalLambdaService; workflow?: LocalWorkflow; api?: RunningApiGateway } = {};
    const functionByName = (nameOrArn: string): FunctionModel | undefined =>
      model.functions.find(
        (f) => f.arn === nameOrArn || f.functionName === nameOrArn || f.logicalId === nameOrArn,
      );
    const invoke = async (nameOrArn: string, event: unknown) => {
      const fn = functionByName(nameOrArn);
      if (!fn || !late.lambda) {
        return {
          ok: false as const,
          errorType: 'ResourceNotFoundException',
          errorMessage: `Function not found: ${nameOrArn}`,
        };
      }
      return late.lambda.invoke(fn.logicalId, event);
    };
    const endpoint: AwsEndpoint = await startAwsEndpoint({
      gatekeeper,
      services: {
        dynamodb: dynamoDbEmulator(dynamo.url),
        states: (request, caller) => {
          if (!late.workflow) throw new Error('the workflow is not running yet');
          return stepFunctionsEmulator(late.workflow)(request, caller);
        },
        ses: sesV2Emulator(outbox),
        secretsmanager: secretsManagerEmulator(secrets),
        lambda: lambdaEmulator(invoke),
        kms: kmsEmulator(kmsKeys(model, dir)),
        rds: rdsEmulator(options.rdsDatabases ?? [], model.region, model.account),
      },
      localRoutes: {
        [`POST ${SIGN_IN_PATH}`]: signInRoute(
          sessions,
          `arn:aws:execute-api:${model.region}:${model.account}:${model.api.restApiId}/*`,
          model.region,
        ),
      },
    });
    parts.add(endpoint.close);

    const cloudApiUrl = `https://${model.api.restApiId}.execute-api.${model.region}.amazonaws.com/${model.api.stageName}`;
    const lambda = new LocalLambdaService(model.functions, {
      environment: (fn) => {
        const credentials = functionSessions.get(fn.logicalId)?.credentials;
        const extra: Record<string, string> = {
          AWS_REGION: model.region,
          ...Object.fromEntries(ENDPOINT_VARIABLES.map((name) => [name, endpoint.url])),
          ...(credentials
            ? {
                AWS_ACCESS_KEY_ID: credentials.accessKeyId,
                AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
                AWS_SESSION_TOKEN: credentials.sessionToken,
              }
            : {}),
        };
        // The one substitution: the API's public URL (in approval links) is the local stage URL.
        if (fn.environment.PUBLIC_BASE_URL === cloudApiUrl && late.api) extra.PUBLIC_BASE_URL = late.api.url;
        return extra;
      },
      log: (fn, line) => log(`[${fn}] ${line}`),
    });
    late.lambda = lambda;
    parts.add(() => lambda.stop());

    const workflow = assemblyWorkflow({
      model,
      gatekeeper,
      machineSession,
      invoke,
      retryIntervalMs: options.retryIntervalMs,
      log,
    });
    late.workflow = workflow;
    parts.add(() => workflow.close());

    const validateBody = requestBodyValidator();
    /** Credentials of an IAM-auth target leave the API with a minted token: check its rds-db:connect now. */
    const checkMintedTokens = async (outcome: { ok: boolean; result?: unknown }) => {
      const body = outcome.ok ? (outcome.result as { body?: unknown } | null)?.body : undefined;
      if (typeof body !== 'string' || !body.includes('Action=connect')) return;
      const credentials = JSON.parse(body) as { kind?: string; password?: string };
      if (credentials.kind === 'iam' && credentials.password)
        await gatekeeper.checkMintedToken(credentials.password);
    };
    const api = await startApiGateway({
      api: model.api,
      region: model.region,
      account: model.account,
      port: options.port ?? 3000,
      validateBody,
      verifySignature: (request): SignatureCheck => {
        const authenticated = gatekeeper.authenticate(request);
        if (!('failure' in authenticated)) return { ok: true, session: authenticated.session };
        const { code } = authenticated.failure;
        return {
          ok: false,
          refusal:
            code === 'MissingAuthenticationToken'
              ? 'MISSING_AUTHENTICATION_TOKEN'
              : code === 'InvalidClientTokenId'
                ? 'UNAUTHORIZED_CLIENT'
                : code === 'RequestExpired'
                  ? 'EXPIRED_TOKEN'
                  : 'INVALID_SIGNATURE',
        };
      },
      authorize: async (session, methodArn) => {
        const denied = await gatekeeper.evaluate(session, [
          { service: 'execute-api', action: 'execute-api:Invoke', resource: methodArn },
        ]);
        return denied
          ? {
              allowed: false,
              reason: denied.reason,
              action: denied.call.action,
              resource: denied.call.resource,
            }
          : { allowed: true };
      },
      invoke: async (logicalId, event) => {
        const context = event.requestContext;
        const sourceArn = `arn:aws:execute-api:${model.region}:${model.account}:${context.apiId}/${context.stage}/${context.httpMethod}${event.path}`;
        if (!mayInvoke(model.lambdaPermissions, logicalId, 'apigateway.amazonaws.com', sourceArn)) {
          log(
            `[api] Execution failed due to configuration error: Invalid permissions on Lambda function ${logicalId} (no permission for ${sourceArn})`,
          );
          return {
            ok: false,
            errorType: 'InvalidPermissions',
            errorMessage: 'Invalid permissions on Lambda function',
          };
        }
        const outcome = await invoke(logicalId, event);
        await checkMintedTokens(outcome);
        return outcome;
      },
    });
    late.api = api;
    parts.add(api.close);

    const overrides: Record<string, number> = {};
    for (const rule of model.rules) {
      for (const target of rule.targets) {
        const registryName = functionByName(target.functionLogicalId)?.registryName;
        const ms = registryName ? options.scheduleOverridesMs?.[registryName] : undefined;
        if (ms !== undefined) overrides[rule.logicalId] = ms;
      }
    }
    const rules: RunningEventRules = startEventRules({
      rules: model.rules,
      region: model.region,
      account: model.account,
      scheduleOverridesMs: overrides,
      invoke: async (logicalId, event, rule) => {
        if (!mayInvoke(model.lambdaPermissions, logicalId, 'events.amazonaws.com', rule.arn)) {
          throw new Error(`EventBridge may not invoke ${logicalId}: no Lambda permission for ${rule.arn}`);
        }
        const outcome = await invoke(logicalId, event);
        if (!outcome.ok) throw new Error(`${outcome.errorType}: ${outcome.errorMessage}`);
      },
      onError: (error, rule) =>
        log(`rule ${rule}: ${error instanceof Error ? error.message : String(error)}`),
    });
    parts.add(() => rules.stop());
    workflow.onStatusChange((event) => rules.publish(event as unknown as Record<string, unknown>));

    const ruleTargeting = (registryName: string) => {
      const rule = model.rules.find((r) =>
        r.targets.some((t) => functionByName(t.functionLogicalId)?.registryName === registryName),
      );
      if (!rule) throw new RangeError(`no rule targets ${registryName}`);
      return rule;
    };
    // One sweep before the banner, as in source mode: a grant that expired while nothing ran is revoked now.
    await rules
      .runSchedule(ruleTargeting('expiry-sweeper').logicalId)
      .catch((error: unknown) =>
        log(`start-up sweep: ${error instanceof Error ? error.message : String(error)}`),
      );

    const ssoUrl = `${endpoint.url}${SIGN_IN_PATH}`;
    return {
      url: api.url,
      ssoUrl,
      awsEndpoint: endpoint.url,
      model,
      policy: moves ? pointTargetsAtStartedServers(policy, options, await servers) : policy,
      outbox,
      gatekeeper,
      lambda,
      workflow,
      pgAdminUrl: postgres.url,
      dynamodbEndpoint: dynamo.url,
      describe: () => [
        `  api        ${api.url}   (the template's REST API: AWS_IAM methods need SigV4)`,
        `  sign-in    ${ssoUrl}   (the local Identity Center: jitdb signs in as JITDB_USER)`,
        `  aws        ${endpoint.url}   (DynamoDB, Step Functions, SES v2, Secrets Manager, Lambda, KMS; every call checked against the caller's role)`,
        `  assembly   ${options.assemblyDir ?? synthesized?.dir}   (${model.functions.length} functions, each in its own process)`,
        `  dynamodb   ${dynamo.url}   ${dynamo.describe}`,
        `  postgres   ${redact(postgres.url)}   ${postgres.describe}`,
        ...('url' in mysql ? [`  mysql      ${redact(mysql.url)}   ${mysql.describe}`] : []),
      ],
      runSchedule: async (registryName) => {
        await rules.runSchedule(ruleTargeting(registryName).logicalId);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
