import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { logger } from '../../functions/shared/powertools.js';
import { invokeLocally } from '../../local/invocations.js';

/**
 * Locally every handler shares one Powertools logger and invocations overlap: each runs in an invocation
 * scope of its own (Lambda's InvokeStore), so its log lines name its own function and request.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('local invocations', () => {
  it('keep each overlapping invocation’s function name and request id on its own log lines', async () => {
    const lines: Record<string, unknown>[] = [];
    const write = process.stdout.write.bind(process.stdout);
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = String(chunk);
      if (text.includes('"message":"done"')) {
        lines.push(JSON.parse(text) as Record<string, unknown>);
        return true;
      }
      return write(chunk, ...(rest as []));
    });
    const level = logger.getLevelName();
    logger.setLogLevel('INFO');
    try {
      const handler = middy(async (event: { delayMs: number }) => {
        await sleep(event.delayMs); // the other invocation starts and injects its context meanwhile
        logger.info('done');
      }).use(injectLambdaContext(logger, { clearState: true }));
      const ids: Record<string, string> = {};
      const run = (name: string, delayMs: number) =>
        invokeLocally(name, (context: Context) => {
          ids[name] = context.awsRequestId;
          return handler({ delayMs }, context);
        });
      await Promise.all([run('slow-function', 40), run('fast-function', 5)]);
      expect(lines.map((l) => [l.function_name, l.function_request_id]).sort()).toEqual(
        [
          ['fast-function', ids['fast-function']],
          ['slow-function', ids['slow-function']],
        ].sort(),
      );
    } finally {
      logger.setLogLevel(level);
    }
  });
});
