/**
 * Assembly mode (issue #14): the HTTP error responses AWS gives, per service protocol, for a refused call
 * (AccessDenied) and for a request whose SigV4 authentication failed, so the real SDK in each function throws
 * the same named error it would in AWS. Pure: the caller writes the response.
 *
 * Choices (from AWS's documented and observed answers; see the report of the commit that added this file):
 * - JSON protocols (DynamoDB, Step Functions: 1.0; Secrets Manager, KMS: 1.1) answer 400 with `__type`; the
 *   SigV4 codes are Coral's: UnrecognizedClientException (unknown key or token), InvalidSignatureException
 *   (wrong signature, and "Signature expired"), MissingAuthenticationTokenException, IncompleteSignatureException.
 * - REST JSON (SES v2, Lambda) carry the code in `x-amzn-ErrorType` with 403 for auth failures and AccessDenied.
 * - Query (RDS) answers an XML ErrorResponse, 403, with IAM-style codes: InvalidClientTokenId,
 *   SignatureDoesNotMatch (also for an expired signature), MissingAuthenticationToken, IncompleteSignature.
 */
import { randomUUID } from 'node:crypto';
import type { SigV4FailureCode } from './sigv4-verify.js';

export type Protocol = 'json1.0' | 'json1.1' | 'rest-json' | 'query';

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface AwsError {
  status: number;
  code: string;
  message: string;
}

const protocols: Record<string, Protocol> = {
  dynamodb: 'json1.0',
  states: 'json1.0',
  secretsmanager: 'json1.1',
  kms: 'json1.1',
  ses: 'rest-json',
  lambda: 'rest-json',
  rds: 'query',
};

/** The wire protocol of a service, by its SigV4 signing name (unknown services: JSON 1.0). */
export function protocolOf(service: string): Protocol {
  return protocols[service] ?? 'json1.0';
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An error response in the service's protocol, as AWS would send it. */
export function errorResponse(
  service: string,
  error: AwsError,
  requestId: string = randomUUID(),
): HttpResponse {
  const common = { 'x-amzn-requestid': requestId, date: new Date().toUTCString() };
  switch (protocolOf(service)) {
    case 'json1.0':
    case 'json1.1': {
      const json10 = protocolOf(service) === 'json1.0';
      const type = json10 ? `com.amazon.coral.service#${error.code}` : error.code;
      return {
        status: error.status,
        headers: { ...common, 'content-type': `application/x-amz-json-${json10 ? '1.0' : '1.1'}` },
        body: JSON.stringify({ __type: type, message: error.message }),
      };
    }
    case 'rest-json':
      return {
        status: error.status,
        headers: { ...common, 'content-type': 'application/json', 'x-amzn-errortype': error.code },
        body: JSON.stringify(
          service === 'lambda' ? { Type: 'User', Message: error.message } : { message: error.message },
        ),
      };
    case 'query':
      return {
        status: error.status,
        headers: { ...common, 'content-type': 'text/xml' },
        body:
          '<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>' +
          `<Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message></Error>` +
          `<RequestId>${xmlEscape(requestId)}</RequestId></ErrorResponse>`,
      };
  }
}

/** The AccessDenied error a service gives for an IAM refusal (message from deniedMessage). */
export function accessDeniedError(service: string, message: string): AwsError {
  switch (protocolOf(service)) {
    case 'json1.0':
    case 'json1.1':
      return { status: 400, code: 'AccessDeniedException', message };
    case 'rest-json':
      return { status: 403, code: 'AccessDeniedException', message };
    case 'query':
      return { status: 403, code: 'AccessDenied', message };
  }
}

const coralCodes: Record<SigV4FailureCode, string> = {
  MissingAuthenticationToken: 'MissingAuthenticationTokenException',
  InvalidClientTokenId: 'UnrecognizedClientException',
  SignatureDoesNotMatch: 'InvalidSignatureException',
  RequestExpired: 'InvalidSignatureException',
  IncompleteSignature: 'IncompleteSignatureException',
};

const queryCodes: Record<SigV4FailureCode, string> = {
  MissingAuthenticationToken: 'MissingAuthenticationToken',
  InvalidClientTokenId: 'InvalidClientTokenId',
  SignatureDoesNotMatch: 'SignatureDoesNotMatch',
  RequestExpired: 'SignatureDoesNotMatch',
  IncompleteSignature: 'IncompleteSignature',
};

/** The error a service gives when SigV4 verification failed with the given code. */
export function sigV4Error(service: string, failure: { code: SigV4FailureCode; message: string }): AwsError {
  switch (protocolOf(service)) {
    case 'json1.0':
    case 'json1.1':
      return { status: 400, code: coralCodes[failure.code], message: failure.message };
    case 'rest-json':
      return { status: 403, code: coralCodes[failure.code], message: failure.message };
    case 'query':
      return { status: 403, code: queryCodes[failure.code], message: failure.message };
  }
}

/** The complete AccessDenied response for a service. */
export function accessDeniedResponse(service: string, message: string, requestId?: string): HttpResponse {
  return errorResponse(service, accessDeniedError(service, message), requestId);
}

/** The complete SigV4-failure response for a service. */
export function sigV4ErrorResponse(
  service: string,
  failure: { code: SigV4FailureCode; message: string },
  requestId?: string,
): HttpResponse {
  return errorResponse(service, sigV4Error(service, failure), requestId);
}
