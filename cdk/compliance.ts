import {
  AwsSolutionsChecks,
  HIPAASecurityChecks,
  type NagPack,
  NIST80053R5Checks,
  PCIDSS321Checks,
  ServerlessChecks,
} from 'cdk-nag';

/**
 * The cdk-nag packs the app is held to: `cdk synth` fails on an unacknowledged finding of any of them
 * (cdk/app.ts), and test/infra/compliance.test.ts fails on one, and on an acknowledgement of
 * cdk/acknowledgements.ts that no longer matches a finding.
 */
export function compliancePacks(): NagPack[] {
  return [
    new AwsSolutionsChecks(),
    new ServerlessChecks(),
    new NIST80053R5Checks(),
    new HIPAASecurityChecks(),
    new PCIDSS321Checks(),
  ];
}
