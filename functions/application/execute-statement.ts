import { ConflictError, TargetMisconfiguredError } from '../domain/errors.js';
import { applyEvent } from '../domain/lifecycle.js';
import { StatementFailedError } from '../domain/statements.js';
import type { AccessRequest } from '../domain/types.js';
import { retryOnConflict } from './conflict-retry.js';
import type { CredentialProvisioner, Deps, GrantSpec, ResultStore, StatementRunner } from './ports.js';
import { redactErrorText } from './redact.js';
import { grantSpec, levelOf, loadRequest } from './request-lookup.js';
import type { ExecuteStatementInput, ExecuteStatementOutput } from './workflow-io.js';

/** How long past the statement timeout the temporary user may log in (VALID UNTIL): connecting and committing. */
const USER_GRACE_SECONDS = 60;

/** The lastError code of a statement request whose earlier run may have happened: it is never run again. */
export const STATEMENT_OUTCOME_UNKNOWN = 'StatementOutcomeUnknown';

/**
 * Runs an approved statement request once, instead of granting a window: a temporary user with the level's
 * privileges (narrowed by the scope), the statements in one transaction as that user, the user dropped whatever
 * happened. The result goes to the result store (for the requester alone); the task answers only a status.
 *
 * Safe to retry, and never runs the statements twice: `executionStartedAt` is recorded with a conditional write
 * before they run, and an attempt that finds it set drops the user and ends the request without running them:
 * EXECUTED if the earlier run's result was stored (it committed), FAILED otherwise.
 */
export async function executeStatement(
  input: ExecuteStatementInput,
  deps: Deps,
): Promise<ExecuteStatementOutput> {
  const runner = required(deps.statements, 'a statement runner');
  const results = required(deps.results, 'a result store');
  const request = await loadRequest(deps, input.requestId);
  if (request.status === 'EXECUTED' || request.status === 'FAILED') return { status: request.status };
  if (request.status !== 'APPROVED' || !request.statements) return { status: 'SKIPPED' };
  const { target, level } = levelOf(deps, request);
  const provisioner = deps.provisioners.for(target);
  const expiresAt = new Date(
    deps.clock.now().getTime() + (level.statement.timeout + USER_GRACE_SECONDS) * 1000,
  );
  // One session is all the run needs.
  const spec: GrantSpec = { ...grantSpec(request, target, level, expiresAt), connectionLimit: 1 };
  if (request.executionStartedAt) return settleEarlierRun(deps, request, provisioner, spec, results);

  const health = await provisioner.check();
  if (!health.ok) throw new TargetMisconfiguredError(target.id, health.problems);
  await provisioner.grant(spec);
  const credentials = await provisioner.credentials(spec);
  let started: AccessRequest;
  try {
    const { next, audit } = applyEvent(
      request,
      { type: 'execution-started' },
      { level, now: deps.clock.now() },
    );
    started = await deps.requests.transition(request, next, audit);
  } catch (error) {
    // Cancelled (or run by another attempt) meanwhile: nothing ran here; leave no user behind.
    await provisioner.revoke(spec);
    if (error instanceof ConflictError) return executeStatement(input, deps);
    throw error;
  }

  let outcome: Awaited<ReturnType<StatementRunner['run']>> | undefined;
  let failure: unknown;
  try {
    outcome = await runner.run(target, credentials, started.statements ?? [], {
      timeoutSeconds: level.statement.timeout,
      maxRows: level.statement.maxRows,
      maxBytes: level.statement.maxBytes,
    });
  } catch (error) {
    failure = error;
  }
  const now = deps.clock.now();
  if (outcome) {
    // Stored before anything else can fail: a retry that finds it knows the statements committed.
    await results.put({
      requestId: request.id,
      requester: request.requester,
      executedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + level.statement.retention * 1000).toISOString(),
      statements: outcome,
    });
  }
  // Ends its sessions too (a statement still running past the client's deadline). A throw here is retried by
  // the workflow: the retry finds executionStartedAt, drops the user again and settles without running.
  await provisioner.revoke(spec);
  return retryOnConflict(async () => {
    const current = await loadRequest(deps, input.requestId);
    if (current.status !== 'APPROVED') return { status: endStatus(current) };
    const event = outcome
      ? ({ type: 'executed', statements: outcome } as const)
      : ({ type: 'execution-failed', error: failureOf(failure) } as const);
    const { next, audit } = applyEvent(current, event, { level, now: deps.clock.now() });
    await deps.requests.transition(current, next, audit);
    return { status: outcome ? 'EXECUTED' : 'FAILED' };
  });
}

