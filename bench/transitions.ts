/**
 * State transitions per happy-path request, counted from LocalWorkflow's execution history of the real ASL
 * (state-machines/access-request.asl.json), on the auto-approved and the approved path, and what they cost
 * on Step Functions Standard. Task handlers are stand-ins returning the workflow-io shapes: transitions
 * depend on the path through the ASL, not on what the Lambdas do inside. The Task states off both paths
 * (statements, failure records) throw, so a run that strays fails rather than counting another path.
 *   npx tsx bench/transitions.ts [--requests 5]
 */
import { pathToFileURL } from 'node:url';
import type { TaskStateName } from '../functions/function-registry.js';
import { TASK_STATES } from '../functions/workflow-tasks.js';
import { LocalWorkflow, type TaskHandlers } from '../local/workflow-runner.js';
import { countArgument, type RunOptions, runSettings } from './support.js';

/** Step Functions Standard: $0.025 per 1,000 state transitions (aws.amazon.com/step-functions/pricing, us-east-1, as listed in 2025). */
export const USD_PER_1000_TRANSITIONS = 0.025;

export interface PathResult {
  requests: number;
  /** Transitions of one execution (every execution of a path takes the same number). */
  transitionsPerRequest: number;
  /** The states entered, in order, for the record. */
  states: string[];
  usdPer1000Requests: number;
}

export interface TransitionsResult {
  autoApproved: PathResult;
  approved: PathResult;
  /** The auto-approved happy path: the floor every request pays. */
  transitionsPerRequest: number;
  usdPer1000Requests: number;
}

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
function requestId(n: number): string {
  return `01jbench${String(n).padStart(18, '0')}`
    .split('')
    .map((c) => (CROCKFORD.includes(c) ? c : '0'))
    .join('');
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

/** A Task state neither happy path enters: entered anyway, the run fails instead of counting another path. */
const offPath = (state: TaskStateName) => async () => {
  throw new Error(`${state} is off the happy path this bench counts`);
};

function stubs(decision: 'auto-approved' | 'needs-approval', onToken: (token: string) => void): TaskHandlers {
  const onPath: Partial<TaskHandlers> = {
    EvaluatePolicy: async () => ({ decision, kind: 'window', approvalWindowSeconds: 60 }),
    RequestApproval: async (input) => {
      const token = (input as { taskToken?: unknown }).taskToken;
      if (typeof token === 'string') onToken(token);
      return null;
    },
    Grant: async () => ({ status: 'ACTIVE', expiresAt: inMs(50) }),
    Revoke: async () => ({ revoked: true }),
  };
  const states = Object.keys(TASK_STATES) as TaskStateName[];
  return Object.fromEntries(states.map((state) => [state, onPath[state] ?? offPath(state)])) as TaskHandlers;
}

async function runPath(
  decision: 'auto-approved' | 'needs-approval',
  requests: number,
  offset: number,
): Promise<PathResult> {
  let workflow: LocalWorkflow | undefined;
  const approve = (token: string) => {
    // The API sends SendTaskSuccess when the last approval lands; here, as soon as the token exists.
    setImmediate(() => void workflow?.sendTaskSuccess(token, { outcome: 'approved' }));
  };
  workflow = new LocalWorkflow({ handlers: stubs(decision, approve) });
  try {
    const counts: number[] = [];
    let states: string[] = [];
    for (let i = 0; i < requests; i++) {
      const id = requestId(offset + i);
      const { executionArn } = await workflow.start(id, { requestId: id });
      const end = await workflow.waitForEnd(executionArn);
      if (end.status !== 'SUCCEEDED') throw new Error(`${decision} execution ended ${end.status}`);
      counts.push(workflow.transitions(executionArn));
      states = workflow
        .history(executionArn)
        .filter((e) => e.type === 'StateEntered')
        .map((e) => e.state ?? '?');
    }
    const distinct = [...new Set(counts)];
    if (distinct.length !== 1) throw new Error(`${decision}: executions differ in transitions (${distinct})`);
    const transitionsPerRequest = distinct[0] ?? 0;
    return {
      requests,
      transitionsPerRequest,
      states,
      usdPer1000Requests: round4(transitionsPerRequest * USD_PER_1000_TRANSITIONS),
    };
  } finally {
    await workflow.close();
  }
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

export async function run(options: RunOptions<'requests'> = {}) {
  const { requests, log } = runSettings(options, { requests: 5 });
  const autoApproved = await runPath('auto-approved', requests, 0);
  log(
    `auto-approved  ${autoApproved.transitionsPerRequest} transitions (${autoApproved.states.join(' → ')})  $${autoApproved.usdPer1000Requests} per 1,000 requests`,
  );
  const approved = await runPath('needs-approval', requests, requests);
  log(
    `approved       ${approved.transitionsPerRequest} transitions (${approved.states.join(' → ')})  $${approved.usdPer1000Requests} per 1,000 requests`,
  );
  const result: TransitionsResult = {
    autoApproved,
    approved,
    transitionsPerRequest: autoApproved.transitionsPerRequest,
    usdPer1000Requests: autoApproved.usdPer1000Requests,
  };
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const requests = countArgument('requests', 5, 'bench/transitions.ts');
  await run({ requests, log: (line) => console.log(line) });
}
