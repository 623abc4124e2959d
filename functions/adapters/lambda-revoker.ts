/**
 * The Revoker port on AWS Lambda: a synchronous Invoke of the revoke function with the workflow's own input
 * shape plus who asked. The API function holds lambda:InvokeFunction on that one function and nothing that
 * reaches a database. A function error comes back as a payload: a target that is down stays a 503
 * (TargetUnavailableError), a revoke that could not finish stays visible (RevokeIncompleteError); anything else is
 * an internal error.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Revoker } from '../application/ports.js';
import { earlyRevokeInput } from '../application/workflow-io.js';
import { ConflictError, RevokeIncompleteError, TargetUnavailableError } from '../domain/errors.js';
import type { Identity } from '../domain/types.js';

export class RevokeInvokeError extends Error {
  constructor(readonly errorType: string) {
    super(`the revoke function failed (${errorType})`);
    this.name = 'RevokeInvokeError';
  }
}

export class LambdaRevoker implements Revoker {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionArn: string,
  ) {}

  async revokeEarly(requestId: string, by: Identity): Promise<void> {
    const input = earlyRevokeInput(requestId, by);
    const out = await this.client.send(
      new InvokeCommand({
        FunctionName: this.functionArn,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(input)),
      }),
    );
    if (!out.FunctionError) return;
    const payload = parsePayload(out.Payload);
    const type = typeof payload.errorType === 'string' ? payload.errorType : 'Unknown';
    if (type === 'TargetUnavailableError') throw new TargetUnavailableError(requestId);
    if (type === 'RevokeIncompleteError') {
      throw new RevokeIncompleteError(requestId, `jit_${requestId}`, 'see the revoke function log');
    }
    if (type === 'ConflictError') throw new ConflictError();
    throw new RevokeInvokeError(type);
  }
}

function parsePayload(payload: Uint8Array | undefined): { errorType?: unknown } {
  try {
    return JSON.parse(new TextDecoder().decode(payload ?? new Uint8Array())) as { errorType?: unknown };
  } catch {
    return {};
  }
}

export function lambdaRevokerFor(functionArn: string, region: string | undefined): LambdaRevoker {
  return new LambdaRevoker(new LambdaClient(region ? { region } : {}), functionArn);
}
