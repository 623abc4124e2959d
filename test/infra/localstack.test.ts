import { beforeAll, describe, expect, it } from 'vitest';
import { nagFindings, type Synthesized, synthesize } from './fixture.js';

const SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:jitdb-demo-admin';

describe('the LocalStack policy (examples/policy.localstack.yaml)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize({ policyFile: 'examples/policy.localstack.yaml' });
  }, 180_000);

  it('synthesizes with no unacknowledged cdk-nag finding', () => {
    expect(nagFindings(s)).toEqual([]);
  });

  it('lets the database functions read exactly the compose target’s admin secret', () => {
    const secretResources = s.view
      .resources('AWS::IAM::Policy')
      .flatMap(([, policy]) => {
        const document = policy.Properties?.PolicyDocument as {
          Statement: { Action: unknown; Resource: unknown }[];
        };
        return document.Statement.filter((st) =>
          JSON.stringify(st.Action).includes('secretsmanager:GetSecretValue'),
        );
      })
      .map((st) => st.Resource);
    expect(secretResources.length).toBeGreaterThan(0);
    expect(new Set(secretResources.map((r) => JSON.stringify(r)))).toEqual(new Set([JSON.stringify(SECRET)]));
  });
});
