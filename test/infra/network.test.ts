import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, HANDLER_NAMES } from '../../cdk/bundling.js';
import { DATABASE_HANDLERS } from '../../cdk/function-needs.js';
import { ACCOUNT, nagFindings, REGION, type Synthesized, synthesize } from './fixture.js';

/** The VPC, subnets and target security group both deployments below run in. */
const VPC = {
  vpcId: 'vpc-0a1b2c3d4e5f67890',
  subnetIds: 'subnet-0aaa1111bbbb22223,subnet-0bbb3333cccc44445',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  targetSecurityGroupIds: ['sg-0f1e2d3c4b5a69788'],
};

let s: Synthesized;
beforeAll(() => {
  s = synthesize({
    ...VPC,
    targetResourceIds: { 'orders-pg': 'db-ORDERSRESOURCE' },
    linkBaseUrl: 'https://access.example.com/',
    senderEmail: 'access@example.com',
  });
}, 240_000);

function propsOf(name: FunctionName): Record<string, unknown> {
  const fn = s.stateless.access.functions.find((f) => f.handlerName === name);
  if (!fn) throw new Error(`no ${name} function`);
  const resource = s.view.resource(
    s.stateless.resolve(s.stateless.getLogicalId(fn.node.defaultChild as never)),
  );
  return resource.Properties ?? {};
}

