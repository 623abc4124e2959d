import { type CliConfig, isAwsEndpoint } from './config.js';
import { type LocalSignIn, signInLocally } from './local-sign-in.js';

/** The server said no (4xx): exit code 2, with the server's code and message. */
export class ApiRefusedError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiRefusedError';
  }
}

/** The server failed (5xx) or could not be reached: exit code 3. */
export class ApiUnavailableError extends Error {
  readonly exitCode = 3;
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ApiUnavailableError';
  }
}

/** A mistake on the command line or a local failure: exit code 1. */
export class UsageError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Query = Record<string, string | undefined>;

/** A thin JSON client of the jit-db-access REST API: local header identity over http, SigV4 over https. */
export class ApiClient {
  private signedIn: Promise<LocalSignIn> | undefined;

  constructor(
    private readonly config: CliConfig,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get<T>(path: string, query?: Query): Promise<T> {
    return this.call<T>('GET', path, undefined, query);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  /** Assembly mode: signs in once at the local sign-in URL, then signs like against AWS. */
  private async signLocally(request: {
    method: string;
    url: URL;
    headers: Record<string, string>;
    body: string | undefined;
  }): Promise<Record<string, string>> {
    const { ssoUrl, user } = this.config;
    if (!ssoUrl) throw new UsageError('no local sign-in URL');
    if (!user) throw new UsageError('set JITDB_USER (or --user) to sign in to the local runtime');
    this.signedIn ??= signInLocally(ssoUrl, user, this.fetchImpl);
    let session: LocalSignIn;
    try {
      session = await this.signedIn;
    } catch (error) {
      this.signedIn = undefined;
      throw new UsageError(
        `cannot sign in at ${ssoUrl} (${error instanceof Error ? error.message : String(error)}) — is \`npm start -- --assembly\` running?`,
      );
    }
    const { signForApiGateway } = await import('./sigv4.js');
    return signForApiGateway(request, session.region, session.credentials);
  }

  async call<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const url = new URL(this.config.endpoint + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const text = body === undefined ? undefined : JSON.stringify(body);
    let headers: Record<string, string> = { accept: 'application/json' };
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (this.config.ssoUrl) {
      headers = await this.signLocally({ method, url, headers, body: text });
    } else if (isAwsEndpoint(this.config.endpoint)) {
      if (!this.config.region) {
        throw new UsageError('cannot tell the AWS region of the endpoint: set AWS_REGION');
      }
      // The AWS credential chain is heavy to load; only https (AWS) endpoints need it.
      const { signForApiGateway } = await import('./sigv4.js');
      try {
        headers = await signForApiGateway({ method, url, headers, body: text }, this.config.region);
      } catch (error) {
        throw new UsageError(
          `cannot sign the request for AWS (${error instanceof Error ? error.message : String(error)}) — log in (aws sso login) or set AWS_PROFILE`,
        );
      }
    } else if (this.config.user) {
      headers['x-jitdb-user'] = this.config.user;
    }
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers,
        ...(text === undefined ? {} : { body: text }),
      });
    } catch (error) {
      const cause =
        error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw new ApiUnavailableError(
        `cannot reach ${this.config.endpoint} (${cause}) — is \`npm start\` running, or is --endpoint right?`,
      );
    }
    const raw = await response.text();
    let parsed: unknown;
    try {
      parsed = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (response.ok) return parsed as T;
    const { code, message, details } = errorOf(parsed, response.status, raw);
    if (response.status >= 400 && response.status < 500) {
      throw new ApiRefusedError(response.status, code, message, details);
    }
    throw new ApiUnavailableError(message, response.status, code);
  }
}

/** Accepts `{error: {code, message}}` and `{code, message}` bodies; falls back to the status line. */
function errorOf(
  body: unknown,
  status: number,
  raw: string,
): { code: string; message: string; details?: unknown } {
  const record = isRecord(body) && isRecord(body.error) ? body.error : isRecord(body) ? body : undefined;
  const code = typeof record?.code === 'string' ? record.code : `HTTP_${status}`;
  const message =
    typeof record?.message === 'string' ? record.message : raw.trim().slice(0, 200) || `HTTP ${status}`;
  return record && 'details' in record ? { code, message, details: record.details } : { code, message };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
