import * as z from 'zod/mini';
import '../domain/zod-locale.js';
import { executionStatusChange } from '../application/execution-status-change.js';
import type { Deps } from '../application/ports.js';
import { lambdaDeps, lazyDeps } from '../shared/lambda-deps.js';
import { lambdaProvisioners } from '../shared/lambda-provisioners.js';
import type { DepsSource } from './http-middleware.js';
import { type TaskHandlerOptions, taskLambda } from './lambda.js';

/** EventBridge "Step Functions Execution Status Change": only the detail matters. */
const StatusChangeEvent = z.looseObject({
  detail: z.looseObject({
    status: z.string(),
    name: z.optional(z.string()),
    executionArn: z.optional(z.string()),
    input: z.optional(z.nullable(z.string())),
  }),
});

export const createHandler = (deps: DepsSource<Deps>, options: TaskHandlerOptions = {}) =>
  taskLambda(
    deps,
    StatusChangeEvent,
    async (event, resolved, { logger }) => {
      const { status, name, executionArn, input } = event.detail;
      const result = await executionStatusChange(
        {
          status,
          ...(name ? { name } : {}),
          ...(executionArn ? { executionArn } : {}),
          input: input ?? null,
        },
        resolved,
      );
      logger.info('execution status change handled', { status, ...result });
      return result;
    },
    options,
  );
export const handler = createHandler(lazyDeps(() => lambdaDeps({ provisioners: lambdaProvisioners() })));
