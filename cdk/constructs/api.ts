import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { z } from 'zod';
import type { HttpFunction } from '../../functions/function-registry.js';
import { ROUTES, type Route } from '../../functions/handlers/routes.js';
import { metricAlarm, serviceMetric } from './alarms.js';
import { bindNeeds, type DigestAnchoring, type FunctionConstructProps, stackFunction } from './bindings.js';
import type { DatabaseNetwork, JitFunction } from './jit-function.js';

/** The stage every URL and approval link lives under. */
export const STAGE_NAME = 'prod';

export interface ApiRoute {
  method: 'GET' | 'POST';
  path: string;
  handler: HttpFunction;
  /** `iam`: SigV4 (AWS_IAM); `link`: the approval-link token in the path; `none`: public document. */
  auth: 'iam' | 'link' | 'none';
  /** Also validated by API Gateway: only JSON bodies with required fields (an optional body cannot be modelled). */
  body?: z.core.$ZodType;
}

/** The REST routes, derived from the one route table in functions/handlers/routes.ts. */
export const API_ROUTES: readonly ApiRoute[] = ROUTES.map((route: Route) => {
  const validated = route.body && route.bodyType === 'json' && hasRequiredFields(route.body);
  return {
    method: route.method,
    path: route.path,
    handler: route.handler,
    auth: route.auth,
    ...(validated && route.body ? { body: route.body } : {}),
  };
});

function hasRequiredFields(schema: z.core.$ZodType): boolean {
  const required = apiGatewaySchema(schema).required;
  return Array.isArray(required) && required.length > 0;
}

export interface ApiConstructProps extends FunctionConstructProps {
  /** The workflow's revoke function: the api function runs early revokes through it. */
  readonly revokeFunction: lambda.IFunction;
  readonly stateMachine: sfn.StateMachine;
  /** The audit digests and their key: GET /requests/{id}/audit checks events against them. */
  readonly anchoring: DigestAnchoring;
  /**
   * The targets' VPC for the functions that connect to databases (all three: cdk/function-needs.ts).
   * @default - not in a VPC
   */
  readonly network?: DatabaseNetwork;
  /**
   * Base URL for approval links when the API sits behind a custom domain (`https://access.example.com`).
   * @default - the execute-api URL of the prod stage
   */
  readonly linkBaseUrl?: string;
  /** @default { rateLimit: 50, burstLimit: 100 } */
  readonly throttling?: { rateLimit: number; burstLimit: number };
  /**
   * The unauthenticated approval-link routes' own throttle, so a flood of forged links cannot use up the stage's
   * budget that revoke and credential calls share.
   * @default { rateLimit: 10, burstLimit: 20 }
   */
  readonly linkThrottling?: { rateLimit: number; burstLimit: number };
  /**
   * Reserved concurrency of the approval-links function: a flood of link requests cannot take the account's
   * concurrency from the other functions (revoke included). 0 leaves it unreserved (accounts whose limit is
   * still the new-account 10 cannot reserve any).
   * @default 5
   */
  readonly linkConcurrency?: number;
  /**
   * A WAF web ACL on the stage with a rate-based rule: a source address sending more than this many requests to
   * `/approvals/` in 5 minutes is blocked.
   * @default - no WAF (it costs money per ACL and per request)
   */
  readonly wafRateLimit?: number;
  /** @default API_ROUTES */
  readonly routes?: readonly ApiRoute[];
}

