import { App, Validations } from 'aws-cdk-lib';
import { PolicyFileError } from '../functions/shared/config.js';
import { compliancePacks } from './compliance.js';
import { configFromContext, type DeploymentConfig } from './config.js';
import { StatefulStack } from './stateful-stack.js';
import { StatelessStack } from './stateless-stack.js';

export interface JitApp {
  app: App;
  stateful: StatefulStack;
  stateless: StatelessStack;
  config: DeploymentConfig;
}

/** Feature flags this app is written against (cdk.json context may repeat them; these are the floor). */
export const FEATURE_FLAGS = {
  '@aws-cdk/core:enablePartitionLiterals': true,
  '@aws-cdk/core:checkSecretUsage': true,
  // The tables' stack must not let a consumer's export silently disappear.
  '@aws-cdk/core:defaultCrossStackReferences': 'strong',
};

/**
 * Builds both stacks (whose constructs apply the reviewed cdk-nag acknowledgements of cdk/acknowledgements.ts); tests call this
 * with context (and a fixed env) instead of going through the CLI, and without the acknowledgements to see
 * the raw findings.
 */
export function buildApp(
  context: Record<string, unknown> = {},
  env: { account?: string; region?: string } = {
    ...(process.env.CDK_DEFAULT_ACCOUNT ? { account: process.env.CDK_DEFAULT_ACCOUNT } : {}),
    ...(process.env.CDK_DEFAULT_REGION ? { region: process.env.CDK_DEFAULT_REGION } : {}),
  },
  options: { acknowledgeFindings?: boolean } = {},
): JitApp {
  const app = new App({ context: { ...FEATURE_FLAGS, ...context } });
  const config = configFromContext(app.node);
  const stateful = new StatefulStack(app, 'JitDbAccessStateful', {
    env,
    description: 'jit-db-access: requests, audit and audit digest tables',
    terminationProtection: true,
    acknowledgeComplianceFindings: options.acknowledgeFindings ?? true,
    ...(config.backupRetentionDays !== undefined ? { backupRetentionDays: config.backupRetentionDays } : {}),
  });
  const stateless = new StatelessStack(app, 'JitDbAccess', {
    env,
    description: 'jit-db-access: API, workflow, functions, schedules and alarms',
    config,
    tables: stateful.tables,
    acknowledgeComplianceFindings: options.acknowledgeFindings ?? true,
  });
  return { app, stateful, stateless, config };
}

/**
 * Synthesizes into CDK_OUTDIR with the five cdk-nag packs of cdk/compliance.ts (an unacknowledged finding fails
 * the synth, as in the infra tests); a policy file with problems is printed and exits 1. `cdk synth` runs this, and so does
 * assembly mode (local/assembly/synth-entry.ts).
 */
export function synthesizeOrExit(
  context?: Record<string, unknown>,
  env?: { account?: string; region?: string },
): void {
  try {
    const { app } = buildApp(context, env);
    Validations.of(app).addPlugins(...compliancePacks());
    app.synth();
  } catch (error) {
    if (error instanceof PolicyFileError) {
      console.error(error.message);
      for (const problem of error.problems) console.error(`  ${problem}`);
      process.exit(1);
    }
    throw error;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) synthesizeOrExit();
