/**
 * Assembly mode's EventBridge: the template's rules and nothing else. A schedule rule (`rate(N minutes)`)
 * invokes its targets with a Scheduled Event on its own timer; a pattern rule receives the events the local
 * runner emits (Step Functions Execution Status Change) and invokes its targets when EventBridge's pattern
 * matching says so. A target's failure is retried like the rule's RetryPolicy would (at least once more).
 */
import { randomUUID } from 'node:crypto';
import { type RateRule, rateRule } from '../events.js';
import type { EventRuleModel } from './model.js';

/** EventBridge's `rate(value unit)` in milliseconds; cron() is not used by this project and is refused. */
export function rateMs(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!match?.[1] || !match[2]) throw new RangeError(`unsupported schedule expression: ${expression}`);
  const value = Number(match[1]);
  const unit = match[2].replace(/s$/, '');
  return value * (unit === 'minute' ? 60_000 : unit === 'hour' ? 3_600_000 : 86_400_000);
}

/**
 * EventBridge pattern matching for the forms a pattern here can use: every key in the pattern must be in the
 * event; a list matches when the value (or any element of an array value) equals one of its entries, or meets
 * one of its `{prefix}`, `{anything-but}` or `{exists}` filters; an object recurses.
 */
export function matchesPattern(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event[key];
    if (Array.isArray(expected)) {
      const values = Array.isArray(actual) ? actual : [actual];
      return expected.some((entry) => {
        if (entry !== null && typeof entry === 'object') {
          const filter = entry as Record<string, unknown>;
          if ('exists' in filter) return (actual !== undefined) === filter.exists;
          if ('prefix' in filter) {
            return values.some((v) => typeof v === 'string' && v.startsWith(String(filter.prefix)));
          }
          if ('anything-but' in filter) {
            const excluded = ([] as unknown[]).concat(filter['anything-but']);
            return actual !== undefined && values.every((v) => !excluded.includes(v));
          }
          return false;
        }
        return actual !== undefined && values.includes(entry);
      });
    }
    if (expected !== null && typeof expected === 'object') {
      return (
        actual !== null &&
        typeof actual === 'object' &&
        matchesPattern(expected as Record<string, unknown>, actual as Record<string, unknown>)
      );
    }
    return false;
  });
}

export interface EventRulesOptions {
  rules: readonly EventRuleModel[];
  region: string;
  account: string;
  /** Invokes a target function (logical id) for `rule` with the event; rejects when the invocation failed. */
  invoke(functionLogicalId: string, event: unknown, rule: EventRuleModel): Promise<void>;
  /** Shorter periods for schedule rules, by rule logical id (tests, a quick local tour). */
  scheduleOverridesMs?: Record<string, number>;
  onError(error: unknown, rule: string): void;
}

/** The rules, running: schedules on their timers, patterns fed by `publish`. */
export interface RunningEventRules {
  /** Delivers an event to every enabled pattern rule it matches; resolves when their targets have run. */
  publish(event: Record<string, unknown>): Promise<void>;
  /** Runs a schedule rule now (its timer keeps going). */
  runSchedule(ruleLogicalId: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the template's rules. */
export function startEventRules(options: EventRulesOptions): RunningEventRules {
  const deliver = async (rule: EventRuleModel, event: unknown) => {
    for (const target of rule.targets) {
      const payload = target.input === undefined ? event : (JSON.parse(target.input) as unknown);
      try {
        await options.invoke(target.functionLogicalId, payload, rule);
      } catch {
        // EventBridge retries an asynchronous invocation that failed; once more here, then the DLQ's job.
        await options
          .invoke(target.functionLogicalId, payload, rule)
          .catch((error: unknown) => options.onError(error, rule.logicalId));
      }
    }
  };
  const schedules = new Map<string, RateRule>();
  let stopped = false;
  for (const rule of options.rules) {
    if (rule.state !== 'ENABLED' || !rule.scheduleExpression) continue;
    const interval = options.scheduleOverridesMs?.[rule.logicalId] ?? rateMs(rule.scheduleExpression);
    const scheduled = () =>
      deliver(rule, {
        version: '0',
        id: randomUUID(),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: options.account,
        time: new Date().toISOString(),
        region: options.region,
        resources: [rule.arn],
        detail: {},
      });
    schedules.set(
      rule.logicalId,
      rateRule(interval, scheduled, (error) => options.onError(error, rule.logicalId)),
    );
  }
  return {
    async publish(event) {
      if (stopped) return; // shutting down: the functions are going away too
      const matching = options.rules.filter(
        (rule) => rule.state === 'ENABLED' && rule.eventPattern && matchesPattern(rule.eventPattern, event),
      );
      await Promise.all(matching.map((rule) => deliver(rule, event)));
    },
    async runSchedule(ruleLogicalId) {
      const schedule = schedules.get(ruleLogicalId);
      if (!schedule) throw new RangeError(`no enabled schedule rule ${ruleLogicalId}`);
      await schedule.run();
    },
    async stop() {
      stopped = true;
      await Promise.all([...schedules.values()].map((s) => s.stop()));
    },
  };
}
