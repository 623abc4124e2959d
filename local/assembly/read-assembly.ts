import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FUNCTION_NAMES } from '../../functions/function-registry.js';
import { AssemblyError, substitute } from './intrinsics.js';
import type {
  AssemblyModel,
  EventRuleModel,
  FunctionModel,
  PolicyDocument,
  RoleModel,
  StateMachineModel,
  TableModel,
} from './model.js';
import { readRestApi } from './read-api.js';
import { readStacks, type StackSet, type StackTemplate } from './stack-templates.js';

export const DEFAULT_ACCOUNT = '000000000000';
export const DEFAULT_REGION = 'eu-west-1';

type Resolved = Record<string, unknown>;

function isRecord(value: unknown): value is Resolved {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every resource of the given types across the stacks, with its stack. */
function everywhere(set: StackSet, ...types: string[]): { stack: StackTemplate; id: string }[] {
  return set.stacks.flatMap((stack) => stack.resourcesOf(...types).map(([id]) => ({ stack, id })));
}

/** The registry name of a bundle: the functions/handlers/<name>.ts its source map lists (the entry is last). */
export function registryNameOfAsset(assetDir: string): string {
  const mapFile = resolve(assetDir, 'index.mjs.map');
  if (!existsSync(mapFile))
    throw new AssemblyError(`${assetDir}: no index.mjs.map to tell which handler it bundles`);
  const sources = (JSON.parse(readFileSync(mapFile, 'utf8')) as { sources?: string[] }).sources ?? [];
  const names = sources.flatMap((source) => {
    const match = /(?:^|\/)functions\/handlers\/([a-z][a-z0-9-]*)\.ts$/.exec(source);
    return match?.[1] !== undefined && (FUNCTION_NAMES as string[]).includes(match[1]) ? [match[1]] : [];
  });
  const name = names.at(-1);
  if (name === undefined) {
    throw new AssemblyError(
      `${mapFile}: no functions/handlers/<name>.ts of the function registry among its sources`,
    );
  }
  return name;
}

function readFunction(set: StackSet, stack: StackTemplate, id: string): FunctionModel {
  const code = stack.resolve(id, 'Code');
  const key = isRecord(code) ? code.S3Key : undefined;
  const asset = typeof key === 'string' ? set.assetsByObjectKey.get(key) : undefined;
  if (asset === undefined) {
    throw new AssemblyError(
      `${stack.templateFile}: ${stack.path(id, 'Code')}: no staged asset for S3Key ${String(key)}`,
    );
  }
  const environment = stack.resolveStringMap(id, 'Environment', 'Variables');
  const roleLogicalId = stack.roleLogicalIdOf(id, 'Role');
  const reserved = stack.resolve(id, 'ReservedConcurrentExecutions');
  return {
    logicalId: id,
    functionName: stack.refOf(id),
    arn: stack.attributeOf(id, 'Arn'),
    registryName: registryNameOfAsset(asset.path),
    assetDir: asset.path,
    handler: stack.resolveString(id, 'Handler'),
    runtime: stack.resolveString(id, 'Runtime'),
    timeoutSeconds: Number(stack.resolve(id, 'Timeout') ?? 3),
    memoryMb: Number(stack.resolve(id, 'MemorySize') ?? 128),
    environment,
    roleLogicalId,
    ...(reserved !== undefined ? { reservedConcurrency: Number(reserved) } : {}),
  };
}

function readRoles(stack: StackTemplate): RoleModel[] {
  const attached = stack.resourcesOf('AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy').map(([id, resource]) => ({
    id,
    managed: resource.Type === 'AWS::IAM::ManagedPolicy',
    roles: (stack.resolve(id, 'Roles') ?? []) as unknown[],
    name: resource.Type === 'AWS::IAM::Policy' ? stack.resolveString(id, 'PolicyName') : stack.refOf(id),
  }));
  return stack.resourcesOf('AWS::IAM::Role').map(([id]) => {
    const roleName = stack.refOf(id);
    const inline = (stack.resolve(id, 'Policies') ?? []) as {
      PolicyName: string;
      PolicyDocument: PolicyDocument;
    }[];
    const policies = inline.map((p) => ({ name: p.PolicyName, document: p.PolicyDocument }));
    const managedPolicyArns = ((stack.resolve(id, 'ManagedPolicyArns') ?? []) as unknown[]).map(String);
    for (const policy of attached.filter((p) => p.roles.includes(roleName))) {
      const document = stack.resolve(policy.id, 'PolicyDocument') as PolicyDocument;
      // A customer managed policy attached through its Roles: its document is in the template, so it counts.
      policies.push({ name: policy.name, document });
      if (policy.managed && !managedPolicyArns.includes(policy.name)) managedPolicyArns.push(policy.name);
    }
    return { logicalId: id, arn: stack.attributeOf(id, 'Arn'), policies, managedPolicyArns };
  });
}

function readStateMachine(set: StackSet): StateMachineModel {
  const machines = everywhere(set, 'AWS::StepFunctions::StateMachine');
  const [machine] = machines;
  if (machine === undefined || machines.length !== 1) {
    throw new AssemblyError(`expected one AWS::StepFunctions::StateMachine, found ${machines.length}`);
  }
  const { stack, id } = machine;
  const properties = stack.properties(id);
  let text: string;
  if (properties.DefinitionString !== undefined) {
    text = stack.resolveString(id, 'DefinitionString');
  } else if (properties.Definition !== undefined) {
    text = JSON.stringify(stack.resolve(id, 'Definition'));
  } else {
    const location = stack.resolve(id, 'DefinitionS3Location');
    const key = isRecord(location) ? location.Key : undefined;
    const asset = typeof key === 'string' ? set.assetsByObjectKey.get(key) : undefined;
    if (asset === undefined) {
      throw new AssemblyError(
        `${stack.templateFile}: ${stack.path(id)}: no definition (or no staged asset for it)`,
      );
    }
    text = readFileSync(asset.path, 'utf8');
  }
  const values = stack.resolveStringMap(id, 'DefinitionSubstitutions');
  const roleLogicalId = stack.roleLogicalIdOf(id, 'RoleArn');
  return {
    logicalId: id,
    name: stack.attributeOf(id, 'Name'),
    arn: stack.attributeOf(id, 'Arn'),
    definition: substitute(text, values),
    roleLogicalId,
  };
}

function readRules(stack: StackTemplate, functions: FunctionModel[]): EventRuleModel[] {
  return stack.resourcesOf('AWS::Events::Rule').map(([id]) => {
    const schedule = stack.resolve(id, 'ScheduleExpression');
    const pattern = stack.resolve(id, 'EventPattern');
    const targets = ((stack.resolve(id, 'Targets') ?? []) as Resolved[]).map((target, i) => {
      const fn = functions.find((f) => f.arn === target.Arn);
      if (fn === undefined) {
        throw new AssemblyError(
          `${stack.templateFile}: ${stack.path(id, `Targets[${i}].Arn`)}: ${String(target.Arn)} is not a function of the assembly`,
        );
      }
      return {
        functionLogicalId: fn.logicalId,
        ...(typeof target.Input === 'string' ? { input: target.Input } : {}),
      };
    });
    return {
      logicalId: id,
      arn: stack.attributeOf(id, 'Arn'),
      ...(typeof schedule === 'string' ? { scheduleExpression: schedule } : {}),
      ...(isRecord(pattern) ? { eventPattern: pattern } : {}),
      state: stack.resolve(id, 'State') === 'DISABLED' ? 'DISABLED' : 'ENABLED',
      targets,
    };
  });
}

function readTable(stack: StackTemplate, id: string): TableModel {
  const resolved = (property: string) => stack.resolve(id, property);
  const ttl = resolved('TimeToLiveSpecification');
  const ttlAttribute =
    isRecord(ttl) && ttl.Enabled !== false && ttl.Enabled !== 'false' ? ttl.AttributeName : undefined;
  const indexes = (resolved('GlobalSecondaryIndexes') ?? []) as TableModel['globalSecondaryIndexes'];
  return {
    logicalId: id,
    tableName: stack.refOf(id),
    arn: stack.attributeOf(id, 'Arn'),
    keySchema: resolved('KeySchema') as TableModel['keySchema'],
    attributeDefinitions: resolved('AttributeDefinitions') as TableModel['attributeDefinitions'],
    globalSecondaryIndexes: indexes.map((index) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
    })),
    ...(typeof ttlAttribute === 'string' ? { timeToLiveAttribute: ttlAttribute } : {}),
  };
}

