import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SERVICE_NAME } from './jit-function.js';

/** A count the functions emit as a Powertools metric (namespace and `service` dimension SERVICE_NAME), summed. */
export function serviceMetric(metricName: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: SERVICE_NAME,
    metricName,
    dimensionsMap: { service: SERVICE_NAME },
    statistic: cloudwatch.Stats.SUM,
    period,
  });
}

/** An alarm that fires when one period of `metric` reaches `threshold`; no data is not a breach. */
export function metricAlarm(
  scope: Construct,
  id: string,
  alarmDescription: string,
  metric: cloudwatch.IMetric,
  threshold = 1,
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription,
    metric,
    threshold,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/**
 * Fires as soon as a message waits in a dead-letter queue: a trigger that did not run (the invoking rule could
 * not reach its function, or the function failed every attempt).
 */
export function deadLetterAlarm(
  scope: Construct,
  id: string,
  queue: sqs.IQueue,
  alarmDescription: string,
): cloudwatch.Alarm {
  return metricAlarm(
    scope,
    id,
    alarmDescription,
    queue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: cloudwatch.Stats.MAXIMUM,
    }),
  );
}
