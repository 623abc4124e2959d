/**
 * Assembly mode (issue #14): server-side verification of AWS Signature Version 4, header auth and query
 * (presigned) auth, computed from the request as received, per the SigV4 spec. Non-S3 rules: the canonical URI
 * is the received (already percent-encoded) path, dot-segments and empty segments removed, then URI-encoded once
 * more — AWS's "encode twice" rule for every service but S3, which the SDK's signer applies too (a Lambda ARN in
 * the path arrives as `%3A` and is signed as `%253A`). Pure: the caller gives the key lookup and the clock.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** An HTTP request as the local endpoint received it. */
export interface SignedRequest {
  method: string;
  /** The raw path, as received (percent-encoded by the client), without the query string. */
  path: string;
  /** The raw query string, without `?` (empty if none). */
  query: string;
  /** Header names lower-cased; repeated headers joined with `,`. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** What the endpoint knows about an access key it issued. */
export interface KeyRecord {
  secretAccessKey: string;
  /** If the key is temporary (as a Lambda's role credentials are), the session token that must accompany it. */
  sessionToken?: string;
}

export type KeyLookup = (accessKeyId: string) => KeyRecord | undefined;

export type SigV4FailureCode =
  | 'MissingAuthenticationToken'
  | 'InvalidClientTokenId'
  | 'SignatureDoesNotMatch'
  | 'RequestExpired'
  | 'IncompleteSignature';

export type SigV4Result =
  | { ok: true; accessKeyId: string; region: string; service: string; signedAt: Date }
  | { ok: false; code: SigV4FailureCode; message: string };

export type RdsTokenResult =
  | {
      ok: true;
      accessKeyId: string;
      region: string;
      dbUser: string;
      host: string;
      port: number;
      signedAt: Date;
    }
  | { ok: false; code: SigV4FailureCode; message: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_SKEW_MS = 5 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

const fail = (
  code: SigV4FailureCode,
  message: string,
): { ok: false; code: SigV4FailureCode; message: string } => ({
  ok: false,
  code,
  message,
});

/** RFC 3986 encoding as the SDK's signer does it (`encodeURIComponent` plus `!'()*`). */
export function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The canonical URI of a non-S3 request: the received path normalized, then encoded once more. */
export function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized || '/').replace(/%2F/g, '/');
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Parses a raw query string into decoded [name, value] pairs, in order (no `+`-as-space: SigV4 clients use %20). */
export function parseQuery(raw: string): [string, string][] {
  if (raw === '') return [];
  return raw
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0
        ? [safeDecode(part), '']
        : [safeDecode(part.slice(0, eq)), safeDecode(part.slice(eq + 1))];
    });
}

