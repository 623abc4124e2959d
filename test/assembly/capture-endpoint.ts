/**
 * A tiny node:http server for the assembly tests: it records every request exactly as received (raw path, raw
 * query, lower-cased headers, body bytes) and answers with whatever the test's responder returns, so real SDK
 * clients can be pointed at it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import type { SignedRequest } from '../../local/assembly/sigv4-verify.js';

export interface CannedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Responder = (req: SignedRequest) => CannedResponse;

export interface CaptureEndpoint {
  url: string;
  requests: SignedRequest[];
  respond: (responder: Responder) => void;
  close: () => Promise<void>;
}

const okJson: Responder = () => ({
  status: 200,
  headers: { 'content-type': 'application/x-amz-json-1.0' },
  body: '{}',
});

function toSigned(msg: IncomingMessage, body: Buffer): SignedRequest {
  const raw = msg.url ?? '/';
  const q = raw.indexOf('?');
  return {
    method: msg.method ?? 'GET',
    path: q < 0 ? raw : raw.slice(0, q),
    query: q < 0 ? '' : raw.slice(q + 1),
    headers: { ...msg.headers },
    body,
  };
}

/** Starts the capture server on an ephemeral port of 127.0.0.1. */
export async function startCaptureEndpoint(): Promise<CaptureEndpoint> {
  const requests: SignedRequest[] = [];
  let responder: Responder = okJson;
  const server: Server = createServer((msg, res) => {
    const chunks: Buffer[] = [];
    msg.on('data', (c: Buffer) => chunks.push(c));
    msg.on('end', () => {
      const req = toSigned(msg, Buffer.concat(chunks));
      requests.push(req);
      const out = responder(req);
      res.writeHead(out.status, { ...out.headers, 'content-length': Buffer.byteLength(out.body) });
      res.end(out.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    respond: (r) => {
      responder = r;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

/**
 * A capture endpoint for the suite (started before all, closed after all) and the SDK client config that
 * reaches it with `credentials` in `region`, one attempt per call.
 */
export function useCaptureEndpoint(
  region: string,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
): { endpoint: () => CaptureEndpoint; config: () => Record<string, unknown> & { endpoint: string } } {
  let endpoint: CaptureEndpoint | undefined;
  beforeAll(async () => {
    endpoint = await startCaptureEndpoint();
  });
  afterAll(async () => {
    await endpoint?.close();
  });
  const current = () => {
    if (!endpoint) throw new Error('the capture endpoint is not running');
    return endpoint;
  };
  return {
    endpoint: current,
    config: () => ({ endpoint: current().url, region, credentials, maxAttempts: 1 }),
  };
}
