import { ForbiddenError } from '../domain/errors.js';
import { identityOfSignedCaller, type SignedCaller } from '../domain/identity.js';
import type { Identity } from '../domain/types.js';
import type { Deps } from './ports.js';
import { refuseOnSecurityStream } from './refusals.js';

/**
 * The caller's identity under the policy's trust model. A refusal (another account, a principal we cannot hold
 * to account) is recorded on the day's security stream, with the ARN API Gateway verified, and rethrown.
 * `homeAccount` is the account the function runs in: what `self` means in `identity.accounts`.
 */
export async function authenticate(
  caller: SignedCaller,
  homeAccount: string | undefined,
  deps: Deps,
): Promise<Identity> {
  try {
    return identityOfSignedCaller(caller, deps.policy.policy().identity, homeAccount);
  } catch (error) {
    if (error instanceof ForbiddenError) {
      await refuseOnSecurityStream(
        deps,
        { principal: caller.userArn, via: 'iam' },
        error,
        caller.accountId ? { accountId: caller.accountId } : {},
      );
    }
    throw error;
  }
}

/** The account in a Lambda function ARN (`context.invokedFunctionArn`), set by Lambda, never by a caller. */
export function accountOfFunctionArn(arn: string | undefined): string | undefined {
  return /^arn:[^:]+:lambda:[^:]*:(\d{12}):function:/.exec(arn ?? '')?.[1];
}