/**
 * The statements' plans for approvers, computed before approval as the request's temporary user (so the plan is
 * what that user would get), never running them; the user is dropped after. Best effort: the workflow asks for
 * approval whatever happens here. Recorded once (`explained`), so a re-entry of the approval path skips it.
 */
export async function explainStatement(
  input: ExecuteStatementInput,
  deps: Deps,
): Promise<ExecuteStatementOutput> {
  const runner = required(deps.statements, 'a statement runner');
  const request = await loadRequest(deps, input.requestId);
  if (request.status !== 'PENDING' || !request.statements || request.explain) return { status: 'SKIPPED' };
  const { target, level } = levelOf(deps, request);
  const provisioner = deps.provisioners.for(target);
  const expiresAt = new Date(
    deps.clock.now().getTime() + (level.statement.timeout + USER_GRACE_SECONDS) * 1000,
  );
  const spec: GrantSpec = { ...grantSpec(request, target, level, expiresAt), connectionLimit: 1 };
  let plans: string[];
  try {
    await provisioner.grant(spec);
    const credentials = await provisioner.credentials(spec);
    plans = await runner.explain(target, credentials, request.statements, {
      timeoutSeconds: level.statement.timeout,
      maxRows: level.statement.maxRows,
      maxBytes: level.statement.maxBytes,
    });
  } finally {
    await provisioner.revoke(spec);
  }
  return retryOnConflict(async () => {
    const current = await loadRequest(deps, input.requestId);
    if (current.status !== 'PENDING' || current.explain) return { status: 'SKIPPED' };
    const { next, audit } = applyEvent(
      current,
      { type: 'explained', plans },
      { level, now: deps.clock.now() },
    );
    await deps.requests.transition(current, next, audit);
    return { status: 'EXPLAINED' };
  });
}

/** The task function's two states: ExplainStatement (before approval) and ExecuteStatement (after). */
export function statementTask(input: ExecuteStatementInput, deps: Deps): Promise<ExecuteStatementOutput> {
  return input.explain ? explainStatement(input, deps) : executeStatement(input, deps);
}

/** A retry after the statements may have run: drop the user, then EXECUTED if a result was stored, else FAILED. */
async function settleEarlierRun(
  deps: Deps,
  request: AccessRequest,
  provisioner: CredentialProvisioner,
  spec: GrantSpec,
  results: ResultStore,
): Promise<ExecuteStatementOutput> {
  await provisioner.revoke(spec);
  const earlier = await results.get(request.id, deps.clock.now());
  return retryOnConflict(async () => {
    const current = await loadRequest(deps, request.id);
    if (current.status !== 'APPROVED') return { status: endStatus(current) };
    const event = earlier
      ? ({ type: 'executed', statements: earlier.statements } as const)
      : ({
          type: 'execution-failed',
          error: {
            code: STATEMENT_OUTCOME_UNKNOWN,
            message: 'an earlier attempt may have run the statements; they are not run again',
          },
        } as const);
    const { next, audit } = applyEvent(current, event, { now: deps.clock.now() });
    await deps.requests.transition(current, next, audit);
    return { status: earlier ? 'EXECUTED' : 'FAILED' };
  });
}

function endStatus(request: AccessRequest): ExecuteStatementOutput['status'] {
  return request.status === 'EXECUTED' || request.status === 'FAILED' ? request.status : 'SKIPPED';
}

/** The database's message for a refused statement; for anything else, its name and a masked message. */
function failureOf(error: unknown): { code: string; message: string } {
  if (error instanceof StatementFailedError)
    return { code: error.name, message: redactErrorText(error.message) };
  return {
    code: error instanceof Error ? error.name : 'Error',
    message: error instanceof Error ? redactErrorText(error.message) : 'the statements could not run',
  };
}

function required<T>(port: T | undefined, name: string): T {
  if (port === undefined) throw new Error(`this function is not wired with ${name}`);
  return port;
}
