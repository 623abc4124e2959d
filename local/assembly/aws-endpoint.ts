/**
 * Assembly mode's one local "AWS": the HTTP endpoint every function's SDK clients reach through
 * AWS_ENDPOINT_URL_<SERVICE>. A request is routed by the service its SigV4 signature names (the credential
 * scope), checked by the gatekeeper (signature, then each IAM action it makes against the caller's role), and
 * only then handed to that service's emulator. Nothing is served unsigned or unchecked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as it arrived: the raw path and query (still encoded), lower-cased header names, the body bytes. */
export interface RawRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** Who made a checked call: the role session the function's credentials stand for. */
export interface Caller {
  accessKeyId: string;
  /** The role's ARN (its policies were evaluated), e.g. arn:aws:iam::000000000000:role/… */
  roleArn: string;
}

/**
 * Decides whether a request may reach its service: verifies the signature and evaluates every IAM action the
 * request makes. Answers the caller, or the exact error response AWS would send.
 */
export interface Gatekeeper {
  check(service: string, request: RawRequest): Promise<{ caller: Caller } | { response: RawResponse }>;
}

/** One emulated service: answers a request that the gatekeeper has let through. */
export type ServiceEmulator = (request: RawRequest, caller: Caller) => Promise<RawResponse>;

/** The service a SigV4-signed request names (`Credential=AKID/date/region/<service>/aws4_request`). */
export function signedService(request: RawRequest): string | undefined {
  const authorization = request.headers.authorization;
  const credential =
    (authorization && /Credential=([^,\s]+)/.exec(authorization)?.[1]) ??
    new URLSearchParams(request.query).get('X-Amz-Credential') ??
    undefined;
  return credential?.split('/')[3];
}

/** AWS's answer to a request that names no service it knows: the same for every protocol. */
function unknownService(service: string | undefined): RawResponse {
  return {
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify({
      __type: service ? 'UnknownOperationException' : 'MissingAuthenticationTokenException',
      message: service ? `no local emulation of ${service}` : 'Missing Authentication Token',
    }),
  };
}

/** The request's method, raw path and query, lower-cased headers and body bytes. */
export async function readRawRequest(req: IncomingMessage): Promise<RawRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return {
    method: req.method ?? 'GET',
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    headers,
    body: Buffer.concat(chunks),
  };
}

function send(res: ServerResponse, response: RawResponse): void {
  res.writeHead(response.status, {
    'x-amzn-requestid': crypto.randomUUID(),
    ...response.headers,
  });
  res.end(response.body);
}

export interface AwsEndpointOptions {
  gatekeeper: Gatekeeper;
  /** By SigV4 service name: dynamodb, states, ses, secretsmanager, rds, lambda, kms. */
  services: Record<string, ServiceEmulator>;
  /** Every checked call, allowed or not, for the least-privilege report. */
  onCall?: (entry: { service: string; allowed: boolean; status: number }) => void;
  /** Unsigned local-only routes, by `METHOD /path` (the Identity Center sign-in): never an AWS API. */
  localRoutes?: Record<string, (request: RawRequest) => Promise<RawResponse>>;
  port?: number;
}

/** The running endpoint: its URL, for AWS_ENDPOINT_URL_<SERVICE>. */
export interface AwsEndpoint {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts the endpoint on 127.0.0.1. */
export async function startAwsEndpoint(options: AwsEndpointOptions): Promise<AwsEndpoint> {
  const server = createServer((req, res) => {
    void (async () => {
      let service: string | undefined;
      try {
        const request = await readRawRequest(req);
        const local = options.localRoutes?.[`${request.method} ${request.path}`];
        if (local) return send(res, await local(request));
        service = signedService(request);
        const emulator = service ? options.services[service] : undefined;
        if (!service || !emulator) {
          const response = unknownService(service);
          options.onCall?.({ service: service ?? '?', allowed: false, status: response.status });
          return send(res, response);
        }
        const checked = await options.gatekeeper.check(service, request);
        if ('response' in checked) {
          options.onCall?.({ service, allowed: false, status: checked.response.status });
          return send(res, checked.response);
        }
        const response = await emulator(request, checked.caller);
        options.onCall?.({ service, allowed: true, status: response.status });
        send(res, response);
      } catch (error) {
        // An emulator bug is a 500 here, as an AWS outage would be: the function's own retry/catch runs.
        send(res, {
          status: 500,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: JSON.stringify({
            __type: 'InternalFailure',
            message: `local ${service ?? 'endpoint'} emulation failed: ${error instanceof Error ? error.message : String(error)}`,
          }),
        });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The JSON protocols' error body (`__type` is what the SDK names the error by). */
export function jsonError(status: number, type: string, message: string, contentType: string): RawResponse {
  return {
    status,
    headers: { 'content-type': contentType },
    body: JSON.stringify({ __type: type, message }),
  };
}

/** A JSON protocol success. */
export function jsonOk(body: unknown, contentType: string): RawResponse {
  return { status: 200, headers: { 'content-type': contentType }, body: JSON.stringify(body) };
}

/** The operation a JSON-protocol request names (`X-Amz-Target: <Prefix>.<Operation>`). */
export function jsonTarget(request: RawRequest): string | undefined {
  return request.headers['x-amz-target']?.split('.').pop();
}
