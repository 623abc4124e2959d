import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { signalWhenParentDies } from '../watchdog.js';
import { LOCAL_RUNTIME_DIR, lambdaEnvironment, logStreamName } from './lambda-environment.js';
import type { FunctionModel } from './model.js';

/**
 * Assembly mode's Lambda service: each function's built asset runs in processes of its own
 * (lambda-runtime-child.mjs, the runtime stand-in), with exactly its template handler, environment
 * (lambda-environment.ts) and timeout. A process is an execution environment: started on first use (a cold
 * start), reused while idle, another started when all are busy, up to the reserved concurrency (beyond it the
 * invoke is throttled). A timeout or a crash kills the process; an init failure is answered on every invoke,
 * each retrying init in a fresh process, as Lambda does. Idle processes are kept indefinitely (no freezing).
 * No process outlives the service: stop() kills them all, and if the service's process dies they follow
 * (IPC disconnect in the child, and a local/watchdog.ts watchdog for a child stuck in synchronous code).
 */

/** What an invoke answers: the handler's result, or the error Lambda would report. */
export type InvokeResult =
  | { ok: true; result: unknown; durationMs: number; coldStart: boolean }
  | {
      ok: false;
      errorType: string;
      errorMessage: string;
      trace?: string[];
      durationMs: number;
      coldStart: boolean;
    };

export interface LambdaServiceOptions {
  /** Extra environment per function (AWS_ENDPOINT_URL, AWS_REGION, per-function credentials). */
  environment?: (fn: FunctionModel) => Record<string, string>;
  /** Each line a function logs (stdout and stderr), and the service's notes; default: stderr, prefixed. */
  log?: (fn: string, line: string) => void;
  /** How long an init may take (Lambda's init phase is limited to 10 s). */
  coldStartTimeoutMs?: number;
  /** A local CA bundle for functions whose NODE_EXTRA_CA_CERTS names a file missing here. */
  caCertsFile?: string;
}

type Failure = { ok: false; errorType: string; errorMessage: string; trace?: string[] };
type Outcome = { ok: true; result: unknown } | Failure;

interface Sandbox {
  child: ChildProcess;
  busy: boolean;
  /** Settles the invocation in flight (or the init) when the process dies. */
  onExit?: (failure: Failure) => void;
}

const RUNTIME_CHILD = join(LOCAL_RUNTIME_DIR, 'lambda-runtime-child.mjs');

/** Runs each function's real asset in its own processes, as Lambda runs execution environments. */
export class LocalLambdaService {
  /** Cold starts per function name, for benches. */
  readonly coldStarts = new Map<string, number>();
  private readonly sandboxes = new Map<string, Set<Sandbox>>();
  private readonly functions: FunctionModel[];
  private readonly options: LambdaServiceOptions;
  private stopped = false;

  constructor(functions: FunctionModel[], options: LambdaServiceOptions = {}) {
    this.functions = functions;
    this.options = options;
  }

  /** The pids of every live process (tests check none survives stop()). */
  pids(): number[] {
    return [...this.sandboxes.values()].flatMap((set) =>
      [...set].flatMap((s) => (s.child.pid === undefined ? [] : [s.child.pid])),
    );
  }

  /** Invokes a function (by function name or logical id) with `event`, synchronously like RequestResponse. */
  async invoke(name: string, event: unknown, options: { awsRequestId?: string } = {}): Promise<InvokeResult> {
    const started = performance.now();
    const awsRequestId = options.awsRequestId ?? randomUUID();
    const done = (outcome: Outcome, coldStart: boolean): InvokeResult => ({
      ...outcome,
      durationMs: performance.now() - started,
      coldStart,
    });
    const fn = this.functions.find((f) => f.functionName === name || f.logicalId === name);
    if (!fn || this.stopped) {
      const errorMessage = `Function not found: ${name}`;
      return done({ ok: false, errorType: 'ResourceNotFoundException', errorMessage }, false);
    }
    const set = this.sandboxesOf(fn);
    let sandbox = [...set].find((s) => !s.busy);
    const coldStart = sandbox === undefined;
    if (sandbox === undefined) {
      if (fn.reservedConcurrency !== undefined && set.size >= fn.reservedConcurrency) {
        const errorMessage = 'Rate Exceeded.';
        return done({ ok: false, errorType: 'TooManyRequestsException', errorMessage }, false);
      }
      this.coldStarts.set(fn.functionName, (this.coldStarts.get(fn.functionName) ?? 0) + 1);
      const init = await this.start(fn, set);
      if (!init.ok) return done(init, true);
      sandbox = init.sandbox;
    }
    sandbox.busy = true;
    const invoked = performance.now();
    this.log(fn, `START RequestId: ${awsRequestId} Version: $LATEST`);
    const outcome = await this.run(fn, sandbox, set, event, awsRequestId);
    sandbox.busy = false;
    const duration = (performance.now() - invoked).toFixed(2);
    this.log(fn, `END RequestId: ${awsRequestId}`);
    this.log(
      fn,
      `REPORT RequestId: ${awsRequestId}\tDuration: ${duration} ms\tMemory Size: ${fn.memoryMb} MB`,
    );
    return done(outcome, coldStart);
  }

