import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterAlarm, metricAlarm, serviceMetric } from './alarms.js';
import { bindNeeds, type DigestAnchoring, type FunctionConstructProps, stackFunction } from './bindings.js';
import { deadLetterQueue, scheduleRule } from './expiry.js';
import type { JitFunction } from './jit-function.js';

export interface AuditAnchorConstructProps extends Omit<FunctionConstructProps, 'network'> {
  /** The digests table (stateful stack): only this construct's function may write it. */
  readonly digestsTable: dynamodb.ITable;
  /** Where alarms go. */
  readonly alarmTopic: sns.ITopic;
  /** @default Duration.minutes(5) */
  readonly digestEvery?: Duration;
}

/**
 * Anchors the audit chains outside the reach of every role that writes them (the CloudTrail log-file-integrity
 * pattern): an asymmetric KMS key only the audit-digest function may sign with, a schedule that runs it, and
 * alarms when it fails or finds a chain that no longer holds its anchored head.
 */
export class AuditAnchorConstruct extends Construct {
  public readonly digestFunction: JitFunction;
  /** ECC_NIST_P256, SIGN_VERIFY; its public key verifies every digest, offline too. */
  public readonly key: kms.Key;
  public readonly anchoring: DigestAnchoring;
  public readonly digestRule: events.Rule;
  public readonly digestDeadLetterQueue: sqs.Queue;
  public readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: AuditAnchorConstructProps) {
    super(scope, id);
    this.digestDeadLetterQueue = deadLetterQueue(this, 'DigestDeadLetterQueue');
    this.digestFunction = stackFunction(this, 'DigestFunction', 'audit-digest', props, {
      timeout: Duration.minutes(2),
      deadLetterQueue: this.digestDeadLetterQueue,
    });
    // Kept when the stack goes: without the key's public half, old digests could no longer be checked.
    this.key = new kms.Key(this, 'DigestKey', {
      description: 'jit-db-access audit digests: only the audit-digest function may sign',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The default policy delegates to IAM (account root); this makes Sign the digest role's alone whatever
    // IAM policy another principal is given. Changing it takes a key administrator.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheDigestFunctionSigns',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': this.digestFunction.executionRole.roleArn } },
      }),
    );
    this.anchoring = { digests: props.digestsTable, key: this.key };
    bindNeeds(this.digestFunction, {
      tables: props.tables,
      targets: props.targets,
      notifications: props.notifications,
      anchoring: this.anchoring,
    });

    this.digestRule = scheduleRule(this, 'DigestRule', {
      description: 'Signs a digest of every audit chain head that changed since the last digest',
      every: props.digestEvery ?? Duration.minutes(5),
      fn: this.digestFunction,
      deadLetterQueue: this.digestDeadLetterQueue,
    });

    this.alarms = [
      metricAlarm(
        this,
        'AnchorMismatchAlarm',
        'An audit chain no longer holds the head a signed digest anchored: it was rewritten',
        serviceMetric('AuditAnchorMismatch', Duration.minutes(5)),
      ),
      metricAlarm(
        this,
        'DigestErrorsAlarm',
        'The audit digest function is failing: new audit events are not being anchored',
        this.digestFunction.metricErrors({ period: Duration.minutes(15), statistic: cloudwatch.Stats.SUM }),
      ),
      deadLetterAlarm(
        this,
        'DigestDeadLetterAlarm',
        this.digestDeadLetterQueue,
        'A digest run was lost: the schedule could not invoke its function, or the function failed every attempt',
      ),
    ];
    const alarmAction = new actions.SnsAction(props.alarmTopic);
    for (const each of this.alarms) each.addAlarmAction(alarmAction);
  }
}
