import { lazyOnce } from '../adapters/lazy-once.js';
import type { Workflow } from '../application/ports.js';
import { requiredEnv } from './lambda-deps.js';

/**
 * Step Functions in AWS_REGION, its client imported on the first call, not at cold start (cdk/bundling.ts).
 * STATE_MACHINE_ARN is needed to start and to stop an execution (checked then; both name it by the request
 * id); completing a task by token works without it.
 */
export function lambdaWorkflow(env: NodeJS.ProcessEnv = process.env): Workflow {
  const region = env.AWS_REGION;
  const workflow = lazyOnce(async () => {
    const { sfnWorkflow } = await import('../adapters/sfn-workflow.js');
    return sfnWorkflow(env.STATE_MACHINE_ARN ?? '', region);
  });
  return {
    start: async (requestId, input) => {
      requiredEnv(env, 'STATE_MACHINE_ARN');
      return (await workflow()).start(requestId, input);
    },
    sendTaskSuccess: async (token, output) => (await workflow()).sendTaskSuccess(token, output),
    sendTaskFailure: async (token, error, cause) => (await workflow()).sendTaskFailure(token, error, cause),
    stop: async (requestId, cause) => {
      requiredEnv(env, 'STATE_MACHINE_ARN');
      return (await workflow()).stop(requestId, cause);
    },
  };
}
