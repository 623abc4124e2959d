/** Retrying a use case that lost a conditional write: it re-reads and tries again, within a time budget. */
import { ConflictError } from '../domain/errors.js';

/**
 * How long a use case keeps re-reading and retrying after losing conditional writes. Time, not a count:
 * a burst of audited refusals can bump a request's version many times in a second, and each lost race is
 * cheap, so the bound that matters is how long the caller (a Lambda, an HTTP client) may wait.
 */
export const CONFLICT_RETRY_BUDGET_MS = 10_000;
/** The first pause after a lost race, doubled on each further loss up to CONFLICT_BACKOFF_CAP_MS. */
export const CONFLICT_BACKOFF_BASE_MS = 5;
export const CONFLICT_BACKOFF_CAP_MS = 250;

export interface ConflictRetryOptions {
  /** Default CONFLICT_RETRY_BUDGET_MS. */
  budgetMs?: number;
  /** Elapsed-time source; the wall clock by default (never Deps.clock, which tests freeze). */
  elapsedMs?: () => number;
  /** Pause between attempts; setTimeout by default. */
  sleep?: (ms: number) => Promise<void>;
}

/** The pause before retry `i` (0-based): full jitter over a doubling window, so racers spread out. */
export function conflictBackoffMs(i: number, random: () => number = Math.random): number {
  const window = Math.min(CONFLICT_BACKOFF_CAP_MS, CONFLICT_BACKOFF_BASE_MS * 2 ** Math.min(i, 16));
  return Math.floor(random() * window) + 1;
}

/**
 * Runs `attempt` again (it re-reads) whenever a conditional write lost a race, with jittered backoff, until
 * it succeeds, throws something else, or CONFLICT_RETRY_BUDGET_MS has passed (then the ConflictError surfaces).
 */
export async function retryOnConflict<T>(
  attempt: () => Promise<T>,
  options: ConflictRetryOptions = {},
): Promise<T> {
  const budgetMs = options.budgetMs ?? CONFLICT_RETRY_BUDGET_MS;
  const started = performance.now();
  const elapsedMs = options.elapsedMs ?? (() => performance.now() - started);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const pause = conflictBackoffMs(i);
      if (elapsedMs() + pause > budgetMs) throw error;
      await sleep(pause);
    }
  }
}
