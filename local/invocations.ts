import { randomUUID } from 'node:crypto';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';

/**
 * Locally every handler runs in one process, many invocations at once, and the handlers share one Powertools
 * logger. Lambda's own answer for concurrent invocations in one environment is the InvokeStore (an
 * AsyncLocalStorage), which Powertools uses when AWS_LAMBDA_MAX_CONCURRENCY is set: each local invocation
 * runs in its own store context, so a log line carries its own function's name and request id.
 */

// Created when this module loads, before any AWS SDK call: the SDK asks for the store too (recursion
// detection) and the first one created is the one everybody gets. Forced to the concurrent kind; the variable
// comes after, since Powertools fails every log line if it is set while no store exists.
const store = await InvokeStore.getInstanceAsync(true);
process.env.AWS_LAMBDA_MAX_CONCURRENCY ??= '1000';

/** Calls `handler` as Lambda would invoke `functionName`: a fresh context, in an invocation scope of its own. */
export async function invokeLocally<T>(
  functionName: string,
  handler: (context: Context) => Promise<T>,
): Promise<T> {
  const context = lambdaContext(functionName);
  return store.run({ [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: context.awsRequestId }, () =>
    handler(context),
  );
}

/** A Lambda context for calling a handler in-process (Powertools reads the function name and request id). */
export function lambdaContext(functionName: string): Context {
  const deadline = Date.now() + 30_000;
  const unsupported = () => {
    throw new Error('callback-style Lambda completion is not supported locally');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
