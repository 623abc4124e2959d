import {
  FUNCTION_NAMES,
  FUNCTIONS,
  type FunctionName,
  type FunctionNeeds,
} from '../functions/function-registry.js';

/**
 * What each Lambda function's code reaches besides its tables (declared in functions/function-registry.ts),
 * the one table the constructs derive environment, permissions and VPC placement from.
 */
export type { FunctionNeeds };

export const FUNCTION_NEEDS: Readonly<Record<FunctionName, FunctionNeeds>> = Object.fromEntries(
  FUNCTION_NAMES.map((name) => [name, FUNCTIONS[name].needs]),
) as Record<FunctionName, FunctionNeeds>;

/** Handlers that sign or check audit digests. */
export const DIGEST_HANDLERS: readonly FunctionName[] = FUNCTION_NAMES.filter(
  (n) => FUNCTION_NEEDS[n].digests,
);

/** Handlers that open connections to target databases: they run in the targets' VPC when one is given. */
export const DATABASE_HANDLERS: readonly FunctionName[] = FUNCTION_NAMES.filter(
  (n) => FUNCTION_NEEDS[n].database,
);
/** Handlers that send mail. */
export const MAILER_HANDLERS: readonly FunctionName[] = FUNCTION_NAMES.filter(
  (n) => FUNCTION_NEEDS[n].mailer,
);
/** Handlers that call Step Functions. */
export const WORKFLOW_HANDLERS: readonly FunctionName[] = FUNCTION_NAMES.filter(
  (n) => FUNCTION_NEEDS[n].workflow !== undefined,
);