  /** Kills every process and waits for them to exit; later invokes answer ResourceNotFoundException. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.sandboxes.values()].flatMap((set) => [...set]);
    await Promise.all(all.map((s) => kill(s.child)));
    this.sandboxes.clear();
  }

  private sandboxesOf(fn: FunctionModel): Set<Sandbox> {
    let set = this.sandboxes.get(fn.functionName);
    if (!set) {
      set = new Set();
      this.sandboxes.set(fn.functionName, set);
    }
    return set;
  }

  private log(fn: FunctionModel, line: string): void {
    if (this.options.log) this.options.log(fn.functionName, line);
    else process.stderr.write(`[${fn.functionName}] ${line}\n`);
  }

  /** Starts an execution environment and waits for its init; a failed one is removed and killed. */
  private async start(
    fn: FunctionModel,
    set: Set<Sandbox>,
  ): Promise<{ ok: true; sandbox: Sandbox } | Failure> {
    const env = lambdaEnvironment(
      fn,
      {
        ...(this.options.environment ? { extra: this.options.environment(fn) } : {}),
        ...(this.options.caCertsFile ? { caCertsFile: this.options.caCertsFile } : {}),
        note: (line) => this.log(fn, `[lambda-service] ${line}`),
      },
      logStreamName(),
    );
    const child = fork(RUNTIME_CHILD, [], {
      cwd: fn.assetDir,
      env,
      // Not the parent's (vitest's or tsx's) flags: the function's NODE_OPTIONS come from its environment.
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    // A failed send to a process that just died: its 'exit' answers the invocation.
    child.on('error', (error) => this.log(fn, `[lambda-service] ${error.message}`));
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.log(fn, line));
    }
    // The child exits when its IPC channel closes; a handler stuck in synchronous code never sees that,
    // so a watchdog also kills it once this process is gone (even by SIGKILL).
    const watchdog = child.pid === undefined ? undefined : signalWhenParentDies(String(child.pid), 'KILL');
    const sandbox: Sandbox = { child, busy: true };
    set.add(sandbox);
    child.once('exit', (code, signal) => {
      watchdog?.kill();
      set.delete(sandbox);
      const status = signal ? `signal: ${signal}` : `exit status ${code ?? 0}`;
      sandbox.onExit?.({
        ok: false,
        errorType: 'Runtime.ExitError',
        errorMessage: `Error: Runtime exited with error: ${status}`,
      });
    });
    const timeoutMs = this.options.coldStartTimeoutMs ?? 10_000;
    const init = await new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        const seconds = (timeoutMs / 1000).toFixed(2);
        resolve({
          ok: false,
          errorType: 'Sandbox.Timedout',
          errorMessage: `INIT timed out after ${seconds} seconds`,
        });
      }, timeoutMs);
      sandbox.onExit = (failure) => {
        clearTimeout(timer);
        resolve(failure);
      };
      child.once('message', (message: InitMessage) => {
        clearTimeout(timer);
        resolve(message.ok ? { ok: true, result: undefined } : failureOf(message));
      });
    });
    delete sandbox.onExit;
    if (init.ok) return { ok: true, sandbox };
    set.delete(sandbox);
    await kill(child);
    return init;
  }

  /** Sends one invocation to a process; its timeout kills the process, as does a crash. */
  private run(
    fn: FunctionModel,
    sandbox: Sandbox,
    set: Set<Sandbox>,
    event: unknown,
    awsRequestId: string,
  ): Promise<Outcome> {
    const { child } = sandbox;
    const timeoutMs = fn.timeoutSeconds * 1000;
    const id = randomUUID();
    return new Promise<Outcome>((resolve) => {
      const settle = (outcome: Outcome) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        delete sandbox.onExit;
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        // Answered once the process is gone, so the next invoke never finds it.
        delete sandbox.onExit;
        set.delete(sandbox);
        const errorMessage = `RequestId: ${awsRequestId} Error: Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`;
        void kill(child).then(() => settle({ ok: false, errorType: 'Sandbox.Timedout', errorMessage }));
      }, timeoutMs);
      const onMessage = (message: ResultMessage) => {
        if (message.type !== 'result' || message.id !== id) return;
        settle(message.ok ? { ok: true, result: message.result } : failureOf(message));
      };
      child.on('message', onMessage);
      sandbox.onExit = (failure) =>
        settle({ ...failure, errorMessage: `RequestId: ${awsRequestId} ${failure.errorMessage}` });
      if (!child.connected) {
        const errorMessage = `RequestId: ${awsRequestId} Error: Runtime exited without providing a reason`;
        settle({ ok: false, errorType: 'Runtime.ExitError', errorMessage });
        return;
      }
      child.send({
        type: 'invoke',
        id,
        event,
        awsRequestId,
        deadlineMs: Date.now() + timeoutMs,
        invokedFunctionArn: fn.arn,
      });
    });
  }
}

interface ErrorFields {
  errorType?: string;
  errorMessage?: string;
  trace?: string[];
}
type InitMessage = { type: 'init'; ok: boolean } & ErrorFields;
type ResultMessage = { type: 'result'; id: string; ok: boolean; result?: unknown } & ErrorFields;

function failureOf(message: ErrorFields): Failure {
  return {
    ok: false,
    errorType: message.errorType ?? 'Error',
    errorMessage: message.errorMessage ?? '',
    ...(message.trace ? { trace: message.trace } : {}),
  };
}

/** SIGKILLs a process (a Lambda environment is not asked to stop) and waits for it to be gone. */
function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
