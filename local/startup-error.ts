import type { Policy } from '../functions/domain/policy-schema.js';
import { loadPolicyFile, PolicyFileError } from '../functions/shared/config.js';
import { DynamoDbLocalError } from './dynamodb-local.js';
import { PortInUseError } from './http-server.js';
import { StateDirLockedError } from './state-dir.js';

/** A startup failure worth one friendly line: what went wrong and the fix. */
export class LocalStartupError extends Error {
  constructor(
    readonly code: 'POLICY_INVALID' | 'POSTGRES_FAILED' | 'DYNAMODB_FAILED' | 'MYSQL_UNREACHABLE',
    message: string,
    readonly problems: string[] = [],
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LocalStartupError';
  }
}

/** The text `npm start` prints for a failed start: one line (plus policy problems), never a stack trace. */
export function describeStartupError(error: unknown): string {
  if (error instanceof LocalStartupError) {
    return [`✗ ${error.message}`, ...error.problems.map((p) => `    ${p}`)].join('\n');
  }
  if (
    error instanceof PortInUseError ||
    error instanceof StateDirLockedError ||
    error instanceof DynamoDbLocalError
  ) {
    return `✗ ${error.message}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `✗ could not start: ${message.split('\n')[0] ?? message}`;
}

/** The policy file, or a LocalStartupError listing its problems. */
export function loadLocalPolicy(file: string): Policy {
  try {
    return loadPolicyFile(file);
  } catch (error) {
    if (error instanceof PolicyFileError) {
      throw new LocalStartupError(
        'POLICY_INVALID',
        `policy file ${file} is not valid — fix these and start again (check with: npx jitdb policy check ${file}):`,
        error.problems,
        error,
      );
    }
    throw error;
  }
}
