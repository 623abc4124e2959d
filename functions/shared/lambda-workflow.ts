import { SFNClient } from '@aws-sdk/client-sfn';
import { SfnWorkflow } from '../adapters/sfn-workflow.js';
import type { Workflow } from '../ports.js';
import { requiredEnv } from './lambda-deps.js';

/**
 * Step Functions in AWS_REGION. STATE_MACHINE_ARN is only needed to start executions (checked then); completing
 * a task by token or stopping by ARN works without it.
 */
export function lambdaWorkflow(env: NodeJS.ProcessEnv = process.env): Workflow {
  const region = env.AWS_REGION;
  const client = new SFNClient(region ? { region } : {});
  const byToken = new SfnWorkflow({ client, stateMachineArn: env.STATE_MACHINE_ARN ?? '' });
  return {
    start: (requestId, input) =>
      new SfnWorkflow({ client, stateMachineArn: requiredEnv(env, 'STATE_MACHINE_ARN') }).start(
        requestId,
        input,
      ),
    sendTaskSuccess: (token, output) => byToken.sendTaskSuccess(token, output),
    sendTaskFailure: (token, error, cause) => byToken.sendTaskFailure(token, error, cause),
    stop: (executionArn, cause) => byToken.stop(executionArn, cause),
  };
}
