import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import type * as z from 'zod/mini';
import { accountOfFunctionArn, authenticate } from '../application/authenticate.js';
import type { Deps } from '../application/ports.js';
import type { MappedError } from '../shared/http.js';
import { type HandlerPowertools, lambdaPowertools } from '../shared/powertools.js';
import {
  type DepsSource,
  type HttpEvent,
  type HttpHandlerOptions,
  type HttpState,
  httpErrors,
  httpRequest,
  httpState,
  resolveDeps,
  securityHeaders,
} from './http-middleware.js';
import type { HttpFunction } from './routes.js';

/** An HTTP Lambda: Powertools context, security headers, error mapping, routing/body/identity, then `core`. */
export function httpLambda(
  name: HttpFunction,
  deps: DepsSource<Deps>,
  core: (state: HttpState, deps: Deps, event: HttpEvent) => Promise<APIGatewayProxyResult>,
  options: HttpHandlerOptions & {
    render?: (error: MappedError, event: HttpEvent) => APIGatewayProxyResult;
  } = {},
) {
  const { logger } = options.powertools ?? lambdaPowertools;
  return middy<HttpEvent, APIGatewayProxyResult, Error, Context>()
    .use(injectLambdaContext(logger, { clearState: true }))
    .use(securityHeaders())
    .use(
      httpErrors({ logger: options.logger ?? logger, ...(options.render ? { render: options.render } : {}) }),
    )
    .use(httpRequest({ handler: name, localMode: options.localMode ?? false }))
    .handler(async (event, context) => {
      const state = httpState(event);
      const resolved = resolveDeps(deps);
      return core(await withCaller(state, resolved, context), resolved, event);
    });
}

/** The claimed caller judged by the policy's trust model (a local identity is trusted as it is). */
async function withCaller(state: HttpState, deps: Deps, context: Context): Promise<HttpState> {
  const { claim } = state;
  if (!claim) return state;
  const caller =
    claim.kind === 'local'
      ? claim.identity
      : await authenticate(claim.caller, accountOfFunctionArn(context?.invokedFunctionArn), deps);
  return { ...state, caller };
}

export interface TaskHandlerOptions {
  /** The Powertools logger and metrics the handler reports through; default the Lambda singletons. */
  powertools?: HandlerPowertools;
}

/** A workflow or event Lambda: Powertools context and metrics, the input validated by `schema`, then `core`. */
export function taskLambda<S extends z.ZodMiniType, R>(
  deps: DepsSource<Deps>,
  schema: S,
  core: (input: z.output<S>, deps: Deps, powertools: HandlerPowertools) => Promise<R>,
  options: TaskHandlerOptions = {},
) {
  const powertools = options.powertools ?? lambdaPowertools;
  return middy<unknown, R, Error, Context>()
    .use(injectLambdaContext(powertools.logger, { clearState: true }))
    .use(logMetrics(powertools.metrics))
    .handler(async (event) => core(schema.parse(event), resolveDeps(deps), powertools));
}

/** A scheduled Lambda: `run` on the validated input, its report logged as `message` and returned. */
export function reportingTaskLambda<S extends z.ZodMiniType, R>(
  deps: DepsSource<Deps>,
  schema: S,
  run: (input: z.output<S>, deps: Deps) => Promise<R>,
  message: string,
  options: TaskHandlerOptions = {},
) {
  return taskLambda(
    deps,
    schema,
    async (input, resolved, { logger }) => {
      const report = await run(input, resolved);
      logger.info(message, { report });
      return report;
    },
    options,
  );
}
