import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '../application/ports.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'jit-db-access';

/** The one logger every handler shares; `injectLambdaContext` adds the invocation's context to each line. */
export const logger = new Logger({ serviceName });

/**
 * Where Powertools Metrics reports its own problems: our logger, minus the warning it prints on every
 * invocation that counted nothing (most do: a page view, a refused link), which would be a log line per call.
 */
const metricsLogger = {
  debug: (...args: unknown[]) => logger.debug(String(args[0] ?? '')),
  info: (...args: unknown[]) => logger.info(String(args[0] ?? '')),
  warn: (...args: unknown[]) => {
    const message = String(args[0] ?? '');
    if (!message.startsWith('No application metrics to publish')) logger.warn(message);
  },
  error: (...args: unknown[]) => logger.error(String(args[0] ?? '')),
};

/** The one Powertools metrics instance (EMF); flushed by each handler's `logMetrics` middleware. */
export const powertoolsMetrics = new PowertoolsMetrics({
  serviceName,
  namespace: 'JitDbAccess',
  logger: metricsLogger,
});

/** The Powertools a handler reports through: the singletons above in Lambda; the local runtime passes its own. */
export interface HandlerPowertools {
  logger: Logger;
  metrics: PowertoolsMetrics;
}

export const lambdaPowertools: HandlerPowertools = { logger, metrics: powertoolsMetrics };

/** The domain's `Metrics` port over Powertools: every counter is a Count metric. */
export function powertoolsMetricsPort(metrics: PowertoolsMetrics = powertoolsMetrics): Metrics {
  return {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
  };
}

/** Where the domain's log lines go; a function so tests and local/ can capture or silence them. */
export interface LogSink {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export const powertoolsLogSink: LogSink = {
  info: (message, extra) => logger.info(message, extra ?? {}),
  warn: (message, extra) => logger.warn(message, extra ?? {}),
  error: (message, extra) => logger.error(message, extra ?? {}),
};