/** Reads a synthesized cloud assembly (`cdk.out`) into the model the local emulators run from. */
export function readAssembly(
  dir: string,
  options: { account?: string; region?: string } = {},
): AssemblyModel {
  const account = options.account ?? DEFAULT_ACCOUNT;
  const region = options.region ?? DEFAULT_REGION;
  const set = readStacks(dir, account, region);
  const functions = everywhere(set, 'AWS::Lambda::Function').map(({ stack, id }) =>
    readFunction(set, stack, id),
  );
  const apis = everywhere(set, 'AWS::ApiGateway::RestApi');
  const [api] = apis;
  if (api === undefined || apis.length !== 1) {
    throw new AssemblyError(`expected one AWS::ApiGateway::RestApi, found ${apis.length}`);
  }
  return {
    dir: resolve(dir),
    account,
    region,
    functions,
    roles: set.stacks.flatMap(readRoles),
    stateMachine: readStateMachine(set),
    api: readRestApi(api.stack, api.id, functions),
    rules: set.stacks.flatMap((stack) => readRules(stack, functions)),
    tables: everywhere(set, 'AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable').map(({ stack, id }) =>
      readTable(stack, id),
    ),
    kmsKeys: everywhere(set, 'AWS::KMS::Key').map(({ stack, id }) => {
      const keySpec = stack.resolve(id, 'KeySpec');
      const keyUsage = stack.resolve(id, 'KeyUsage');
      return {
        logicalId: id,
        arn: stack.attributeOf(id, 'Arn'),
        ...(typeof keySpec === 'string' ? { keySpec } : {}),
        ...(typeof keyUsage === 'string' ? { keyUsage } : {}),
      };
    }),
    lambdaPermissions: everywhere(set, 'AWS::Lambda::Permission').map(({ stack, id }) => {
      const target = stack.resolveString(id, 'FunctionName');
      const fn = functions.find((f) => f.arn === target || f.functionName === target);
      if (fn === undefined) {
        throw new AssemblyError(
          `${stack.templateFile}: ${stack.path(id, 'FunctionName')}: ${target} is not a function of the assembly`,
        );
      }
      const sourceArn = stack.resolve(id, 'SourceArn');
      return {
        functionLogicalId: fn.logicalId,
        action: stack.resolveString(id, 'Action'),
        principal: stack.resolveString(id, 'Principal'),
        ...(typeof sourceArn === 'string' ? { sourceArn } : {}),
      };
    }),
    emailIdentities: everywhere(set, 'AWS::SES::EmailIdentity').map(({ stack, id }) => {
      const identity = stack.resolveString(id, 'EmailIdentity');
      return { identity, arn: `arn:aws:ses:${region}:${account}:identity/${identity}` };
    }),
    topics: everywhere(set, 'AWS::SNS::Topic').map(({ stack, id }) => {
      const kmsKey = stack.resolve(id, 'KmsMasterKeyId');
      return {
        logicalId: id,
        arn: stack.refOf(id),
        ...(typeof kmsKey === 'string' ? { kmsKeyArn: kmsKey } : {}),
      };
    }),
    queues: everywhere(set, 'AWS::SQS::Queue').map(({ stack, id }) => ({
      logicalId: id,
      arn: stack.attributeOf(id, 'Arn'),
      url: stack.refOf(id),
    })),
  };
}
