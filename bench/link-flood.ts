/**
 * A legitimate link approval's latency, unloaded and while forged link requests hit the approval-links route
 * (issue #12, item 6; target: flooded within 1.5× of unloaded). Everything runs through the real
 * approval-links handler on a private DynamoDB Local (loopback only); the flood is open-loop at a fixed rate:
 * most forged GETs name the very request being approved (a made-up secret), the rest unknown request ids.
 * Prints figures and the ratio, never pass/fail; also checks that every forged attempt was counted.
 *   npx tsx bench/link-flood.ts [--approvals 40] [--rate 100]
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DynamoAuditLog } from '../functions/adapters/dynamodb-audit.js';
import { createDocumentClient, createDynamoDbClient } from '../functions/adapters/dynamodb-client.js';
import { DynamoRequestStore } from '../functions/adapters/dynamodb-requests.js';
import { createTables } from '../functions/adapters/dynamodb-tables.js';
import { createRequest } from '../functions/application/create-request.js';
import type { Deps, Email, Provisioners } from '../functions/application/ports.js';
import {
  linkRefusalStream,
  linkRefusalWindowOfSeq,
  UNKNOWN_SCOPE,
} from '../functions/domain/link-refusals.js';
import { csrfTokenFor, parseLinkToken } from '../functions/domain/link-tokens.js';
import { newRequestId } from '../functions/domain/naming.js';
import { Policy } from '../functions/domain/policy-schema.js';
import { cryptoIds } from '../functions/shared/ids.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import {
  nearestRank,
  numberArguments,
  positiveInteger,
  type RunOptions,
  readTarget,
  runSettings,
} from './support.js';

export interface LatencyFigures {
  p50Ms: number;
  p95Ms: number;
  samples: number;
}

export interface LinkFloodResult {
  unloaded: LatencyFigures;
  flooded: LatencyFigures;
  /** flooded p50 / unloaded p50 (target ≤ 1.5). */
  ratioP50: number;
  /** flooded p95 / unloaded p95. */
  ratioP95: number;
  /** Forged requests sent during the flooded phase, and the rate they achieved. */
  forgedSent: number;
  forgedPerSecond: number;
  /** Forged requests not answered with their 4xx page (should be 0). */
  forgedNot4xx: number;
  /** Forged attempts found in the tallies afterwards (should equal forgedSent). */
  forgedCounted: number;
}

const context = { awsRequestId: 'bench', functionName: 'approval-links' } as unknown as Context;
const quiet = { error: () => undefined };

function linkEvent(method: 'GET' | 'POST', token: string, body?: string): APIGatewayProxyEvent {
  return {
    resource: '/approvals/{token}',
    path: `/approvals/${token}`,
    httpMethod: method,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { token },
    stageVariables: null,
    body: body ?? null,
    isBase64Encoded: false,
    requestContext: {
      requestId: randomBytes(4).toString('hex'),
      identity: { sourceIp: `203.0.113.${randomBytes(1)[0] ?? 0}` },
    } as APIGatewayProxyEvent['requestContext'],
  } as APIGatewayProxyEvent;
}

function percentile(samples: number[], p: number): number {
  return Math.round((nearestRank(samples, p) ?? 0) * 10) / 10;
}

function figures(samples: number[]): LatencyFigures {
  return { p50Ms: percentile(samples, 50), p95Ms: percentile(samples, 95), samples: samples.length };
}

const notWired = new Proxy({} as Provisioners, {
  get: () => () => {
    throw new Error('the bench never touches a database');
  },
});

/** The approval-links function's deps on the bench tables (a stand-in workflow; no database is touched). */
function benchDeps(
  client: ReturnType<typeof createDynamoDbClient>,
  tables: { requestsTable: string; auditTable: string },
  outbox: Email[],
): Deps {
  const doc = createDocumentClient(client);
  const policy = Policy.parse({
    version: 1,
    targets: [
      readTarget(
        {
          id: 'orders',
          engine: 'postgres',
          host: '127.0.0.1',
          port: 5432,
          database: 'orders',
          schema: 'app',
        },
        { approvers: ['alice@example.com', 'bob@example.com'] },
        { environment: 'production' },
      ),
    ],
  });
  return {
    clock: { now: () => new Date() },
    ids: cryptoIds(),
    requests: new DynamoRequestStore({ client: doc, ...tables }),
    audit: new DynamoAuditLog({ client: doc, ...tables }),
    provisioners: notWired,
    mailer: { send: async (email) => void outbox.push(email) },
    workflow: {
      start: async (id) => ({
        executionArn: `arn:aws:states:eu-west-1:000000000000:execution:bench:${id}`,
      }),
      sendTaskSuccess: async () => undefined,
      sendTaskFailure: async () => undefined,
      stop: async () => undefined,
    },
    policy: { policy: () => policy },
    metrics: { count: () => undefined },
    log: { info: () => undefined, warn: () => undefined },
    publicBaseUrl: 'https://jitdb.example.com/prod',
  };
}

