import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildApp, type JitApp } from '../../cdk/app.js';
import { TemplateView } from './template-view.js';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

export interface Synthesized extends JitApp {
  stateful: JitApp['stateful'];
  statefulView: TemplateView;
  view: TemplateView;
  nag: AwsSolutionsChecks;
}

/** Builds the app with cdk-nag's AwsSolutions pack registered, synthesizes once, and names what tests look at. */
export function synthesize(context: Record<string, unknown> = {}): Synthesized {
  const built = buildApp(context, { account: ACCOUNT, region: REGION });
  const nag = new AwsSolutionsChecks(built.app);
  Validations.of(built.app).addPlugins(nag);
  const { stateful, stateless } = built;
  const tables = {
    RequestsTable: stateful.requestsTable,
    AuditTable: stateful.auditTable,
    DigestsTable: stateful.digestsTable,
  };
  const named: Record<string, IConstruct> = {
    StateMachine: stateless.access.workflow.stateMachine,
    RestApi: stateless.access.apiConstruct.restApi,
    SweeperDeadLetterQueue: stateless.access.expiry.sweeperDeadLetterQueue,
    ExecutionEndedDeadLetterQueue: stateless.access.expiry.executionEndedDeadLetterQueue,
    AlarmTopic: stateless.access.notifications.alarmTopic,
    DigestKey: stateless.access.auditAnchor.key,
    DigestDeadLetterQueue: stateless.access.auditAnchor.digestDeadLetterQueue,
  };
  for (const fn of stateless.access.functions) {
    named[`fn:${fn.handlerName}`] = fn;
    named[`logs:${fn.handlerName}`] = fn.logGroup;
  }
  if (stateless.access.functionsSecurityGroup)
    named.DatabaseClients = stateless.access.functionsSecurityGroup;
  if (stateless.access.serviceEndpointSecurityGroup)
    named.ServiceEndpoints = stateless.access.serviceEndpointSecurityGroup;
  const known = [
    { stack: stateful, constructs: tables },
    { stack: stateless, constructs: named },
  ];
  return {
    ...built,
    nag,
    statefulView: new TemplateView(Template.fromStack(stateful), known),
    view: new TemplateView(Template.fromStack(stateless), known),
  };
}

/** cdk-nag's unacknowledged AwsSolutions findings on the app, one line each: the rule and where it fired. */
export function nagFindings(s: Synthesized): string[] {
  return s.nag
    .validateScope(s.app)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}`),
    );
}