/** The REST API (IAM-authenticated except approval links and the OpenAPI document) and its three functions. */
export class ApiConstruct extends Construct {
  public readonly restApi: apigateway.RestApi;
  public readonly accessLogGroup: logs.LogGroup;
  /** api, approval-links, credentials. */
  public readonly functions: ReadonlyMap<HttpFunction, JitFunction>;
  /** What approval links start with (PUBLIC_BASE_URL), without a trailing slash. */
  public readonly publicBaseUrl: string;
  /** Fires when a refused approval link could not be counted (LinkRefusalNotCounted). */
  public readonly linkRefusalNotCountedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ApiConstructProps) {
    super(scope, id);
    const linkConcurrency = props.linkConcurrency ?? 5;
    const fn = (id: string, handlerName: HttpFunction) =>
      stackFunction(
        this,
        id,
        handlerName,
        props,
        handlerName === 'approval-links' && linkConcurrency > 0
          ? { reservedConcurrentExecutions: linkConcurrency }
          : {},
      );
    this.functions = new Map<HttpFunction, JitFunction>([
      ['api', fn('ApiFunction', 'api')],
      ['approval-links', fn('ApprovalLinksFunction', 'approval-links')],
      ['credentials', fn('CredentialsFunction', 'credentials')],
    ]);
    for (const f of this.functions.values()) {
      bindNeeds(f, {
        tables: props.tables,
        targets: props.targets,
        notifications: props.notifications,
        stateMachine: props.stateMachine,
        anchoring: props.anchoring,
        revokeFunction: props.revokeFunction,
      });
    }

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const throttling = props.throttling ?? { rateLimit: 50, burstLimit: 100 };
    const linkThrottling = props.linkThrottling ?? { rateLimit: 10, burstLimit: 20 };
    const linkMethods = Object.fromEntries(
      (props.routes ?? API_ROUTES)
        .filter((route) => route.auth === 'link')
        .map((route) => [
          `${route.path}/${route.method}`,
          {
            throttlingRateLimit: linkThrottling.rateLimit,
            throttlingBurstLimit: linkThrottling.burstLimit,
            // A method setting replaces the stage's for that method: say the logging again.
            loggingLevel: apigateway.MethodLoggingLevel.ERROR,
            dataTraceEnabled: false,
          },
        ]),
    );
    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      restApiName: 'jit-db-access',
      description: 'Just-in-time database access',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.DESTROY,
      deployOptions: {
        stageName: STAGE_NAME,
        // No stage tracing: X-Ray would record the request path, and an approval link's path is its secret.
        // The functions still trace (Lambda active tracing), and their segments carry no path.
        tracingEnabled: false,
        throttlingRateLimit: throttling.rateLimit,
        throttlingBurstLimit: throttling.burstLimit,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // bodies carry credentials; never log them
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogGroup),
        // resourcePath (/approvals/{token}), never the path: the access log must not hold link secrets either.
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        methodOptions: linkMethods,
      },
    });
    const restApi = this.restApi;
    // Built by hand: restApi.url would make every function depend on the stage, which depends on them.
    this.publicBaseUrl =
      props.linkBaseUrl?.replace(/\/+$/, '') ??
      `https://${restApi.restApiId}.execute-api.${Stack.of(this).region}.${Stack.of(this).urlSuffix}/${STAGE_NAME}`;
    for (const fn of this.functions.values()) fn.addEnvironment('PUBLIC_BASE_URL', this.publicBaseUrl);

    // API Gateway's own refusals (a body the validator rejects, a missing signature, throttling) answer in
    // the API's error shape, so clients parse one format whoever refused.
    for (const [id, type, code] of [
      ['BadRequestBody', apigateway.ResponseType.BAD_REQUEST_BODY, 'VALIDATION_FAILED'],
      ['Default4xx', apigateway.ResponseType.DEFAULT_4XX, '$context.error.responseType'],
      ['Default5xx', apigateway.ResponseType.DEFAULT_5XX, 'INTERNAL'],
    ] as const) {
      restApi.addGatewayResponse(id, {
        type,
        responseHeaders: { 'Cache-Control': "'no-store'", 'X-Content-Type-Options': "'nosniff'" },
        templates: {
          'application/json': `{"error":{"code":"${code}","message":$context.error.messageString}}`,
        },
      });
    }

    if (props.wafRateLimit !== undefined) this.attachWaf(props.wafRateLimit);
    this.linkRefusalNotCountedAlarm = metricAlarm(
      this,
      'LinkRefusalNotCountedAlarm',
      'Refused approval links are not being counted (the tally write failed): a forged-link flood may go unseen',
      serviceMetric('LinkRefusalNotCounted', Duration.minutes(5)),
    );
    this.linkRefusalNotCountedAlarm.addAlarmAction(new actions.SnsAction(props.notifications.alarmTopic));

    const bodyValidator = new apigateway.RequestValidator(this, 'BodyValidator', {
      restApi,
      requestValidatorName: 'body-and-parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const integrations = new Map<HttpFunction, apigateway.LambdaIntegration>();
    for (const [name, fn] of this.functions) integrations.set(name, new apigateway.LambdaIntegration(fn));
    const models = new Map<z.core.$ZodType, apigateway.Model>();

    for (const route of props.routes ?? API_ROUTES) {
      const resource = restApi.root.resourceForPath(route.path);
      const integration = integrations.get(route.handler);
      if (!integration) throw new Error(`no function for route ${route.method} ${route.path}`);
      let model = route.body ? models.get(route.body) : undefined;
      if (route.body && !model) {
        model = restApi.addModel(`Model${models.size + 1}`, {
          contentType: 'application/json',
          schema: apiGatewaySchema(route.body),
        });
        models.set(route.body, model);
      }
      const method = resource.addMethod(route.method, integration, {
        authorizationType:
          route.auth === 'iam' ? apigateway.AuthorizationType.IAM : apigateway.AuthorizationType.NONE,
        ...(model ? { requestValidator: bodyValidator, requestModels: { 'application/json': model } } : {}),
      });
      if (route.auth !== 'iam') {
        Validations.of(method).acknowledge(
          {
            id: 'AwsSolutions-APIG4',
            reason:
              route.auth === 'link'
                ? 'Approval links are opened from email by approvers without AWS credentials; the single-use, hashed, expiring token in the path is the authentication.'
                : 'The OpenAPI document is public by design: it describes the API and holds no data.',
          },
          {
            id: 'AwsSolutions-COG4',
            reason:
              'No Cognito: callers authenticate with SigV4 (AWS_IAM) or, on this route, not at all (see APIG4).',
          },
        );
      }
    }
    if (props.wafRateLimit === undefined) {
      Validations.of(restApi).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason:
          "No WAF web ACL by default (-c wafRateLimit=… adds one): IAM auth, per-route throttles and the link function's reserved concurrency guard the API.",
      });
    }
    Validations.of(restApi).acknowledge(
      {
        id: 'AwsSolutions-COG4',
        reason:
          'Every other route uses AWS_IAM authorization (SigV4): callers are IAM principals, not Cognito users.',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "API Gateway's account-level CloudWatch role needs AmazonAPIGatewayPushToCloudWatchLogs; AWS documents no narrower policy.",
      },
    );
  }

  /** A regional web ACL on the stage: rate-limits each source address on the unauthenticated link routes. */
  private attachWaf(limit: number): void {
    const acl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: {
        cloudWatchMetricsEnabled: true,
        metricName: 'jit-db-access',
        sampledRequestsEnabled: false,
      },
      rules: [
        {
          name: 'approval-links-rate',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit,
              aggregateKeyType: 'IP',
              scopeDownStatement: {
                byteMatchStatement: {
                  fieldToMatch: { uriPath: {} },
                  positionalConstraint: 'CONTAINS',
                  searchString: '/approvals/',
                  textTransformations: [{ priority: 0, type: 'NONE' }],
                },
              },
            },
          },
          // No sampled requests: a sample would keep the link secret that is the path.
          visibilityConfig: {
            cloudWatchMetricsEnabled: true,
            metricName: 'approval-links-rate',
            sampledRequestsEnabled: false,
          },
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.restApi.deploymentStage.stageArn,
      webAclArn: acl.attrArn,
    });
  }
}

/** The zod body schema as the draft-04 JSON schema API Gateway models accept (input side of transforms). */
export function apiGatewaySchema(schema: z.core.$ZodType): apigateway.JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'draft-04', io: 'input', unrepresentable: 'any' });
  // API Gateway rejects models naming a $schema it does not know; drop it like every other tool would.
  const { $schema: _ignored, ...rest } = json;
  return rest as apigateway.JsonSchema;
}
