import { beforeAll, describe, expect, it } from 'vitest';
import { nagFindings, type Synthesized, synthesize } from './fixture.js';

/** `-c wafRateLimit=…`: a web ACL on the stage that rate-limits each source address on the approval links. */

let s: Synthesized;
let plain: Synthesized;
beforeAll(() => {
  s = synthesize({ wafRateLimit: '300' });
  plain = synthesize();
}, 240_000);

describe('the opt-in WAF rate rule', () => {
  it('blocks a source address past the limit on /approvals/ only, keeping no sampled request (the path is a secret)', () => {
    const acl = s.view.only('AWS::WAFv2::WebACL').Properties ?? {};
    expect(acl.Scope).toBe('REGIONAL');
    expect(acl.DefaultAction).toEqual({ Allow: {} });
    expect(acl.Rules).toEqual([
      {
        Name: 'approval-links-rate',
        Priority: 0,
        Action: { Block: {} },
        Statement: {
          RateBasedStatement: {
            Limit: 300,
            AggregateKeyType: 'IP',
            ScopeDownStatement: {
              ByteMatchStatement: {
                FieldToMatch: { UriPath: {} },
                PositionalConstraint: 'CONTAINS',
                SearchString: '/approvals/',
                TextTransformations: [{ Priority: 0, Type: 'NONE' }],
              },
            },
          },
        },
        VisibilityConfig: {
          CloudWatchMetricsEnabled: true,
          MetricName: 'approval-links-rate',
          SampledRequestsEnabled: false,
        },
      },
    ]);
    expect((acl.VisibilityConfig as { SampledRequestsEnabled: boolean }).SampledRequestsEnabled).toBe(false);
  });

  it('is attached to the prod stage', () => {
    const association = s.view.only('AWS::WAFv2::WebACLAssociation').Properties ?? {};
    expect(JSON.stringify(association.ResourceArn)).toContain('/stages/');
    expect(JSON.stringify(association.WebACLArn)).toContain('WebAcl');
  });

  it('passes cdk-nag with no WAF acknowledgement (AwsSolutions-APIG3 satisfied), and is absent by default', () => {
    expect(nagFindings(s)).toEqual([]);
    expect(JSON.stringify(s.view.template.toJSON())).not.toContain('AwsSolutions-APIG3');
    expect(plain.view.resources('AWS::WAFv2::WebACL')).toEqual([]);
  });
});
