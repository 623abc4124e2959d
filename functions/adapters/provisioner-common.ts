import type { SignerConfig } from '@aws-sdk/rds-signer';
import type { GrantSpec, RevokeReport } from '../application/ports.js';
import { DomainError } from '../domain/errors.js';
import type { EndpointResolver } from './rds-endpoint.js';
import type { AdminCredentialsSource } from './secrets-admin.js';

/**
 * What the PostgreSQL and MySQL provisioners share, with neither engine's driver: their dependencies, the shape of
 * a revoke plan and how a whole one runs, the refusals of a grant that has ended, and which errors mean the
 * database is unavailable.
 */

/** What every provisioner is built from: admin credentials and endpoints are injected, never read from env. */
export interface ProvisionerDeps {
  admin: AdminCredentialsSource;
  endpoints: EndpointResolver;
  /** Region for IAM tokens when the target's connection names none. */
  region?: string;
  /** Signs IAM tokens; defaults to the SDK provider chain (the Lambda role). */
  awsCredentials?: SignerConfig['credentials'];
  now?: () => Date;
  /** Admin connections kept open per database. */
  poolSize?: number;
  connectTimeoutMs?: number;
}

/** One step of a revoke; each is safe to run again after a crash at any point. */
export interface RevokeStep {
  name: string;
  run(): Promise<void>;
}

/** The ordered steps of one revoke and the report they fill in. */
export interface RevokePlan {
  steps: RevokeStep[];
  report(): RevokeReport;
}

/** A whole revoke: every step in order, then the report. Any step that throws ends it there; a rerun starts over. */
export async function runRevokePlan(plan: RevokePlan): Promise<RevokeReport> {
  for (const step of plan.steps) await step.run();
  return plan.report();
}

export const IAM_TOKEN_MINUTES = 15;

/** The credential kinds and their refusal when the grant has already ended. */
export function assertGrantCurrent(spec: GrantSpec, now: Date): void {
  if (spec.expiresAt.getTime() <= now.getTime()) {
    throw new DomainError(
      'REQUEST_NOT_ACTIVE',
      `the grant of ${spec.requestId} ended at ${spec.expiresAt.toISOString()}`,
      {
        details: { requestId: spec.requestId },
      },
    );
  }
}

export function missingUserError(spec: Pick<GrantSpec, 'requestId' | 'dbUser'>): DomainError {
  return new DomainError(
    'REQUEST_NOT_ACTIVE',
    `database user ${spec.dbUser} does not exist (never granted, or revoked)`,
    {
      details: { requestId: spec.requestId },
    },
  );
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
]);

/** Errors that mean "the database cannot be used right now", as opposed to a refused statement. */
export function isUnavailableError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // 08: connection exception; 57P0x: shutdown; 53300: too many connections; 28: admin login refused.
    if (/^(08|28)/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /timeout|Connection terminated|connection error|ECONNREFUSED/i.test(message);
}

/** How often a statement refused by a transient conflict is run again, and the pause before each rerun. */
const TRANSIENT_RETRIES = 6;
function transientBackoffMs(attempt: number): number {
  // Jittered and growing: 10–20 ms, then up to ~320 ms; about 1 s in all before the error surfaces.
  const base = 10 * 2 ** Math.min(attempt, 5);
  return base + Math.floor(Math.random() * base);
}

/**
 * Runs `work` again while it fails with an error `isTransient` accepts (a deadlock victim, a serialization
 * failure), up to TRANSIENT_RETRIES times with jittered backoff. Every unit of work must be safe to rerun.
 */
export async function rerunWhileTransient<T>(
  work: () => Promise<T>,
  isTransient: (error: unknown) => boolean,
): Promise<T> {
  for (let rerun = 0; ; rerun++) {
    try {
      return await work();
    } catch (error) {
      if (!isTransient(error) || rerun >= TRANSIENT_RETRIES) throw error;
      await new Promise<void>((resolve) => setTimeout(resolve, transientBackoffMs(rerun)));
    }
  }
}