describe('with the targets VPC given by context', () => {
  it('places exactly the database functions in the VPC, and neither function that faces callers', () => {
    const placed = HANDLER_NAMES.filter((name) => propsOf(name).VpcConfig !== undefined);
    expect(placed).toEqual(DATABASE_HANDLERS);
    expect(placed).not.toContain('api');
    expect(placed).not.toContain('approval-links');
  });

  it.each(HANDLER_NAMES)('places %s in the VPC only if it talks to databases', (name) => {
    const vpcConfig = propsOf(name).VpcConfig as
      | { SubnetIds: string[]; SecurityGroupIds: never[] }
      | undefined;
    if (DATABASE_HANDLERS.includes(name)) {
      expect(vpcConfig?.SubnetIds).toEqual(['subnet-0aaa1111bbbb22223', 'subnet-0bbb3333cccc44445']);
      expect(vpcConfig?.SecurityGroupIds.map((g) => s.view.render(g))).toEqual(['<DatabaseClients.GroupId>']);
      const role = s.view.roleByDescription(`jit-db-access ${name} function`);
      expect(s.view.managedPoliciesOfRole(role)).toEqual([
        'arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
      ]);
    } else {
      expect(vpcConfig).toBeUndefined();
    }
  });

  it("opens the targets' security group to the functions on the targets' ports only", () => {
    const rules = s.view.resources('AWS::EC2::SecurityGroupIngress').map(([, r]) => ({
      group: r.Properties?.GroupId,
      from: s.view.render(r.Properties?.SourceSecurityGroupId as never),
      ports: `${String(r.Properties?.FromPort)}-${String(r.Properties?.ToPort)}`,
    }));
    expect(rules).toEqual([
      { group: 'sg-0f1e2d3c4b5a69788', from: '<DatabaseClients.GroupId>', ports: '3306-3306' },
      { group: 'sg-0f1e2d3c4b5a69788', from: '<DatabaseClients.GroupId>', ports: '5432-5432' },
    ]);
  });

  it('pins rds-db:connect to the known DbiResourceId and keeps * only for the target without one', () => {
    const connect = s.view.statementsWithAction('jit-db-access credentials function', 'rds-db:connect');
    expect(connect).toEqual([
      {
        actions: ['rds-db:connect'],
        resources: [
          `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/jit_*`,
          `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:db-ORDERSRESOURCE/jit_*`,
        ],
      },
    ]);
  });

  it('builds approval links on the custom domain and sends from the configured identity', () => {
    const env = (name: FunctionName) =>
      (propsOf(name).Environment as { Variables: Record<string, string> }).Variables;
    expect(env('request-approval').PUBLIC_BASE_URL).toBe('https://access.example.com');
    expect(env('request-approval').SENDER_EMAIL).toBe('access@example.com');
    const identity = s.view.only('AWS::SES::EmailIdentity');
    expect(identity.Properties?.EmailIdentity).toBe('access@example.com');
  });

  it('still passes every cdk-nag AwsSolutions check', () => {
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('with VPC endpoints for subnets without NAT', () => {
  let e: Synthesized;
  beforeAll(() => {
    e = synthesize({
      ...VPC,
      vpcEndpoints: 'true',
      routeTableIds: 'rtb-0aaa5555dddd66667,rtb-0bbb7777eeee88889',
      adminSecretKeyArns: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
    });
  }, 240_000);

  const endpoints = () =>
    e.view.resources('AWS::EC2::VPCEndpoint').map(([, r]) => ({
      service: e.view.render(r.Properties?.ServiceName as never),
      type: r.Properties?.VpcEndpointType ?? 'Gateway',
      privateDns: r.Properties?.PrivateDnsEnabled,
      subnets: r.Properties?.SubnetIds,
      routeTables: r.Properties?.RouteTableIds,
      groups: (r.Properties?.SecurityGroupIds as never[] | undefined)?.map((g) => e.view.render(g)),
    }));

  it('routes DynamoDB through a gateway endpoint on the given route tables', () => {
    expect(endpoints().filter((x) => x.type === 'Gateway')).toEqual([
      {
        service: 'com.amazonaws.<AWS::Region>.dynamodb',
        type: 'Gateway',
        privateDns: undefined,
        subnets: undefined,
        routeTables: ['rtb-0aaa5555dddd66667', 'rtb-0bbb7777eeee88889'],
        groups: undefined,
      },
    ]);
  });

  it('creates interface endpoints with private DNS for exactly the other AWS APIs the VPC functions call', () => {
    const iface = endpoints().filter((x) => x.type === 'Interface');
    expect(iface.map((x) => x.service).sort()).toEqual(
      ['email', 'rds', 'secretsmanager', 'states', 'xray'].map((n) => `com.amazonaws.${REGION}.${n}`),
    );
    for (const x of iface) {
      expect(x.privateDns).toBe(true);
      expect(x.subnets).toEqual(['subnet-0aaa1111bbbb22223', 'subnet-0bbb3333cccc44445']);
      expect(x.groups).toEqual(['<ServiceEndpoints.GroupId>']);
    }
  });

  it("admits only the functions' security group, on 443, to the endpoints", () => {
    const rules = e.view
      .resources('AWS::EC2::SecurityGroupIngress')
      .map(([, r]) => ({
        group: e.view.render(r.Properties?.GroupId as never),
        from: e.view.render(r.Properties?.SourceSecurityGroupId as never),
        ports: `${String(r.Properties?.FromPort)}-${String(r.Properties?.ToPort)}`,
      }))
      .filter((r) => r.group === '<ServiceEndpoints.GroupId>');
    expect(rules).toEqual([
      { group: '<ServiceEndpoints.GroupId>', from: '<DatabaseClients.GroupId>', ports: '443-443' },
    ]);
    const group = e.view
      .resources('AWS::EC2::SecurityGroup')
      .find(
        ([, r]) =>
          r.Properties?.GroupDescription === 'AWS API endpoints of the jit-db-access database functions',
      );
    expect(group?.[1].Properties?.SecurityGroupIngress).toBeUndefined();
  });

  it.each(HANDLER_NAMES)(
    'lets %s decrypt the admin secrets with their customer-managed key through Secrets Manager only, if it reads them',
    (name) => {
      const decrypt = e.view.statementsWithAction(`jit-db-access ${name} function`, 'kms:Decrypt');
      expect(decrypt).toEqual(
        DATABASE_HANDLERS.includes(name)
          ? [
              {
                actions: ['kms:Decrypt'],
                resources: [`arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`],
                conditions: { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } },
              },
            ]
          : [],
      );
    },
  );

  it('grants no kms:Decrypt unless keys are given', () => {
    const decrypting = HANDLER_NAMES.filter((name) =>
      s.view
        .statementsOfRole(s.view.roleByDescription(`jit-db-access ${name} function`))
        .some((st) => st.actions.includes('kms:Decrypt')),
    );
    expect(decrypting).toEqual([]);
  });

  it('creates no endpoints unless asked', () => {
    expect(s.view.resources('AWS::EC2::VPCEndpoint')).toEqual([]);
  });

  it('still passes every cdk-nag AwsSolutions check', () => {
    expect(nagFindings(e)).toEqual([]);
  });
});
