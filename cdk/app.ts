import { App } from 'aws-cdk-lib';
import { PolicyFileError } from '../functions/shared/config.js';
import { configFromContext, type DeploymentConfig } from './config.js';
import { StatefulStack } from './stateful-stack.js';
import { StatelessStack } from './stateless-stack.js';

export interface JitApp {
  app: App;
  stateful: StatefulStack;
  stateless: StatelessStack;
  config: DeploymentConfig;
}

/** Builds both stacks; tests call this with context instead of going through the CLI. */
export function buildApp(context: Record<string, unknown> = {}): JitApp {
  const app = new App({ context });
  const config = configFromContext(app.node);
  const env = {
    ...(process.env.CDK_DEFAULT_ACCOUNT ? { account: process.env.CDK_DEFAULT_ACCOUNT } : {}),
    ...(process.env.CDK_DEFAULT_REGION ? { region: process.env.CDK_DEFAULT_REGION } : {}),
  };
  const stateful = new StatefulStack(app, 'JitDbAccessStateful', {
    env,
    description: 'jit-db-access: requests and audit tables',
    terminationProtection: true,
  });
  const stateless = new StatelessStack(app, 'JitDbAccess', {
    env,
    description: 'jit-db-access: API, workflow, functions, schedules and alarms',
    config,
    requestsTable: stateful.requestsTable,
    auditTable: stateful.auditTable,
  });
  return { app, stateful, stateless, config };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    buildApp().app.synth();
  } catch (error) {
    if (error instanceof PolicyFileError) {
      console.error(`policy file ${error.message}`);
      for (const problem of error.problems) console.error(`  ${problem}`);
      process.exit(1);
    }
    throw error;
  }
}
