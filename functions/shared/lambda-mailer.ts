import { lazyOnce } from '../adapters/lazy-once.js';
import type { Mailer } from '../application/ports.js';
import { requiredEnv } from './lambda-deps.js';

/**
 * SES v2 from SENDER_EMAIL, in AWS_REGION. The SES client is imported on the first mail, not at cold start
 * (the bundle's SES chunk, cdk/bundling.ts); a function without SENDER_EMAIL fails when it sends.
 */
export function lambdaMailer(env: NodeJS.ProcessEnv = process.env): Mailer {
  const region = env.AWS_REGION;
  const mailer = lazyOnce(async () => {
    const from = requiredEnv(env, 'SENDER_EMAIL');
    const { sesMailer } = await import('../adapters/ses-mailer.js');
    return sesMailer(from, region);
  });
  return { send: async (email) => (await mailer()).send(email) };
}
