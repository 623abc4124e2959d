import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SesMailer } from '../adapters/ses-mailer.js';
import type { Mailer } from '../ports.js';
import { requiredEnv } from './lambda-deps.js';

/** SES v2 from SENDER_EMAIL, in AWS_REGION. A function without SENDER_EMAIL fails when it sends, not at cold start. */
export function lambdaMailer(env: NodeJS.ProcessEnv = process.env): Mailer {
  const region = env.AWS_REGION;
  let mailer: SesMailer | undefined;
  return {
    send: async (email) => {
      mailer ??= new SesMailer(new SESv2Client(region ? { region } : {}), requiredEnv(env, 'SENDER_EMAIL'));
      await mailer.send(email);
    },
  };
}
