import { randomUUID } from 'node:crypto';
import type { ReconcileMode } from '../functions/application/expiry-sweeper.js';

/** What an EventBridge schedule rule sends its target (the sweeper, the audit digest). */
export function scheduledEvent() {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event' as const,
    source: 'aws.events' as const,
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/jitdb-expiry-sweeper'],
    detail: {},
  };
}

/** The sweeper's event: the schedule's says nothing (hourly); any other mode is passed the way an operator would invoke it. */
export function sweeperEvent(reconcile: ReconcileMode) {
  return reconcile === 'hourly' ? scheduledEvent() : { ...scheduledEvent(), reconcile };
}

/** A rate rule: the local stand-in for an EventBridge schedule. */
export interface RateRule {
  /** Runs now; a call during a run joins it, so a slow run never stacks up. Failures are reported, not thrown. */
  run(): Promise<void>;
  /** Clears the timer and waits for a run in flight. */
  stop(): Promise<void>;
}

/** Runs `run` every `intervalMs`, never two at once, reporting failures to `onError`. */
export function rateRule(
  intervalMs: number,
  run: () => Promise<void>,
  onError: (error: unknown) => void,
): RateRule {
  let current: Promise<void> | undefined;
  const once = async () => {
    current ??= run()
      .catch(onError)
      .finally(() => {
        current = undefined;
      });
    return current;
  };
  const timer = setInterval(() => void once(), intervalMs);
  return {
    run: once,
    async stop() {
      clearInterval(timer);
      await current;
    },
  };
}
