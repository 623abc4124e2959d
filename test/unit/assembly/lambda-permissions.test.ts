import { describe, expect, it } from 'vitest';
import { arnLike, mayInvoke } from '../../../local/assembly/lambda-permissions.js';
import type { LambdaPermissionModel } from '../../../local/assembly/model.js';

const API = 'arn:aws:execute-api:eu-west-1:000000000000:rsorwmo0bq';
/** As CDK writes them for GET /requests/{id} on stage prod, and for the sweeper's schedule rule. */
const permissions: LambdaPermissionModel[] = [
  {
    functionLogicalId: 'Api',
    action: 'lambda:InvokeFunction',
    principal: 'apigateway.amazonaws.com',
    sourceArn: `${API}/prod/GET/requests/*`,
  },
  {
    functionLogicalId: 'Sweeper',
    action: 'lambda:InvokeFunction',
    principal: 'events.amazonaws.com',
    sourceArn: 'arn:aws:events:eu-west-1:000000000000:rule/JitDbAccess-ExpirySweepRule',
  },
];

describe('Lambda resource policies', () => {
  it('matches ARNs as ArnLike does', () => {
    expect(arnLike(`${API}/prod/GET/requests/*`, `${API}/prod/GET/requests/01abc`)).toBe(true);
    expect(arnLike(`${API}/prod/GET/requests/*`, `${API}/prod/POST/requests/01abc`)).toBe(false);
    expect(arnLike('arn:aws:events:*:*:rule/?', 'arn:aws:events:eu-west-1:1:rule/R')).toBe(true);
    expect(arnLike('arn:aws:events:eu-west-1:1:rule/R.x', 'arn:aws:events:eu-west-1:1:rule/Rax')).toBe(false);
  });

  it('lets a service invoke a function only from a source a permission names', () => {
    expect(mayInvoke(permissions, 'Api', 'apigateway.amazonaws.com', `${API}/prod/GET/requests/01abc`)).toBe(
      true,
    );
    expect(mayInvoke(permissions, 'Api', 'apigateway.amazonaws.com', `${API}/prod/GET/targets`)).toBe(false);
    expect(mayInvoke(permissions, 'Api', 'events.amazonaws.com', `${API}/prod/GET/requests/01abc`)).toBe(
      false,
    );
    expect(
      mayInvoke(
        permissions,
        'Sweeper',
        'events.amazonaws.com',
        'arn:aws:events:eu-west-1:000000000000:rule/JitDbAccess-ExpirySweepRule',
      ),
    ).toBe(true);
    expect(
      mayInvoke(
        permissions,
        'Sweeper',
        'events.amazonaws.com',
        'arn:aws:events:eu-west-1:000000000000:rule/Other',
      ),
    ).toBe(false);
  });
});