function canonicalQuery(pairs: [string, string][]): string {
  return pairs
    .filter(([name]) => name.toLowerCase() !== 'x-amz-signature')
    .map(([name, value]) => [escapeUri(name), escapeUri(value)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function headerValue(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Parses an ISO 8601 basic timestamp (`20260102T030405Z`). */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The hex signature of a string to sign, for a secret key and a credential scope. */
export function signString(secret: string, scope: Scope, stringToSign: string): string {
  const kDate = hmac(`AWS4${secret}`, scope.date);
  const kRegion = hmac(kDate, scope.region);
  const kService = hmac(kRegion, scope.service);
  const kSigning = hmac(kService, 'aws4_request');
  return createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
}

interface Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

function parseCredential(credential: string): Scope | undefined {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request') return undefined;
  const [accessKeyId, date, region, service] = parts as [string, string, string, string, string];
  if (!accessKeyId || !/^\d{8}$/.test(date) || !region || !service) return undefined;
  return { accessKeyId, date, region, service };
}

interface AuthParts {
  scope: Scope;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  sessionToken: string | undefined;
  /** Presigned only: X-Amz-Expires, in seconds. */
  expiresSeconds?: number;
}

function parseAuthorizationHeader(
  value: string,
  req: SignedRequest,
): AuthParts | { ok: false; code: SigV4FailureCode; message: string } {
  if (!value.startsWith(`${ALGORITHM} `)) {
    return fail('IncompleteSignature', `Unsupported Authorization Type (expected ${ALGORITHM})`);
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  const missing = [
    credential ? '' : 'Credential',
    signedHeaders ? '' : 'SignedHeaders',
    signature ? '' : 'Signature',
  ].filter(Boolean);
  if (!credential || !signedHeaders || !signature) {
    return fail(
      'IncompleteSignature',
      `Authorization header requires ${missing.map((m) => `'${m}'`).join(', ')} parameter. Authorization=${value}`,
    );
  }
  const scope = parseCredential(credential);
  if (!scope)
    return fail('IncompleteSignature', `Credential should be scoped to a valid region. '${credential}'`);
  const amzDate = headerValue(req.headers, 'x-amz-date') ?? '';
  if (!amzDate)
    return fail(
      'IncompleteSignature',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  return {
    scope,
    signedHeaders: signedHeaders.split(';'),
    signature,
    amzDate,
    sessionToken: headerValue(req.headers, 'x-amz-security-token'),
  };
}

function parsePresigned(
  pairs: [string, string][],
): AuthParts | { ok: false; code: SigV4FailureCode; message: string } {
  const get = (name: string) => pairs.find(([n]) => n === name)?.[1];
  const algorithm = get('X-Amz-Algorithm');
  const credential = get('X-Amz-Credential');
  const amzDate = get('X-Amz-Date');
  const signedHeaders = get('X-Amz-SignedHeaders');
  const signature = get('X-Amz-Signature');
  const expires = get('X-Amz-Expires');
  if (algorithm !== ALGORITHM) return fail('IncompleteSignature', `X-Amz-Algorithm must be ${ALGORITHM}`);
  if (!credential || !amzDate || !signedHeaders || !signature || !expires) {
    return fail(
      'IncompleteSignature',
      'AWS query-string parameters must include X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature.',
    );
  }
  const scope = parseCredential(credential);
  if (!scope)
    return fail('IncompleteSignature', `Credential should be scoped to a valid region. '${credential}'`);
  const expiresSeconds = Number(expires);
  if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > MAX_PRESIGN_SECONDS) {
    return fail(
      'IncompleteSignature',
      `X-Amz-Expires must be an integer between 1 and ${MAX_PRESIGN_SECONDS}.`,
    );
  }
  return {
    scope,
    signedHeaders: signedHeaders.split(';'),
    signature,
    amzDate,
    sessionToken: get('X-Amz-Security-Token'),
    expiresSeconds,
  };
}

/** Verifies a SigV4-signed request (Authorization header or presigned query) against the issued keys. */
export function verifySigV4(req: SignedRequest, lookup: KeyLookup, now: Date): SigV4Result {
  const pairs = parseQuery(req.query);
  const authorization = headerValue(req.headers, 'authorization');
  const presigned = pairs.some(([n]) => n === 'X-Amz-Algorithm');
  if (!authorization && !presigned)
    return fail('MissingAuthenticationToken', 'Request is missing Authentication Token');
  const auth = authorization ? parseAuthorizationHeader(authorization, req) : parsePresigned(pairs);
  if ('ok' in auth) return auth;
  const { scope, signedHeaders, amzDate } = auth;

  const signedAt = parseAmzDate(amzDate);
  if (!signedAt)
    return fail('IncompleteSignature', `Date must be in ISO-8601 'basic format'. Got '${amzDate}'.`);
  if (amzDate.slice(0, 8) !== scope.date) {
    return fail(
      'SignatureDoesNotMatch',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scope.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  }
  if (!signedHeaders.includes('host')) {
    return fail('SignatureDoesNotMatch', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }

  const key = lookup(scope.accessKeyId);
  if (!key) return fail('InvalidClientTokenId', 'The security token included in the request is invalid.');
  if ((key.sessionToken ?? '') !== (auth.sessionToken ?? '')) {
    return fail('InvalidClientTokenId', 'The security token included in the request is invalid.');
  }

  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${(headerValue(req.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const declaredHash = headerValue(req.headers, 'x-amz-content-sha256');
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  if (declaredHash && declaredHash !== 'UNSIGNED-PAYLOAD' && declaredHash !== bodyHash) {
    return fail(
      'SignatureDoesNotMatch',
      'The provided x-amz-content-sha256 header does not match what was computed.',
    );
  }
  const payloadHash = declaredHash ?? (req.body.length === 0 ? EMPTY_SHA256 : bodyHash);
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalUri(req.path),
    canonicalQuery(pairs),
    canonicalHeaders,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [
    ALGORITHM,
    amzDate,
    credentialScope,
    createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const expected = signString(key.secretAccessKey, scope, stringToSign);
  const given = Buffer.from(auth.signature, 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected, 'utf8'))) {
    return fail(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }

  if (auth.expiresSeconds !== undefined) {
    const expiresAt = signedAt.getTime() + auth.expiresSeconds * 1000;
    if (now.getTime() > expiresAt || signedAt.getTime() - now.getTime() > MAX_SKEW_MS) {
      return fail(
        'RequestExpired',
        `Request has expired (signed ${amzDate}, valid for ${auth.expiresSeconds} s).`,
      );
    }
  } else if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_SKEW_MS) {
    return fail(
      'RequestExpired',
      `Signature expired: ${amzDate} is now earlier than ${toAmzDate(new Date(now.getTime() - MAX_SKEW_MS))} (${toAmzDate(now)} - 5 min.)`,
    );
  }
  return { ok: true, accessKeyId: scope.accessKeyId, region: scope.region, service: scope.service, signedAt };
}

function toAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Verifies an RDS IAM auth token (a presigned `GET /?Action=connect&DBUser=…` for `rds-db`) from its text alone. */
export function verifyRdsAuthToken(token: string, lookup: KeyLookup, now: Date): RdsTokenResult {
  const text = token.replace(/^[a-z]+:\/\//i, '');
  const slash = text.indexOf('/');
  if (slash <= 0) return fail('IncompleteSignature', 'The token is not a presigned rds-db connect URL.');
  const hostPort = text.slice(0, slash);
  const rest = text.slice(slash);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  const colon = hostPort.lastIndexOf(':');
  const host = colon < 0 ? hostPort : hostPort.slice(0, colon);
  const port = colon < 0 ? Number.NaN : Number(hostPort.slice(colon + 1));
  if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    return fail('IncompleteSignature', `The token's host must be <endpoint>:<port>, got '${hostPort}'.`);
  }
  const pairs = parseQuery(query);
  const get = (name: string) => pairs.find(([n]) => n === name)?.[1];
  const dbUser = get('DBUser');
  if (get('Action') !== 'connect' || !dbUser) {
    return fail('IncompleteSignature', 'The token must carry Action=connect and a DBUser.');
  }
  if (!pairs.some(([n]) => n === 'X-Amz-Algorithm')) {
    return fail('MissingAuthenticationToken', 'The token carries no X-Amz-* signature parameters.');
  }
  const verified = verifySigV4(
    { method: 'GET', path, query, headers: { host: hostPort }, body: Buffer.alloc(0) },
    lookup,
    now,
  );
  if (!verified.ok) return verified;
  if (verified.service !== 'rds-db') {
    return fail(
      'SignatureDoesNotMatch',
      `The token is scoped to service '${verified.service}', not 'rds-db'.`,
    );
  }
  return {
    ok: true,
    accessKeyId: verified.accessKeyId,
    region: verified.region,
    dbUser,
    host,
    port,
    signedAt: verified.signedAt,
  };
}
