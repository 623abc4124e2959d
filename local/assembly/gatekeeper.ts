/**
 * The local AWS endpoint's gatekeeper: a request reaches its emulator only if its SigV4 signature verifies
 * against a session this runtime issued, and every IAM action it makes is allowed by that session's role
 * policies (from the template), evaluated by the IAM simulator. Each decision is recorded, for the
 * least-privilege report.
 */
import type { Caller, Gatekeeper, RawRequest, RawResponse } from './aws-endpoint.js';
import { accessDeniedResponse, errorResponse, sigV4ErrorResponse } from './aws-errors.js';
import { type ActionContext, iamCallsOf, rdsConnectCall } from './iam-actions.js';
import { authorize, deniedMessage } from './iam-evaluate.js';
import type { AwsCall } from './model.js';
import type { LocalSessions, RoleSession } from './sessions.js';
import { type SigV4FailureCode, verifyRdsAuthToken, verifySigV4 } from './sigv4-verify.js';

/** One evaluated IAM call: who, what, on what, and whether it was allowed. */
export interface RecordedCall {
  /** The session's holder: a function's logical id, or a person's email. */
  holder: string;
  roleArn: string;
  action: string;
  resource: string;
  allowed: boolean;
}

/** Verifies, maps and evaluates; `calls` keeps every decision in order. */
export class IamGatekeeper implements Gatekeeper {
  readonly calls: RecordedCall[] = [];

  constructor(
    private readonly sessions: LocalSessions,
    private readonly context: ActionContext,
    /** Where each denial is reported, as AWS's message (CloudTrail would show it). */
    private readonly onDenied: (holder: string, message: string) => void = () => undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The session a signed request came from, or why its signature does not stand (SigV4's own codes). */
  authenticate(
    request: RawRequest,
  ): { session: RoleSession } | { failure: { code: SigV4FailureCode; message: string } } {
    const verified = verifySigV4(request, (key) => this.sessions.keyRecord(key), this.now());
    if (!verified.ok) return { failure: verified };
    const session = this.sessions.lookup(verified.accessKeyId);
    return session
      ? { session }
      : {
          failure: {
            code: 'InvalidClientTokenId',
            message: 'The security token included in the request is invalid.',
          },
        };
  }

  /** The session a signed request came from, or the error the service answers a bad signature with. */
  verify(service: string, request: RawRequest): { session: RoleSession } | { response: RawResponse } {
    const authenticated = this.authenticate(request);
    return 'failure' in authenticated
      ? { response: sigV4ErrorResponse(service, authenticated.failure) }
      : authenticated;
  }

  /** Evaluates each call for the session; the first denied one, or undefined when all are allowed. */
  async evaluate(
    session: RoleSession,
    calls: readonly AwsCall[],
  ): Promise<{ call: AwsCall; reason: 'ImplicitlyDenied' | 'ExplicitlyDenied' } | undefined> {
    let denied: { call: AwsCall; reason: 'ImplicitlyDenied' | 'ExplicitlyDenied' } | undefined;
    for (const call of calls) {
      const decision = await authorize({ arn: session.roleArn, policies: session.policies }, call);
      this.calls.push({
        holder: session.holder,
        roleArn: session.roleArn,
        action: call.action,
        resource: call.resource,
        allowed: decision.allowed,
      });
      if (!decision.allowed && !denied) denied = { call, reason: decision.reason };
    }
    return denied;
  }

  /**
   * An RDS IAM auth token a function minted (seen where it leaves the function, in its response): it verifies
   * against the minting session, and its `rds-db:connect` is evaluated against that session's role, as RDS
   * would at login. Answers the denial's message, or undefined when the login would be allowed.
   */
  async checkMintedToken(token: string): Promise<string | undefined> {
    const verified = verifyRdsAuthToken(token, (key) => this.sessions.keyRecord(key), this.now());
    if (!verified.ok) return `the RDS auth token does not verify: ${verified.code}`;
    const session = this.sessions.lookup(verified.accessKeyId);
    if (!session) return 'the RDS auth token was signed by no session of this runtime';
    const mapped = rdsConnectCall(verified, this.context);
    if (!mapped.ok) return mapped.message;
    return this.denial(session, mapped.calls);
  }

  /** Evaluates the calls; for the first one denied, AWS's message, reported to onDenied. */
  private async denial(session: RoleSession, calls: readonly AwsCall[]): Promise<string | undefined> {
    const denied = await this.evaluate(session, calls);
    if (!denied) return undefined;
    const message = deniedMessage(session.assumedRoleArn, denied.call, denied.reason);
    this.onDenied(session.holder, message);
    return message;
  }

  async check(service: string, request: RawRequest): Promise<{ caller: Caller } | { response: RawResponse }> {
    const verified = this.verify(service, request);
    if ('response' in verified) return verified;
    const { session } = verified;
    const mapped = iamCallsOf(service, request, this.context);
    if (!mapped.ok) return { response: errorResponse(service, mapped) };
    const denied = await this.denial(session, mapped.calls);
    if (denied) return { response: accessDeniedResponse(service, denied) };
    return { caller: { accessKeyId: session.credentials.accessKeyId, roleArn: session.roleArn } };
  }
}
