import type { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';

/**
 * Reads a synthesized template through names a reviewer understands: references to known constructs
 * render as `<Name>` or `<Name.Attr>` instead of hashed logical ids, so assertions never spell a hash.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface Resource {
  Type: string;
  Properties?: Record<string, Json>;
}

export interface Statement {
  actions: string[];
  resources: string[];
  /** The statement's Condition block, as synthesized; absent when it has none. */
  conditions?: Json;
}

export class TemplateView {
  private readonly names = new Map<string, string>();

  constructor(
    readonly template: Template,
    known: { stack: Stack; constructs: Record<string, IConstruct> }[],
  ) {
    for (const { stack, constructs } of known) {
      for (const [name, construct] of Object.entries(constructs)) {
        const cfn = construct.node.defaultChild ?? construct;
        this.names.set(stack.resolve(stack.getLogicalId(cfn as never)), name);
      }
    }
  }

  resources(type: string): [string, Resource][] {
    return Object.entries(this.template.findResources(type) as Record<string, Resource>);
  }

  /** The one resource of a type; throws if there are none or several. */
  only(type: string): Resource {
    const all = this.resources(type);
    if (all.length !== 1 || !all[0]) throw new Error(`expected one ${type}, found ${all.length}`);
    return all[0][1];
  }

  resource(logicalId: string): Resource {
    const found = (this.template.toJSON() as { Resources: Record<string, Resource> }).Resources[logicalId];
    if (!found) throw new Error(`no resource ${logicalId}`);
    return found;
  }

  /** A CloudFormation value as text: literals as is, references as `<Name>` / `<Name.Attr>`. */
  render(value: Json | undefined): string {
    if (value === null || value === undefined) return '';
    if (typeof value !== 'object') return String(value);
    if (Array.isArray(value)) return value.map((v) => this.render(v)).join(',');
    const ref = value.Ref;
    if (typeof ref === 'string') return `<${this.nameOf(ref)}>`;
    const getAtt = value['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${this.nameOf(String(getAtt[0]))}.${String(getAtt[1])}>`;
    const join = value['Fn::Join'];
    if (Array.isArray(join) && Array.isArray(join[1])) {
      return join[1].map((part) => this.render(part)).join(String(join[0]));
    }
    const imported = value['Fn::ImportValue'];
    if (typeof imported === 'string') {
      // Export names embed the exporting resource's logical id and attribute: name them like a GetAtt.
      for (const [logicalId, name] of this.names) {
        if (imported.includes(logicalId)) {
          const attr = /Arn|Name|StreamArn/.exec(
            imported.slice(imported.indexOf(logicalId) + logicalId.length),
          );
          return `<${name}${attr ? `.${attr[0]}` : ''}>`;
        }
      }
      return `<import ${imported}>`;
    }
    return JSON.stringify(value);
  }

  nameOf(logicalId: string): string {
    return this.names.get(logicalId) ?? logicalId;
  }

  /** Logical id of the IAM role whose Description is exactly `description`. */
  roleByDescription(description: string): string {
    const match = this.resources('AWS::IAM::Role').filter(
      ([, r]) => r.Properties?.Description === description,
    );
    if (match.length !== 1 || !match[0])
      throw new Error(`expected one role '${description}', found ${match.length}`);
    return match[0][0];
  }

  /** The Allow statements of the role described exactly as `roleDescription` that name `action`. */
  statementsWithAction(roleDescription: string, action: string): Statement[] {
    return this.statementsOfRole(this.roleByDescription(roleDescription)).filter((st) =>
      st.actions.includes(action),
    );
  }

  /** Every Allow statement of every inline policy attached to a role: actions and resources rendered and sorted, conditions as they are. */
  statementsOfRole(roleLogicalId: string): Statement[] {
    const statements: Statement[] = [];
    for (const [, policy] of this.resources('AWS::IAM::Policy')) {
      const roles = policy.Properties?.Roles;
      if (!Array.isArray(roles) || !roles.some((r) => this.render(r) === `<${this.nameOf(roleLogicalId)}>`))
        continue;
      const document = policy.Properties?.PolicyDocument as { Statement: Record<string, Json>[] };
      for (const s of document.Statement) {
        if (s.Effect !== 'Allow') continue;
        statements.push({
          actions: asArray(s.Action)
            .map((a) => this.render(a))
            .sort(),
          resources: asArray(s.Resource)
            .map((r) => this.render(r))
            .sort(),
          ...(s.Condition === undefined ? {} : { conditions: s.Condition }),
        });
      }
    }
    return statements.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }

  /** Managed policy ARNs attached to a role, rendered. */
  managedPoliciesOfRole(roleLogicalId: string): string[] {
    const arns = this.resource(roleLogicalId).Properties?.ManagedPolicyArns;
    return asArray(arns ?? [])
      .map((a) => this.render(a))
      .sort();
  }
}

function asArray(value: Json | undefined): Json[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
