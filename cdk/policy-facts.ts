import type { Policy, Target } from '../functions/domain/policy-schema.js';

/** What the infrastructure needs to know about the targets, derived once from the validated policy. */
export interface TargetFacts {
  /** Secrets Manager ARNs of the targets' admin credentials: the only secrets the DB functions may read. */
  adminSecretArns: string[];
  /** Customer-managed KMS keys those secrets are encrypted with (context `adminSecretKeyArns`), for kms:Decrypt. */
  adminSecretKeyArns: string[];
  /** RDS instances the DB functions may describe (endpoint, port, DbiResourceId); region when not the stack's. */
  rdsInstances: RdsResource[];
  /** RDS clusters the DB functions may describe. */
  rdsClusters: RdsResource[];
  /** Ports the targets listen on, for the security group rules. */
  ports: number[];
  /** IAM-auth targets, for `rds-db:connect`; resourceId undefined when the policy cannot know it. */
  iamTargets: { id: string; region?: string; resourceId?: string }[];
}

export interface RdsResource {
  id: string;
  region?: string;
}

const DEFAULT_PORTS = { postgres: 5432, mysql: 3306 } as const;

function portOf(target: Target): number {
  return 'port' in target.connection ? target.connection.port : DEFAULT_PORTS[target.engine];
}

/**
 * Facts about the policy's targets. `resourceIds` (context `targetResourceIds`, targetId → DbiResourceId)
 * fills in the resource id of RDS targets, which the policy names by identifier only.
 */
export function targetFacts(
  policy: Policy,
  resourceIds: Record<string, string> = {},
  adminSecretKeyArns: string[] = [],
): TargetFacts {
  const unique = <T>(values: T[]): T[] => [...new Set(values)].sort();
  const targets = policy.targets;
  return {
    adminSecretArns: unique(targets.flatMap((t) => (t.adminSecretArn ? [t.adminSecretArn] : []))),
    adminSecretKeyArns: unique(adminSecretKeyArns),
    rdsInstances: targets.flatMap((t) =>
      'rdsInstanceId' in t.connection ? [rdsResource(t.connection.rdsInstanceId, t.connection.region)] : [],
    ),
    rdsClusters: targets.flatMap((t) =>
      'rdsClusterId' in t.connection ? [rdsResource(t.connection.rdsClusterId, t.connection.region)] : [],
    ),
    ports: unique(targets.map(portOf)),
    iamTargets: targets
      .filter((t) => t.credentialKind === 'iam')
      .map((t) => {
        const fromPolicy = 'resourceId' in t.connection ? t.connection.resourceId : undefined;
        const resourceId = resourceIds[t.id] ?? fromPolicy;
        return {
          id: t.id,
          ...(t.connection.region ? { region: t.connection.region } : {}),
          ...(resourceId ? { resourceId } : {}),
        };
      }),
  };
}

function rdsResource(id: string, region: string | undefined): RdsResource {
  return region ? { id, region } : { id };
}
