import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type FunctionName, HANDLER_NAMES, handlerEntry } from '../../cdk/bundling.js';
import {
  DATABASE_HANDLERS,
  FUNCTION_NEEDS,
  MAILER_HANDLERS,
  WORKFLOW_HANDLERS,
} from '../../cdk/function-needs.js';

/** The `export const handler = …` statement of a handler file: what Lambda wires, not what tests pass in. */
function lambdaWiring(name: FunctionName): string {
  const source = readFileSync(handlerEntry(name), 'utf8');
  const start = source.indexOf('export const handler =');
  if (start < 0) throw new Error(`${name}: no 'export const handler =' statement`);
  return source.slice(start);
}

/** What the handler passes to lambdaDeps, read from its source. */
function wired(name: FunctionName) {
  const wiring = lambdaWiring(name);
  return {
    deps: wiring.includes('lambdaDeps('),
    mailer: wiring.includes('lambdaMailer('),
    workflow: wiring.includes('lambdaWorkflow('),
    database: wiring.includes('lambdaProvisioners('),
    signer: wiring.includes('lambdaSigner('),
    revoker: wiring.includes('lambdaRevoker('),
    auditOnly: wiring.includes('auditOnly: true'),
  };
}

describe('FUNCTION_NEEDS, the table permissions and VPC placement are derived from', () => {
  it('has one row per handler file', () => {
    expect(Object.keys(FUNCTION_NEEDS).sort()).toEqual([...HANDLER_NAMES].sort());
  });

  it.each(HANDLER_NAMES)('matches what functions/handlers/%s.ts wires into lambdaDeps', (name) => {
    const needs = FUNCTION_NEEDS[name];
    expect(wired(name)).toEqual({
      deps: true,
      mailer: needs.mailer,
      workflow: needs.workflow !== undefined,
      database: needs.database,
      signer: needs.digests !== undefined,
      revoker: needs.revoker === true,
      auditOnly: needs.tables === 'audit-read',
    });
  });

  it('names the functions that reach databases, mail and Step Functions', () => {
    // Not api nor approval-links: the functions that face callers reach no database and read no admin secret;
    // nor evaluate-policy, request-approval and audit-digest (their bundles carry no driver: bundles.test.ts).
    expect(DATABASE_HANDLERS).toEqual([
      'credentials',
      'grant',
      'revoke',
      'execute-statement',
      'record-outcome',
      'expiry-sweeper',
      'execution-status-change',
    ]);
    const withoutDatabase = HANDLER_NAMES.filter((n) => !DATABASE_HANDLERS.includes(n));
    expect(withoutDatabase).toEqual([
      'api',
      'approval-links',
      'evaluate-policy',
      'request-approval',
      'audit-digest',
    ]);
    expect(MAILER_HANDLERS).toEqual([
      'api',
      'approval-links',
      'request-approval',
      'record-outcome',
      'expiry-sweeper',
    ]);
    expect(WORKFLOW_HANDLERS).toEqual(['api', 'approval-links', 'request-approval', 'expiry-sweeper']);
  });

  it('lets only the api start or stop executions, and only credentials and execute-statement connect as request users', () => {
    const with_ = (pick: (n: FunctionName) => boolean | undefined) => HANDLER_NAMES.filter((n) => pick(n));
    expect(with_((n) => FUNCTION_NEEDS[n].workflow?.start)).toEqual(['api']);
    expect(with_((n) => FUNCTION_NEEDS[n].workflow?.stop)).toEqual(['api']);
    expect(with_((n) => FUNCTION_NEEDS[n].workflow?.decide)).toEqual(WORKFLOW_HANDLERS);
    // execute-statement logs in as a statement request's own user to run its SQL.
    expect(with_((n) => FUNCTION_NEEDS[n].iamConnect)).toEqual(['credentials', 'execute-statement']);
  });

  it('lets only audit-digest sign digests, and gives it no write to the requests or audit table', () => {
    expect(HANDLER_NAMES.filter((n) => FUNCTION_NEEDS[n].digests === 'sign')).toEqual(['audit-digest']);
    expect(HANDLER_NAMES.filter((n) => FUNCTION_NEEDS[n].digests === 'verify')).toEqual(['api']);
    expect(HANDLER_NAMES.filter((n) => FUNCTION_NEEDS[n].tables === 'audit-read')).toEqual(['audit-digest']);
  });
});
