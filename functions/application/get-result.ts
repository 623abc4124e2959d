import { assertMayReadResult } from '../domain/authz.js';
import { DomainError } from '../domain/errors.js';
import type { StatementResult } from '../domain/statements.js';
import type { Identity } from '../domain/types.js';
import type { Deps } from './ports.js';
import { loadAuthorised } from './refusals.js';

/**
 * A statement request's result, for its requester alone (anyone else is refused, and the attempt audited).
 * RESULT_NOT_AVAILABLE until it has run (or when it failed: the reason is on the request), RESULT_EXPIRED once
 * the level's retention has passed.
 */
export async function getResult(
  input: { requestId: string; caller: Identity },
  deps: Deps,
): Promise<StatementResult> {
  const request = await loadAuthorised(deps, input.requestId, input.caller, assertMayReadResult);
  if (request.status !== 'EXECUTED') {
    throw new DomainError(
      'RESULT_NOT_AVAILABLE',
      `the request is ${request.status}: its statements have not run`,
      {
        details: { status: request.status },
      },
    );
  }
  if (!deps.results) throw new Error('this function is not wired with a result store');
  const result = await deps.results.get(request.id, deps.clock.now());
  if (!result) throw new DomainError('RESULT_EXPIRED', "the result's retention has passed");
  return result;
}
