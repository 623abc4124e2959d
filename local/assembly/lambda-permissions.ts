/**
 * A function's resource policy (its AWS::Lambda::Permission resources): the AWS services that may invoke it
 * and from which source. API Gateway and EventBridge invoke a function only where one allows it; a missing
 * permission fails on AWS with "Invalid permissions on Lambda function" (API Gateway) or a failed delivery
 * (EventBridge), and so it does here.
 */
import type { LambdaPermissionModel } from './model.js';

/** IAM's ArnLike: `*` matches any run of characters, `?` one; the whole ARN must match. */
export function arnLike(pattern: string, arn: string): boolean {
  const regex = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${regex}$`).test(arn);
}

/** Whether `principal` (e.g. apigateway.amazonaws.com) may invoke the function from `sourceArn`. */
export function mayInvoke(
  permissions: readonly LambdaPermissionModel[],
  functionLogicalId: string,
  principal: string,
  sourceArn: string,
): boolean {
  return permissions.some(
    (p) =>
      p.functionLogicalId === functionLogicalId &&
      (p.action === 'lambda:InvokeFunction' || p.action === 'lambda:*') &&
      p.principal === principal &&
      (p.sourceArn === undefined || arnLike(p.sourceArn, sourceArn)),
  );
}
