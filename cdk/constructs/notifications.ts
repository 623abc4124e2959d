import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface NotificationsConstructProps {
  /** The address approval emails come from; SES sends a verification mail to it on deploy. */
  readonly senderEmail: string;
  /**
   * Create the SES email identity. Turn off when the address (or its domain) is already verified in the account.
   * @default true
   */
  readonly createIdentity?: boolean;
  /**
   * Where alarms go.
   * @default - a new topic encrypted with a key of its own
   */
  readonly alarmTopic?: sns.ITopic;
}

/** Who mail comes from (SES sender identity) and where operators hear about alarms (an encrypted SNS topic). */
export class NotificationsConstruct extends Construct {
  public readonly senderEmail: string;
  /** ARN of the SES identity functions may send as; `ses:SendEmail` is scoped to it. */
  public readonly identityArn: string;
  public readonly emailIdentity: ses.EmailIdentity | undefined;
  /** Alarm notifications; subscribe operators to it. */
  public readonly alarmTopic: sns.ITopic;
  /** The key of the alarm topic created here (none when one was given). */
  public readonly alarmTopicKey: kms.Key | undefined;

  constructor(scope: Construct, id: string, props: NotificationsConstructProps) {
    super(scope, id);
    this.senderEmail = props.senderEmail;
    this.emailIdentity =
      props.createIdentity === false
        ? undefined
        : new ses.EmailIdentity(this, 'SenderIdentity', { identity: ses.Identity.email(props.senderEmail) });
    this.identityArn = Stack.of(this).formatArn({
      service: 'ses',
      resource: 'identity',
      resourceName: props.senderEmail,
    });

    if (props.alarmTopic) {
      this.alarmTopic = props.alarmTopic;
      return;
    }
    // A customer key: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: 'jit-db-access alarm topic',
    });
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.alarmTopicKey = key;
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'jit-db-access alarms',
      masterKey: key,
      enforceSSL: true,
    });
  }
}
