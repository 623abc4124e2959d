/**
 * Assembly mode's stand-in for Lambda's Node.js runtime bootstrap (/var/runtime/index.mjs): one process per
 * execution environment, started by local/assembly/lambda-service.ts with `node` (never tsx: a function is a
 * JavaScript bundle), cwd = the asset directory and exactly the function's environment.
 *
 * Init: imports `<LAMBDA_TASK_ROOT>/<module>` per `_HANDLER` (`index.handler` → module `index`, export
 * `handler`), trying `.js`, `.mjs`, `.cjs` like the runtime, and sends `{ type: 'init', ok }`. An init failure is
 * named the way Lambda names it: `Runtime.ImportModuleError` (no such module, or one it imports is missing),
 * `Runtime.HandlerNotFound` (no such export), `Runtime.MalformedHandlerName`, `Runtime.UserCodeSyntaxError`,
 * otherwise the thrown error's own name (e.g. a configuration error thrown at module load).
 *
 * Invoke: `{ type: 'invoke', id, event, awsRequestId, deadlineMs, invokedFunctionArn }` over IPC; the handler
 * is awaited with (event, context) and answered `{ type: 'result', id, ok: true, result }` or
 * `{ type: 'result', id, ok: false, errorType, errorMessage, trace }`. The nodejs24.x runtime no longer
 * supports callback-style handlers, so neither does this. stdout and stderr are the function's logs.
 *
 * The process exits when its IPC channel closes, so it never outlives the service that started it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const taskRoot = env.LAMBDA_TASK_ROOT ?? process.cwd();
const handlerString = env._HANDLER ?? '';

process.on('disconnect', () => process.exit(0));

/** An error named like the runtime's own (its `name` is the errorType Lambda reports). */
function runtimeError(kind, message, cause) {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  error.name = `Runtime.${kind}`;
  return error;
}

/** errorType, errorMessage and trace (stack lines) of anything thrown, as the runtime reports them. */
function describe(error) {
  if (error instanceof Error) {
    return {
      errorType: error.name || 'Error',
      errorMessage: error.message,
      trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
    };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

const MODULE_NOT_FOUND = new Set(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND']);

/** The handler function named by `_HANDLER`, or a Runtime.* error like Lambda's. */
async function loadHandler() {
  const match = /^([^.]*)\.(.*)$/.exec(handlerString);
  if (!match || handlerString.includes('..')) {
    throw runtimeError('MalformedHandlerName', `'${handlerString}' is not a valid handler name.`);
  }
  const [, modulePath = '', exportPath = ''] = match;
  const base = join(taskRoot, modulePath);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((candidate) => existsSync(candidate));
  if (file === undefined) {
    throw runtimeError('ImportModuleError', `Error: Cannot find module '${modulePath}'`);
  }
  let module;
  try {
    module = await import(pathToFileURL(file).href);
  } catch (error) {
    if (error instanceof SyntaxError) throw runtimeError('UserCodeSyntaxError', String(error), error);
    if (MODULE_NOT_FOUND.has(error?.code)) throw runtimeError('ImportModuleError', String(error), error);
    throw error;
  }
  const handler = exportPath.split('.').reduce((value, key) => value?.[key], module);
  if (typeof handler !== 'function') {
    throw runtimeError('HandlerNotFound', `${handlerString} is undefined or not exported`);
  }
  return handler;
}

/** A Lambda context for one invocation. */
function lambdaContext(message) {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? '',
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
    invokedFunctionArn: message.invokedFunctionArn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '128',
    awsRequestId: message.awsRequestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? '',
    getRemainingTimeInMillis: () => Math.max(0, message.deadlineMs - Date.now()),
  };
}

/** Lambda answers with the JSON of the result: what survives JSON is what the caller gets. */
function serialize(result) {
  const json = JSON.stringify(result);
  return json === undefined ? null : JSON.parse(json);
}

async function invoke(handler, message) {
  try {
    const result = await handler(message.event, lambdaContext(message));
    process.send({ type: 'result', id: message.id, ok: true, result: serialize(result) });
  } catch (error) {
    // As Lambda's Node.js runtime logs a failed invocation.
    console.error(
      `${new Date().toISOString()}\t${message.awsRequestId ?? ''}\tERROR\tInvoke Error \t${JSON.stringify(describe(error))}`,
    );
    process.send({ type: 'result', id: message.id, ok: false, ...describe(error) });
  }
}

let handler;
try {
  handler = await loadHandler();
} catch (error) {
  // Lambda's runtime logs the init error and exits; the service starts a fresh process next time.
  console.error(
    `${new Date().toISOString()}\tundefined\tERROR\tUncaught Exception \t${JSON.stringify(describe(error))}`,
  );
  process.send({ type: 'init', ok: false, ...describe(error) }, () => process.exit(1));
}
if (handler !== undefined) {
  process.on('message', (message) => {
    if (message?.type === 'invoke') void invoke(handler, message);
  });
  process.send({ type: 'init', ok: true });
}
