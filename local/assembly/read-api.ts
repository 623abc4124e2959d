import { AssemblyError } from './intrinsics.js';
import type { ApiMethodModel, FunctionModel, GatewayResponseModel, RestApiModel } from './model.js';
import type { StackTemplate } from './stack-templates.js';

/** API Gateway's payload limit, which the emulation enforces too. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

type Resolved = Record<string, unknown>;

interface MethodSetting {
  path: string;
  httpMethod: string;
  throttle?: { rateLimit: number; burstLimit: number };
}

/** A MethodSettings ResourcePath (`/~1approvals~1{token}`) as a resource path (`/approvals/{token}`). */
function settingPath(resourcePath: string): string {
  if (resourcePath === '/*') return '*';
  return resourcePath.slice(1).replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Full paths of the API's resources, by resource id (Ref), walking ParentId up to the root resource. */
function resourcePaths(stack: StackTemplate, restApiId: string, rootId: string): Map<string, string> {
  const parents = new Map<string, { parent: string; part: string; logicalId: string }>();
  for (const [id] of stack.resourcesOf('AWS::ApiGateway::Resource')) {
    if (stack.resolve(id, 'RestApiId') !== restApiId) continue;
    parents.set(stack.refOf(id), {
      parent: stack.resolveString(id, 'ParentId'),
      part: stack.resolveString(id, 'PathPart'),
      logicalId: id,
    });
  }
  const paths = new Map<string, string>([[rootId, '/']]);
  const pathOf = (resourceId: string, seen: Set<string>): string => {
    const known = paths.get(resourceId);
    if (known !== undefined) return known;
    const node = parents.get(resourceId);
    if (node === undefined || seen.has(resourceId)) {
      throw new AssemblyError(
        `${stack.templateFile}: API resource ${resourceId} does not lead to the root resource`,
      );
    }
    seen.add(resourceId);
    const parentPath = pathOf(node.parent, seen);
    const path = `${parentPath === '/' ? '' : parentPath}/${node.part}`;
    paths.set(resourceId, path);
    return path;
  };
  for (const resourceId of parents.keys()) pathOf(resourceId, new Set());
  return paths;
}

/**
 * The JSON schema API Gateway validates a method's body against: its `application/json` request model, when
 * its request validator validates bodies.
 */
function requestModelOf(stack: StackTemplate, id: string): Record<string, unknown> | undefined {
  const validatorRef = stack.resolve(id, 'RequestValidatorId');
  const models = stack.resolve(id, 'RequestModels') as Resolved | undefined;
  const modelRef = models?.['application/json'];
  if (typeof validatorRef !== 'string' || typeof modelRef !== 'string') return undefined;
  const validator = stack
    .resourcesOf('AWS::ApiGateway::RequestValidator')
    .find(([vid]) => stack.refOf(vid) === validatorRef);
  if (!validator || stack.resolve(validator[0], 'ValidateRequestBody') !== true) return undefined;
  const model = stack.resourcesOf('AWS::ApiGateway::Model').find(([mid]) => stack.refOf(mid) === modelRef);
  if (!model) {
    throw new AssemblyError(
      `${stack.templateFile}: ${stack.path(id, 'RequestModels')}: no model ${modelRef}`,
    );
  }
  return stack.resolve(model[0], 'Schema') as Record<string, unknown>;
}

/** The function a Lambda proxy integration URI (`…:lambda:path/2015-03-31/functions/<arn>/invocations`) calls. */
function integrationFunction(
  stack: StackTemplate,
  id: string,
  functions: FunctionModel[],
): string | undefined {
  const integration = stack.resolve(id, 'Integration');
  const uri = (integration as Resolved | undefined)?.Uri;
  if (typeof uri !== 'string') return undefined;
  const match = /:lambda:path\/2015-03-31\/functions\/(.+)\/invocations$/.exec(uri);
  if (match === null) return undefined;
  const fn = functions.find((f) => f.arn === match[1]);
  if (fn === undefined) {
    throw new AssemblyError(
      `${stack.templateFile}: ${stack.path(id, 'Integration.Uri')}: ${match[1]} is no function of the assembly`,
    );
  }
  return fn.logicalId;
}

function stageOf(stack: StackTemplate, restApiId: string): { stageName: string; settings: MethodSetting[] } {
  const stages = stack
    .resourcesOf('AWS::ApiGateway::Stage')
    .filter(([id]) => stack.resolve(id, 'RestApiId') === restApiId);
  const [stage] = stages;
  if (stage === undefined) {
    const deployment = stack
      .resourcesOf('AWS::ApiGateway::Deployment')
      .find(
        ([id]) =>
          stack.resolve(id, 'RestApiId') === restApiId && stack.properties(id).StageName !== undefined,
      );
    if (deployment === undefined) throw new AssemblyError(`${stack.templateFile}: the REST API has no stage`);
    return { stageName: stack.resolveString(deployment[0], 'StageName'), settings: [] };
  }
  if (stages.length > 1)
    throw new AssemblyError(`${stack.templateFile}: the REST API has ${stages.length} stages`);
  const [id] = stage;
  const settings = ((stack.resolve(id, 'MethodSettings') ?? []) as Resolved[]).map((s) => {
    const rate = s.ThrottlingRateLimit;
    const burst = s.ThrottlingBurstLimit;
    return {
      path: settingPath(String(s.ResourcePath ?? '/*')),
      httpMethod: String(s.HttpMethod ?? '*'),
      ...(rate !== undefined && burst !== undefined
        ? { throttle: { rateLimit: Number(rate), burstLimit: Number(burst) } }
        : {}),
    };
  });
  return { stageName: stack.resolveString(id, 'StageName'), settings };
}

/** The most specific stage setting with throttling for a method: its own, else the stage-wide `/*` one. */
function throttleFor(
  settings: MethodSetting[],
  path: string,
  httpMethod: string,
): ApiMethodModel['throttle'] {
  const candidates = [
    (s: MethodSetting) => s.path === path && s.httpMethod === httpMethod,
    (s: MethodSetting) => s.path === path && s.httpMethod === '*',
    (s: MethodSetting) => s.path === '*' && (s.httpMethod === '*' || s.httpMethod === httpMethod),
  ];
  for (const matches of candidates) {
    const setting = settings.find((s) => matches(s) && s.throttle !== undefined);
    if (setting?.throttle) return setting.throttle;
  }
  return undefined;
}

/** Reads one AWS::ApiGateway::RestApi: its resources' paths, methods, stage and gateway responses. */
export function readRestApi(
  stack: StackTemplate,
  logicalId: string,
  functions: FunctionModel[],
): RestApiModel {
  const restApiId = stack.refOf(logicalId);
  const paths = resourcePaths(stack, restApiId, stack.attributeOf(logicalId, 'RootResourceId'));
  const { stageName, settings } = stageOf(stack, restApiId);
  const methods = stack
    .resourcesOf('AWS::ApiGateway::Method')
    .filter(([id]) => stack.resolve(id, 'RestApiId') === restApiId)
    .map(([id]): ApiMethodModel => {
      const resourceId = stack.resolveString(id, 'ResourceId');
      const path = paths.get(resourceId);
      if (path === undefined) {
        throw new AssemblyError(
          `${stack.templateFile}: ${stack.path(id, 'ResourceId')}: no resource ${resourceId} in the API`,
        );
      }
      const httpMethod = stack.resolveString(id, 'HttpMethod');
      const functionLogicalId = integrationFunction(stack, id, functions);
      const throttle = throttleFor(settings, path, httpMethod);
      const requestModel = requestModelOf(stack, id);
      return {
        path,
        httpMethod,
        authorizationType: String(stack.resolve(id, 'AuthorizationType') ?? 'NONE'),
        ...(functionLogicalId !== undefined ? { functionLogicalId } : {}),
        ...(throttle !== undefined ? { throttle } : {}),
        ...(requestModel !== undefined ? { requestModel } : {}),
      };
    });
  const gatewayResponses = stack
    .resourcesOf('AWS::ApiGateway::GatewayResponse')
    .filter(([id]) => stack.resolve(id, 'RestApiId') === restApiId)
    .map(([id]): GatewayResponseModel => {
      const statusCode = stack.resolve(id, 'StatusCode');
      return {
        responseType: stack.resolveString(id, 'ResponseType'),
        ...(statusCode !== undefined ? { statusCode: String(statusCode) } : {}),
        responseParameters: stack.resolveStringMap(id, 'ResponseParameters'),
        responseTemplates: stack.resolveStringMap(id, 'ResponseTemplates'),
      };
    });
  return {
    logicalId,
    restApiId,
    stageName,
    methods,
    gatewayResponses,
    maxBodyBytes: API_GATEWAY_MAX_BODY_BYTES,
  };
}
