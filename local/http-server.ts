import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  APIGatewayEventIdentity,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Context,
} from 'aws-lambda';
import type { DomainError } from '../functions/domain/errors.js';
import { isEmail } from '../functions/domain/identity.js';
import { errorResult, payloadTooLarge, unroutable } from '../functions/handlers/http-middleware.js';
import { findRoute, type HandlerName, ROUTES } from '../functions/handlers/routes.js';
import {
  errorBody,
  htmlResponse,
  jsonResponse,
  LOCAL_USER_HEADER,
  MAX_BODY_BYTES,
  mapError,
} from '../functions/shared/http.js';
import { escapeHtml } from '../functions/views/render.js';
import { invokeLocally } from './invocations.js';
import type { OutboxEntry, OutboxMailer } from './outbox.js';
import { callerIdentity, proxyEventParts } from './proxy-event.js';

/** A Lambda behind API Gateway, as the local server calls it. */
export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** The HTTP Lambdas by their route-table name: the table says which one serves a route. */
export type HttpHandlers = Readonly<Record<HandlerName, ProxyHandler>>;

export interface LocalHttpServerOptions {
  /**
   * The handlers, or a function giving them: the runtime wires them after the port is known, and API routes
   * answer 503 while it gives undefined (the databases are still starting).
   */
  handlers: HttpHandlers | (() => HttpHandlers | undefined);
  /** Default 3000; 0 picks a free port. */
  port?: number;
  host?: string;
  outbox?: OutboxMailer;
  /** Default MAX_BODY_BYTES, the Lambdas' own limit. */
  maxBodyBytes?: number;
  /** One line per failed invocation (never request bodies). Default stderr. */
  log?: (line: string) => void;
}

export interface RunningHttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The port is taken: a friendly startup error, with the fix. */
export class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
  constructor(readonly port: number) {
    super(`port ${port} is already in use — stop whatever listens there, or start with --port <another>`);
    this.name = 'PortInUseError';
  }
}

/**
 * Serves the route table (ROUTES, matched by findRoute, as the Lambdas match it) over node:http, turning each
 * request into an API Gateway REST proxy event and the handler's result back into a response — the same
 * handlers Lambda runs. Also serves /outbox.
 */
export async function startHttpServer(options: LocalHttpServerOptions): Promise<RunningHttpServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const handlers = () => (typeof options.handlers === 'function' ? options.handlers() : options.handlers);
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(
        `local api: ${req.method} ${pathOf(req)} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      if (!res.headersSent) sendProxyResult(res, jsonResponse(500, errorBody('INTERNAL', 'internal error')));
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    if (method === 'GET' && (url.pathname === '/outbox' || url.pathname === '/outbox/')) {
      return sendProxyResult(res, htmlResponse(200, outboxPage(options.outbox?.list() ?? [])));
    }
    if (method === 'GET' && url.pathname === '/outbox.json') {
      return sendProxyResult(res, jsonResponse(200, { emails: options.outbox?.list() ?? [] }));
    }
    if (method === 'GET' && url.pathname === '/') {
      return sendProxyResult(
        res,
        jsonResponse(200, {
          service: 'jit-db-access (local)',
          routes: ROUTES.map((r) => `${r.method} ${r.path}`),
          outbox: '/outbox',
        }),
      );
    }

    const wired = handlers();
    if (!wired) {
      return sendProxyResult(
        res,
        jsonResponse(
          503,
          { error: { code: 'STARTING', message: 'the local runtime is still starting' } },
          { 'retry-after': '2' },
        ),
      );
    }
    const lookup = findRoute(method, url.pathname);
    if (!lookup.found) return sendProxyResult(res, refusal(unroutable(lookup, method, url.pathname)));
    const { route, params } = lookup.match;

    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      req.resume();
      return sendProxyResult(res, refusal(payloadTooLarge(maxBodyBytes)));
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) return sendProxyResult(res, refusal(payloadTooLarge(maxBodyBytes)));

    const event = toProxyEvent(req, url, method, route.path, params, body);
    const result = await invokeLocally(route.handler, (context) => wired[route.handler](event, context));
    sendProxyResult(res, result);
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(options.port ?? 3000) : error);
    };
    server.once('error', onError);
    server.listen(options.port ?? 3000, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    close: () => closeServer(server),
  };
}

/** A refusal answered before any handler runs, exactly as the Lambdas' error middleware answers it. */
function refusal(error: DomainError): APIGatewayProxyResult {
  return errorResult(mapError(error, randomUUID()));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive sockets (browsers, fetch) would hold close() open forever.
    server.closeAllConnections();
  });
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0] ?? '/';
}

/** Reads at most `max` bytes; undefined once the body is larger (the rest is drained, not buffered). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let exceeded = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) exceeded = true;
      if (!exceeded) chunks.push(chunk);
    });
    req.on('end', () => resolve(exceeded ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The identity API Gateway would put there for an IAM caller; locally it comes from `x-jitdb-user`. */
export function localIdentity(user: string | undefined, sourceIp: string): APIGatewayEventIdentity {
  const valid = user !== undefined && isEmail(user);
  return callerIdentity({
    sourceIp,
    ...(valid ? { caller: `local:${user}`, user, userArn: `local:${user}` } : {}),
  });
}

export function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  method: string,
  resource: string,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEvent {
  // The identity header becomes requestContext.identity and is not passed on, so no handler can trust it.
  const parts = proxyEventParts(req.rawHeaders, url.searchParams, body, LOCAL_USER_HEADER);
  const userHeader = req.headers[LOCAL_USER_HEADER];
  const user = Array.isArray(userHeader) ? userHeader[0] : userHeader;
  const now = new Date();
  const requestId = randomUUID();
  return {
    resource,
    path: url.pathname,
    httpMethod: method,
    ...parts,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    stageVariables: null,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: method,
      identity: localIdentity(user?.trim().toLowerCase(), req.socket.remoteAddress ?? '127.0.0.1'),
      path: url.pathname,
      stage: 'local',
      requestId,
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: resource,
    },
  };
}

function sendProxyResult(res: ServerResponse, result: APIGatewayProxyResult): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    res.setHeader(
      name,
      values.map((v) => String(v)),
    );
  }
  res.statusCode = result.statusCode;
  res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
}

/** Plain, accessible HTML: one article per email, newest first, its links as real anchors. */
export function outboxPage(entries: readonly OutboxEntry[]): string {
  const items = entries.map((e) => {
    const links = e.links
      .map((link) => `<li><a href="${escapeHtml(link)}">${escapeHtml(linkLabel(link))}</a></li>`)
      .join('');
    return `<article aria-labelledby="mail-${e.id}">
<h2 id="mail-${e.id}">${escapeHtml(e.subject)}</h2>
<p>To ${escapeHtml(e.to.join(', '))} · <time datetime="${escapeHtml(e.at)}">${escapeHtml(e.at)}</time></p>
${links ? `<ul>${links}</ul>` : ''}
<details><summary>Message text</summary><pre>${escapeHtml(e.text)}</pre></details>
</article>`;
  });
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Outbox — jit-db-access (local)</title>
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
article{border-top:1px solid #888;padding:.5rem 0}pre{white-space:pre-wrap}</style></head>
<body><main>
<h1>Outbox</h1>
<p>Emails the local runtime would have sent with SES, newest first (${entries.length}).</p>
${items.length > 0 ? items.join('\n') : '<p>No emails yet.</p>'}
</main></body></html>`;
}

function linkLabel(link: string): string {
  if (link.includes('/approvals/'))
    return `Review and decide (${link.split('/approvals/')[0] ?? ''}/approvals/…)`;
  return link;
}
