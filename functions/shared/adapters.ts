import { awsProvisioners } from '../adapters/provisioners.js';
import type { Deps } from '../ports.js';
import { lambdaDeps, requiredEnv } from './lambda-deps.js';
import { lambdaMailer } from './lambda-mailer.js';
import { lambdaWorkflow } from './lambda-workflow.js';

/**
 * Every adapter at once: DynamoDB tables, provisioners with Secrets Manager admin credentials, SES, Step
 * Functions, the bundled policy file, the system clock, crypto ids, Powertools. Lambda handlers do not use
 * this: each wires only what it needs from the lambda-* builders, so its bundle ships nothing else.
 */
export function adapters(env: NodeJS.ProcessEnv = process.env): Deps {
  requiredEnv(env, 'STATE_MACHINE_ARN');
  requiredEnv(env, 'SENDER_EMAIL');
  requiredEnv(env, 'PUBLIC_BASE_URL');
  const region = env.AWS_REGION;
  return lambdaDeps(
    'all-in-one',
    {
      provisioners: awsProvisioners(region ? { region } : {}),
      mailer: lambdaMailer(env),
      workflow: lambdaWorkflow(env),
    },
    env,
  );
}

/** A provider that builds the deps on first use and keeps them for the container's life. */
export function lazyDeps(build: () => Deps = () => adapters()): () => Deps {
  let deps: Deps | undefined;
  return () => {
    deps ??= build();
    return deps;
  };
}
