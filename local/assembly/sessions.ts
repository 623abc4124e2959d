/**
 * Assembly mode's stand-in for STS and IAM Identity Center: every principal that calls a local endpoint holds
 * temporary credentials for a role session, issued here, and every signature is checked against them.
 * - Each function gets a session of its own execution role (`assumed-role/<role>/<function>`), as Lambda
 *   gives it; the policies evaluated are that role's, read from the template.
 * - Each person (`JITDB_USER=dave@example.com`) gets an SSO-style session of a permission set's reserved role
 *   (`assumed-role/AWSReservedSSO_<set>_<id>/dave@example.com`), allowed to invoke the API and nothing else:
 *   what an engineer's Identity Center permission set would grant.
 * Secrets are random per run and never leave this process except to their holder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isEmail } from '../../functions/domain/identity.js';
import type { RawRequest, RawResponse } from './aws-endpoint.js';
import type { PolicyDocument } from './model.js';
import type { KeyRecord } from './sigv4-verify.js';

export interface SessionCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** ISO time; sessions last 12 hours, like an Identity Center session. */
  expiration: string;
}

/** One issued session: who it is, as IAM and API Gateway name it, and what it may do. */
export interface RoleSession {
  credentials: SessionCredentials;
  /** The role: arn:aws:iam::<account>:role/<path><name>. */
  roleArn: string;
  /** The session: arn:aws:sts::<account>:assumed-role/<name>/<session name>. */
  assumedRoleArn: string;
  /** `<role id>:<session name>`: API Gateway's `caller` and `user` for an assumed role. */
  userId: string;
  account: string;
  policies: PolicyDocument[];
  /** The function (logical id) or the person (email) the session was issued to. */
  holder: string;
}

/** The permission set every local engineer signs in with (its reserved role name carries this). */
export const LOCAL_PERMISSION_SET = 'JitDbUser';

const SESSION_HOURS = 12;

/** A stable, AWS-shaped id (role ids start AROA, access keys ASIA for temporary credentials). */
function awsId(prefix: string, seed: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const digest = createHash('sha256').update(seed).digest();
  let id = prefix;
  for (let i = 0; id.length < 20; i++) id += alphabet[(digest[i] ?? 0) % 32];
  return id;
}

/** The last path segment of a role ARN: its name. */
function roleName(roleArn: string): string {
  return roleArn.split('/').at(-1) ?? roleArn;
}

/** Issues and looks up local role sessions. */
export class LocalSessions {
  private readonly byAccessKey = new Map<string, RoleSession>();

  constructor(
    readonly account: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A new session of `roleArn` named `sessionName`, evaluated with `policies`. */
  issue(roleArn: string, sessionName: string, policies: PolicyDocument[], holder: string): RoleSession {
    const accessKeyId = awsId('ASIA', `${roleArn}/${sessionName}/${randomBytes(8).toString('hex')}`);
    const session: RoleSession = {
      credentials: {
        accessKeyId,
        secretAccessKey: randomBytes(30).toString('base64'),
        sessionToken: randomBytes(48).toString('base64'),
        expiration: new Date(this.now().getTime() + SESSION_HOURS * 3_600_000).toISOString(),
      },
      roleArn,
      assumedRoleArn: `arn:aws:sts::${this.account}:assumed-role/${roleName(roleArn)}/${sessionName}`,
      userId: `${awsId('AROA', roleArn)}:${sessionName}`,
      account: this.account,
      policies,
      holder,
    };
    this.byAccessKey.set(accessKeyId, session);
    return session;
  }

  /**
   * An Identity Center sign-in: `email` gets a session of the permission set's reserved role, allowed
   * `execute-api:Invoke` on `apiArnPattern` (e.g. arn:aws:execute-api:<region>:<account>:<api id>/*).
   */
  signIn(email: string, apiArnPattern: string): RoleSession {
    const role = `AWSReservedSSO_${LOCAL_PERMISSION_SET}_${createHash('sha256').update(this.account).digest('hex').slice(0, 16)}`;
    const roleArn = `arn:aws:iam::${this.account}:role/aws-reserved/sso.amazonaws.com/${role}`;
    return this.issue(
      roleArn,
      email,
      [
        {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: apiArnPattern }],
        },
      ],
      email,
    );
  }

  /** What a signature is verified with (sigv4-verify.ts's KeyLookup): the key's secret and session token. */
  keyRecord(accessKeyId: string): KeyRecord | undefined {
    const session = this.lookup(accessKeyId);
    return (
      session && {
        secretAccessKey: session.credentials.secretAccessKey,
        sessionToken: session.credentials.sessionToken,
      }
    );
  }

  /** The session an access key belongs to, if it was issued and has not expired. */
  lookup(accessKeyId: string): RoleSession | undefined {
    const session = this.byAccessKey.get(accessKeyId);
    if (!session) return undefined;
    return Date.parse(session.credentials.expiration) > this.now().getTime() ? session : undefined;
  }
}

/** The path of the local sign-in (the stand-in for `aws sso login`), on the local AWS endpoint. */
export const SIGN_IN_PATH = '/_local/identity-center/sign-in';

/**
 * POST {"user": "<email>"} → the credentials of a new Identity Center session for that user, and the region.
 * Served on loopback only, like the local runtime's identity header: anyone on this machine may be anyone.
 */
export function signInRoute(
  sessions: LocalSessions,
  apiArnPattern: string,
  region: string,
): (request: RawRequest) => Promise<RawResponse> {
  return async (request): Promise<RawResponse> => {
    let user: unknown;
    try {
      user = (JSON.parse(request.body.toString('utf8')) as { user?: unknown }).user;
    } catch {
      user = undefined;
    }
    if (typeof user !== 'string' || !isEmail(user.trim().toLowerCase())) {
      return {
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'give {"user": "<email address>"}' }),
      };
    }
    const session = sessions.signIn(user.trim().toLowerCase(), apiArnPattern);
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ ...session.credentials, region, assumedRoleArn: session.assumedRoleArn }),
    };
  };
}
