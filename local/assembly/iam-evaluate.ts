/**
 * Assembly mode (issue #14): decides whether a function's role may make one AWS call, from the role's identity
 * policies as the template states them, with @cloud-copilot/iam-simulate (a development dependency: this file
 * never goes into a Lambda asset). Same account, no SCPs, RCPs, permission boundaries or session policies.
 *
 * Two AWS facts the simulator encodes and this file works with:
 * - KMS evaluates the key policy first; without one nothing is allowed. CDK's default key policy delegates to
 *   IAM (`Allow arn:aws:iam::<account>:root kms:*`), so that is the resource policy given for `kms:` calls
 *   unless the caller passes the key's own.
 * - Its action data lists `states:SendTask{Success,Failure,Heartbeat}` as wildcard-only, so a validated
 *   simulation refuses a state machine ARN (`must.use.wildcard`); IAM does evaluate those calls against the
 *   token's state machine (CDK's grantTaskResponse grants on it), so such calls are run unvalidated.
 */
import {
  type EvaluationResult,
  runSimulation,
  runUnsafeSimulation,
  type Simulation,
} from '@cloud-copilot/iam-simulate';
import type { Authorization, AwsCall, PolicyDocument } from './model.js';

export interface Principal {
  /** The role ARN (arn:aws:iam::<account>:role/<name>). */
  arn: string;
  /** Its identity policies: inline and attached AWS::IAM::Policy documents. */
  policies: PolicyDocument[];
}

export interface AuthorizeOptions {
  /** The resource's own policy (e.g. a KMS key policy). Defaults: CDK's default key policy for kms, else none. */
  resourcePolicy?: unknown;
}

/** The decision and, when the simulator refused its input, why (the decision is then an implicit deny). */
export interface Simulated {
  authorization: Authorization;
  simulatorError?: string;
}

const accountOf = (arn: string): string => arn.split(':')[4] ?? '';

function defaultKeyPolicy(account: string): PolicyDocument & { Statement: unknown[] } {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}

function toAuthorization(result: EvaluationResult, call: AwsCall): Authorization {
  return result === 'Allowed'
    ? { allowed: true }
    : { allowed: false, reason: result, action: call.action, resource: call.resource };
}

/** Evaluates one call against a principal's identity policies, reporting any simulator input error. */
export async function simulate(
  principal: Principal,
  call: AwsCall,
  options: AuthorizeOptions = {},
): Promise<Simulated> {
  const resourceAccount = accountOf(call.resource) || accountOf(principal.arn);
  const resourcePolicy =
    options.resourcePolicy ??
    (call.service === 'kms' ? defaultKeyPolicy(accountOf(principal.arn)) : undefined);
  const simulation: Simulation = {
    request: {
      principal: principal.arn,
      action: call.action,
      resource: { resource: call.resource, accountId: resourceAccount },
      contextVariables: call.context ?? {},
    },
    identityPolicies: principal.policies.map((policy, i) => ({ name: `policy-${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(resourcePolicy === undefined ? {} : { resourcePolicy }),
  };
  const result = await runSimulation(simulation, { simulationMode: 'Strict' });
  if (result.resultType !== 'error') return { authorization: toAuthorization(result.overallResult, call) };
  if (result.errors.message === 'must.use.wildcard' && call.resource !== '*') {
    return {
      authorization: toAuthorization(runUnsafeSimulation(simulation, { simulationMode: 'Strict' }), call),
    };
  }
  return {
    authorization: toAuthorization('ImplicitlyDenied', call),
    simulatorError: JSON.stringify(result.errors),
  };
}

/** Whether the principal's identity policies allow the call (explicit Deny wins; errors fail closed). */
export async function authorize(
  principal: Principal,
  call: AwsCall,
  options: AuthorizeOptions = {},
): Promise<Authorization> {
  return (await simulate(principal, call, options)).authorization;
}

/** Authorizes every call a request makes; the first denial decides, as IAM does for multi-resource calls. */
export async function authorizeAll(
  principal: Principal,
  calls: AwsCall[],
  options: AuthorizeOptions = {},
): Promise<Authorization> {
  for (const call of calls) {
    const decision = await authorize(principal, call, options);
    if (!decision.allowed) return decision;
  }
  return { allowed: true };
}

/** AWS's AccessDenied wording for a refused call. */
export function deniedMessage(
  principalArn: string,
  call: Pick<AwsCall, 'action' | 'resource'>,
  reason: 'ImplicitlyDenied' | 'ExplicitlyDenied',
): string {
  const why =
    reason === 'ExplicitlyDenied'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${call.action} action`;
  return `User: ${principalArn} is not authorized to perform: ${call.action} on resource: ${call.resource} ${why}`;
}

/** The caller as AWS names it in AccessDenied messages: a role's assumed-role session ARN. */
export function assumedRoleArn(roleArn: string, sessionName: string): string {
  const [, partition = 'aws', , , account = '', resource = ''] = roleArn.split(':');
  const roleName = resource.split('/').pop() ?? resource;
  return `arn:${partition}:sts::${account}:assumed-role/${roleName}/${sessionName}`;
}
