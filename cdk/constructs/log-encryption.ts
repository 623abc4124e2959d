import { ArnFormat, Aspects, Duration, type IAspect, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct, IConstruct } from 'constructs';

/**
 * One customer-managed key for every log group under `scope` (function logs, the workflow's execution log, the
 * API's access log; any log group added later too, through an aspect), so reading them takes kms:Decrypt on a
 * key an operator controls as well as logs:* — and the key can be disabled to make them unreadable.
 *
 * The key policy lets CloudWatch Logs of this region use the key for this account's log groups only (the
 * encryption context names the log group); writers need no KMS permission, CloudWatch Logs encrypts.
 * Rotated yearly. Deleted (after the 30-day window) with the stack, like the log groups it encrypts.
 */
export function encryptLogGroups(scope: Construct): kms.Key {
  const stack = Stack.of(scope);
  const key = new kms.Key(scope, 'LogsKey', {
    description: `${stack.stackName}: encrypts the jit-db-access CloudWatch Logs log groups`,
    enableKeyRotation: true,
    pendingWindow: Duration.days(30),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchLogsOfThisAccount',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  Aspects.of(scope).add(new EncryptLogGroupsAspect(key));
  return key;
}

class EncryptLogGroupsAspect implements IAspect {
  constructor(private readonly key: kms.IKey) {}

  visit(node: IConstruct): void {
    if (node instanceof logs.CfnLogGroup && node.kmsKeyId === undefined) {
      node.kmsKeyId = this.key.keyArn;
    }
  }
}
