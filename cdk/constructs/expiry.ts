import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { deadLetterAlarm, metricAlarm, serviceMetric } from './alarms.js';
import { bindNeeds, type FunctionConstructProps, stackFunction } from './bindings.js';
import type { DatabaseNetwork, JitFunction } from './jit-function.js';

/** Execution statuses after which a grant may have been left behind. */
export const ENDED_EXECUTION_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'];

export interface ExpiryConstructProps extends FunctionConstructProps {
  readonly stateMachine: sfn.StateMachine;
  /** Where alarms go. */
  readonly alarmTopic: sns.ITopic;
  /**
   * The targets' VPC (both functions revoke grants).
   * @default - not in a VPC
   */
  readonly network?: DatabaseNetwork;
  /** @default Duration.minutes(1) */
  readonly sweepEvery?: Duration;
}

/**
 * The two revocation triggers besides the workflow's own Wait: a sweeper on a schedule and a reaction to
 * executions that ended badly. Plus the alarms that say when revocation is not keeping up.
 */
export class ExpiryConstruct extends Construct {
  public readonly sweeper: JitFunction;
  public readonly executionStatusChange: JitFunction;
  public readonly sweepRule: events.Rule;
  public readonly executionEndedRule: events.Rule;
  public readonly sweeperDeadLetterQueue: sqs.Queue;
  public readonly executionEndedDeadLetterQueue: sqs.Queue;
  public readonly revokeFailedAlarm: cloudwatch.Alarm;
  public readonly sweeperErrorsAlarm: cloudwatch.Alarm;
  public readonly deadLetterAlarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ExpiryConstructProps) {
    super(scope, id);
    this.sweeperDeadLetterQueue = deadLetterQueue(this, 'SweeperDeadLetterQueue');
    this.executionEndedDeadLetterQueue = deadLetterQueue(this, 'ExecutionEndedDeadLetterQueue');
    const fn = (id: string, handlerName: 'expiry-sweeper' | 'execution-status-change', queue: sqs.IQueue) => {
      const created = stackFunction(this, id, handlerName, props, {
        timeout: Duration.seconds(55), // under the one-minute period, so sweeps do not pile up
        deadLetterQueue: queue,
      });
      bindNeeds(created, {
        tables: props.tables,
        targets: props.targets,
        notifications: props.notifications,
        stateMachine: props.stateMachine,
      });
      return created;
    };
    this.sweeper = fn('SweeperFunction', 'expiry-sweeper', this.sweeperDeadLetterQueue);
    this.executionStatusChange = fn(
      'ExecutionStatusChangeFunction',
      'execution-status-change',
      this.executionEndedDeadLetterQueue,
    );

    this.sweepRule = scheduleRule(this, 'SweepRule', {
      description: 'Revokes grants past expiresAt and retries REVOKE_FAILED ones',
      every: props.sweepEvery ?? Duration.minutes(1),
      fn: this.sweeper,
      deadLetterQueue: this.sweeperDeadLetterQueue,
    });
    this.executionEndedRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: 'Revokes the grant of an access-request execution that failed, timed out or was stopped',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ENDED_EXECUTION_STATUSES, stateMachineArn: [props.stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(this.executionStatusChange, {
          deadLetterQueue: this.executionEndedDeadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });

    const alarmAction = new actions.SnsAction(props.alarmTopic);
    this.revokeFailedAlarm = metricAlarm(
      this,
      'RevokeFailedAlarm',
      'A grant could not be revoked: the request is REVOKE_FAILED and access may outlive its expiry',
      serviceMetric('RevokeFailed', Duration.minutes(1)),
    );
    this.sweeperErrorsAlarm = metricAlarm(
      this,
      'SweeperErrorsAlarm',
      'The expiry sweeper is failing: expired grants are not being revoked by the safety net',
      this.sweeper.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      3,
    );
    this.deadLetterAlarms = [this.sweeperDeadLetterQueue, this.executionEndedDeadLetterQueue].map((queue) =>
      deadLetterAlarm(
        queue,
        'DepthAlarm',
        queue,
        'A revocation trigger was lost: EventBridge could not invoke its function, or the function failed every attempt',
      ),
    );
    for (const alarm of [this.revokeFailedAlarm, this.sweeperErrorsAlarm, ...this.deadLetterAlarms]) {
      alarm.addAlarmAction(alarmAction);
    }
  }
}

/**
 * The dead-letter queue of an asynchronously invoked function and of the EventBridge target that invokes it
 * (one queue per trigger: whatever lands in it is a trigger that did not run): encrypted, TLS only, kept 14 days.
 */
export function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      'This queue is itself the dead-letter queue of an EventBridge target and its function; its depth is alarmed.',
  });
  return queue;
}

/** A rule that runs `fn` on a schedule: twice more on failure, for up to 5 minutes, then into `deadLetterQueue`. */
export function scheduleRule(
  scope: Construct,
  id: string,
  props: { description: string; every: Duration; fn: lambda.IFunction; deadLetterQueue: sqs.IQueue },
): events.Rule {
  return new events.Rule(scope, id, {
    description: props.description,
    schedule: events.Schedule.rate(props.every),
    targets: [
      new targets.LambdaFunction(props.fn, {
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.minutes(5),
      }),
    ],
  });
}
