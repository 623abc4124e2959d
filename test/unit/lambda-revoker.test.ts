import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LambdaRevoker, RevokeInvokeError } from '../../functions/adapters/lambda-revoker.js';
import { RevokeInput } from '../../functions/application/workflow-io.js';

const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:JitDbAccess-WorkflowRevokeFunction';
const REQUEST_ID = '01j9z3k4m5n6p7q8r9s0t1v2w3';
const ALICE = {
  principal: 'arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dba_0123/alice@example.com',
  email: 'alice@example.com',
  via: 'iam' as const,
};

const lambda = mockClient(LambdaClient);
const revoker = new LambdaRevoker(new LambdaClient({ region: 'eu-west-1' }), FUNCTION_ARN);
/** A response payload: the adapter reads it as bytes (the SDK's blob adapter is a Uint8Array). */
const payload = (value: unknown) =>
  new TextEncoder().encode(JSON.stringify(value)) as unknown as InvokeCommandOutput['Payload'];

beforeEach(() => {
  lambda.reset();
});

describe('LambdaRevoker', () => {
  it("invokes the revoke function synchronously with the workflow's input shape and who asked", async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload({ revoked: true }) });
    await revoker.revokeEarly(REQUEST_ID, ALICE);
    const calls = lambda.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.FunctionName).toBe(FUNCTION_ARN);
    expect(input?.InvocationType).toBe('RequestResponse');
    const sent = JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array)) as unknown;
    expect(sent).toEqual({ requestId: REQUEST_ID, reason: 'early', by: ALICE });
    // What the revoke handler validates its input with.
    expect(RevokeInput.parse(sent)).toEqual(sent);
  });

  it('keeps a target outage a TARGET_UNAVAILABLE and an unfinished revoke a REVOKE_INCOMPLETE', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({ errorType: 'TargetUnavailableError', errorMessage: 'target orders is unavailable' }),
    });
    await expect(revoker.revokeEarly(REQUEST_ID, ALICE)).rejects.toMatchObject({
      code: 'TARGET_UNAVAILABLE',
    });
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({ errorType: 'RevokeIncompleteError', errorMessage: '…' }),
    });
    await expect(revoker.revokeEarly(REQUEST_ID, ALICE)).rejects.toMatchObject({ code: 'REVOKE_INCOMPLETE' });
  });

  it('reports any other function error as an internal failure, never as success', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: payload('x') });
    await expect(revoker.revokeEarly(REQUEST_ID, ALICE)).rejects.toBeInstanceOf(RevokeInvokeError);
  });
});
