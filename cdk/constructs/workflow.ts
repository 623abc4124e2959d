import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { EARLY_REVOKE_FUNCTION, STATEMENT_FUNCTION } from '../../functions/function-registry.js';
import { ASL_SUBSTITUTIONS, SUBSTITUTION_HANDLERS } from '../../functions/workflow-tasks.js';
import { type FunctionName, PROJECT_ROOT } from '../bundling.js';
import { FUNCTION_NEEDS } from '../function-needs.js';
import { bindNeeds, type FunctionConstructProps, stackFunction } from './bindings.js';
import type { DatabaseNetwork, JitFunction } from './jit-function.js';

/** The ASL file CDK deploys and the local runtime executes. */
export const ASL_FILE = `${PROJECT_ROOT}state-machines/access-request.asl.json`;

export interface WorkflowConstructProps extends FunctionConstructProps {
  /**
   * The targets' VPC for the functions that connect to databases (grant, revoke, record-outcome).
   * @default - not in a VPC
   */
  readonly network?: DatabaseNetwork;
  /** @default state-machines/access-request.asl.json */
  readonly definitionFile?: string;
}

/** The access-request state machine (Standard) and the five task functions its placeholders name. */
export class WorkflowConstruct extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  /** Task functions by handler name: evaluate-policy, request-approval, grant, revoke, record-outcome. */
  public readonly functions: ReadonlyMap<FunctionName, JitFunction>;
  /** The revoke task's function: the API runs early revokes through it (the API reaches no database). */
  public readonly revokeFunction: JitFunction;

  constructor(scope: Construct, id: string, props: WorkflowConstructProps) {
    super(scope, id);
    // Named, so its task functions can format its ARN; unique per stack, within Step Functions' 80 characters.
    const stateMachineName = `${Stack.of(this).stackName.slice(0, 64)}-access-request`;
    const functions = new Map<FunctionName, JitFunction>();
    const substitutions: Record<string, string> = {};
    for (const placeholder of ASL_SUBSTITUTIONS) {
      const handlerName = SUBSTITUTION_HANDLERS[placeholder];
      const talksToDatabase = FUNCTION_NEEDS[handlerName].database;
      const fn = stackFunction(this, placeholder.replace(/Arn$/, ''), handlerName, props, {
        // Grant and revoke retry inside the state machine; a slow database must not hit the Lambda limit first.
        // The statement function runs a statement for up to MAX_STATEMENT_TIMEOUT_SECONDS, plus the user's make and drop.
        timeout: Duration.seconds(handlerName === STATEMENT_FUNCTION ? 900 : talksToDatabase ? 60 : 30),
      });
      // Its task functions know the state machine by name only: a reference would be circular.
      bindNeeds(fn, {
        tables: props.tables,
        targets: props.targets,
        notifications: props.notifications,
        stateMachineName,
      });
      functions.set(handlerName, fn);
      substitutions[placeholder] = fn.functionArn;
    }
    this.functions = functions;
    const revoke = functions.get(EARLY_REVOKE_FUNCTION);
    if (!revoke) throw new Error('the workflow has no revoke function');
    this.revokeFunction = revoke;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'jit-db-access access-request state machine',
    });
    // Exactly the five task functions, unqualified (the ASL invokes $LATEST by ARN).
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [...functions.values()].map((fn) => fn.functionArn),
      }),
    );
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(props.definitionFile ?? ASL_FILE),
      definitionSubstitutions: substitutions,
      role,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the CloudWatch Logs vended-delivery actions (logs:CreateLogDelivery, …) and X-Ray PutTraceSegments ' +
        'carry Resource * here: AWS offers no resource-level permissions for them.',
    });
  }
}