export async function run(options: RunOptions<'approvals' | 'rate'> = {}): Promise<LinkFloodResult> {
  const { approvals, rate, log } = runSettings(options, { approvals: 40, rate: 100 });
  // The handlers log through Powertools on every invocation: set before they are first imported.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const { createHandler: linksHandler } = await import('../functions/handlers/approval-links.js');
  const { createHandler: requestApprovalHandler } = await import('../functions/handlers/request-approval.js');
  const dynamo = await startDynamoDbLocal();
  const client = createDynamoDbClient({ endpoint: dynamo.url, region: 'us-east-1' }, {});
  try {
    const suffix = randomBytes(4).toString('hex');
    const tables = { requestsTable: `flood-${suffix}-requests`, auditTable: `flood-${suffix}-audit` };
    await createTables(client, tables);
    const outbox: Email[] = [];
    const deps = benchDeps(client, tables, outbox);
    const handler = linksHandler(deps, { logger: quiet });
    const askApprovers = requestApprovalHandler(deps);
    const erin = { principal: 'erin@example.com', email: 'erin@example.com', via: 'local' as const };

    /** A pending request and alice's link; not timed. */
    const pending = async () => {
      const { request } = await createRequest(
        {
          body: { target: 'orders', level: 'read', duration: '1h', reason: 'bench', ticket: 'B-1' },
          caller: erin,
        },
        deps,
      );
      const sent = outbox.length;
      await askApprovers({ requestId: request.id, taskToken: `tt-${request.id}` }, context);
      const mail = outbox.slice(sent).find((e) => e.to[0] === 'alice@example.com');
      const token = /\/approvals\/([^\s"<]+)/.exec(mail?.text ?? '')?.[1] ?? '';
      const parsed = parseLinkToken(token);
      if (!parsed) throw new Error('no approval link in the email');
      return { id: request.id, token, csrf: csrfTokenFor(parsed) };
    };
    let current = '';
    /** Times one approval POST through the handler. */
    const approveOnce = async (onCurrent?: (id: string) => void) => {
      const { id, token, csrf } = await pending();
      current = id;
      onCurrent?.(id);
      const body = new URLSearchParams({ decision: 'approve', csrf }).toString();
      const started = performance.now();
      const res = (await handler(linkEvent('POST', token, body), context)) as APIGatewayProxyResult;
      const ms = performance.now() - started;
      if (res.statusCode !== 200) throw new Error(`the approval was refused (${res.statusCode})`);
      return ms;
    };
    const measure = async (n: number, onCurrent?: (id: string) => void) => {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) samples.push(await approveOnce(onCurrent));
      return samples;
    };

    await measure(5); // warm-up: JIT, connections, DynamoDB Local's first tables

    // The flood runs in a worker thread with its own handler and clients, as other Lambda instances would:
    // it shares the machine (and DynamoDB Local) with the approval, not its event loop.
    const flood = new Worker(new URL(import.meta.url), {
      workerData: { role: 'flood', endpoint: dynamo.url, tables, rate } satisfies FloodSetup,
    });
    const replies: ((report: FloodReport) => void)[] = [];
    flood.on('message', (report: FloodReport) => replies.shift()?.(report));
    const forgedScopes = new Map<string, number>();
    let forgedSent = 0;
    let forgedNot4xx = 0;
    let floodSeconds = 0;
    const measureFlooded = async (n: number) => {
      flood.postMessage({ type: 'start', current });
      try {
        await new Promise((resolve) => setTimeout(resolve, 500)); // let the flood reach its rate
        return await measure(n, (id) => flood.postMessage({ type: 'current', current: id }));
      } finally {
        const report = await new Promise<FloodReport>((resolve) => {
          replies.push(resolve);
          flood.postMessage({ type: 'stop' });
        });
        forgedSent += report.sent;
        forgedNot4xx += report.not4xx;
        floodSeconds += report.seconds;
        for (const [scope, count] of report.scopes)
          forgedScopes.set(scope, (forgedScopes.get(scope) ?? 0) + count);
      }
    };

    // Unloaded and flooded blocks alternate, so drift in what else runs on the machine hits both alike.
    const rounds = Math.min(4, approvals);
    const unloadedSamples: number[] = [];
    const floodedSamples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const n = Math.floor(approvals / rounds) + (r < approvals % rounds ? 1 : 0);
      unloadedSamples.push(...(await measure(n)));
      floodedSamples.push(...(await measureFlooded(n)));
    }
    const unloaded = figures(unloadedSamples);
    const flooded = figures(floodedSamples);
    await flood.terminate();
    const forgedPerSecond = Math.round((forgedSent / floodSeconds) * 10) / 10;
    log(`unloaded  p50 ${unloaded.p50Ms} ms  p95 ${unloaded.p95Ms} ms  (${approvals} approvals)`);
    log(
      `flooded   p50 ${flooded.p50Ms} ms  p95 ${flooded.p95Ms} ms  (${approvals} approvals, ${forgedSent} forged GETs at ${forgedPerSecond}/s)`,
    );

    let forgedCounted = 0;
    for (const scope of forgedScopes.keys()) {
      const markers = await deps.audit.list(linkRefusalStream(scope));
      const counts = await deps.requests.linkRefusalCounts(
        scope,
        markers.map((m) => linkRefusalWindowOfSeq(m.seq)),
      );
      forgedCounted += counts.reduce((sum, c) => sum + c.attempts, 0);
    }
    const round2 = (n: number) => Math.round(n * 100) / 100;
    const result: LinkFloodResult = {
      unloaded,
      flooded,
      ratioP50: round2(flooded.p50Ms / unloaded.p50Ms),
      ratioP95: round2(flooded.p95Ms / unloaded.p95Ms),
      forgedSent,
      forgedPerSecond,
      forgedNot4xx,
      forgedCounted,
    };
    log(
      `ratio     p50 ${result.ratioP50}×  p95 ${result.ratioP95}×  (target ≤ 1.5×); forged counted ${forgedCounted}/${forgedSent}, not 4xx ${forgedNot4xx}`,
    );
    return result;
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}

interface FloodSetup {
  role: 'flood';
  endpoint: string;
  tables: { requestsTable: string; auditTable: string };
  rate: number;
}

interface FloodReport {
  sent: number;
  not4xx: number;
  seconds: number;
  scopes: [string, number][];
}

/**
 * The worker: on `start`, one forged GET every 1000/rate ms (open loop), 4 in 5 naming the request being
 * approved (`current`), the rest unknown ids; on `stop`, waits for the answers and reports.
 */
async function floodWorker(setup: FloodSetup): Promise<void> {
  const port = parentPort;
  if (!port) return;
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const { createHandler } = await import('../functions/handlers/approval-links.js');
  const client = createDynamoDbClient({ endpoint: setup.endpoint, region: 'us-east-1' }, {});
  const handler = createHandler(benchDeps(client, setup.tables, []), { logger: quiet });
  let current = '';
  let flooding = false;
  let stopped: Promise<void> = Promise.resolve();
  let report: FloodReport = { sent: 0, not4xx: 0, seconds: 0, scopes: [] };
  const loop = async () => {
    const inFlight = new Set<Promise<void>>();
    const scopes = new Map<string, number>();
    const started = performance.now();
    const interval = 1000 / setup.rate;
    let next = started;
    let sent = 0;
    let not4xx = 0;
    while (flooding) {
      while (next <= performance.now()) {
        const named = sent % 5 !== 4 && current !== '';
        const id = named ? current : newRequestId(Date.now(), randomBytes(10));
        const scope = named ? id : UNKNOWN_SCOPE;
        scopes.set(scope, (scopes.get(scope) ?? 0) + 1);
        sent++;
        const token = `${id}.${randomBytes(32).toString('base64url')}`;
        const p = (handler(linkEvent('GET', token), context) as Promise<APIGatewayProxyResult>)
          .then((res) => {
            if (res.statusCode < 400 || res.statusCode >= 500) not4xx++;
          })
          .catch(() => void not4xx++)
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        next += interval;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, next - performance.now())));
    }
    const seconds = (performance.now() - started) / 1000;
    await Promise.all([...inFlight]);
    report = { sent, not4xx, seconds, scopes: [...scopes] };
  };
  port.on('message', (message: { type: 'start' | 'current' | 'stop'; current?: string }) => {
    if (message.current !== undefined) current = message.current;
    if (message.type === 'start') {
      flooding = true;
      stopped = loop();
    } else if (message.type === 'stop') {
      flooding = false;
      void stopped.then(() => port.postMessage(report));
    }
  });
}

if (!isMainThread && (workerData as FloodSetup | undefined)?.role === 'flood') {
  await floodWorker(workerData as FloodSetup);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { approvals, rate } = numberArguments(
    { approvals: 40, rate: 100 },
    (a) => positiveInteger(a.approvals) && a.rate > 0 && a.rate <= 500,
    'npx tsx bench/link-flood.ts [--approvals 40] [--rate 100]',
  );
  await run({ approvals, rate, log: (line) => console.log(line) });
}
