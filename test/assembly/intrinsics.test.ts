// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are CloudFormation Fn::Sub and ASL placeholders, not templates
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localSecretArn, withLocalSecrets } from '../../local/assembly/assembly-policy.js';
import { AssemblyError, substitute } from '../../local/assembly/intrinsics.js';
import { readStacks, StackTemplate, type Template } from '../../local/assembly/stack-templates.js';

const ACCOUNT = '111122223333';
const REGION = 'eu-central-1';

function stack(resources: Template['Resources'], extra: Partial<Template> = {}): StackTemplate {
  return new StackTemplate(
    'Small',
    'Small.template.json',
    { Resources: resources, ...extra },
    ACCOUNT,
    REGION,
    () => undefined,
  );
}

const fn = (properties: Record<string, unknown>) => ({
  Type: 'AWS::Lambda::Function',
  Properties: properties,
});

const base: Template['Resources'] = {
  TableABCDEF12: { Type: 'AWS::DynamoDB::Table', Properties: {} },
  NamedTable: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'explicit' } },
  Queue12345678: { Type: 'AWS::SQS::Queue', Properties: {} },
};

describe('intrinsic resolver', () => {
  it('resolves Ref and Fn::GetAtt (both forms) to local names, and the pseudo parameters', () => {
    const s = stack({
      ...base,
      F: fn({
        A: { Ref: 'TableABCDEF12' },
        B: { 'Fn::GetAtt': ['TableABCDEF12', 'Arn'] },
        C: { 'Fn::GetAtt': 'NamedTable.Arn' },
        D: {
          'Fn::Join': [':', [{ Ref: 'AWS::Partition' }, { Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }]],
        },
        E: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '.', { Ref: 'AWS::URLSuffix' }]] },
        Q: { Ref: 'Queue12345678' },
      }),
    });
    expect(s.resolve('F', 'A')).toBe('Small-Table');
    expect(s.resolve('F', 'B')).toBe(`arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Small-Table`);
    expect(s.resolve('F', 'C')).toBe(`arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/explicit`);
    expect(s.resolve('F', 'D')).toBe(`aws:${REGION}:${ACCOUNT}`);
    expect(s.resolve('F', 'E')).toBe('Small.amazonaws.com');
    expect(s.resolve('F', 'Q')).toBe(`https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/Small-Queue`);
  });

  it('resolves Fn::Sub in both forms, Fn::Select over Fn::Split, and drops AWS::NoValue', () => {
    const s = stack({
      ...base,
      F: fn({
        A: {
          'Fn::Sub': 'arn:${AWS::Partition}:x:${AWS::Region}:${TableABCDEF12}/${NamedTable.Arn}/${!Literal}',
        },
        B: { 'Fn::Sub': ['${Greeting}, ${Who}', { Greeting: 'hello', Who: { Ref: 'NamedTable' } }] },
        C: { 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] },
        D: { keep: 'x', drop: { Ref: 'AWS::NoValue' } },
        E: ['x', { Ref: 'AWS::NoValue' }, 'y'],
      }),
    });
    expect(s.resolve('F', 'A')).toBe(
      `arn:aws:x:${REGION}:Small-Table/arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/explicit/\${Literal}`,
    );
    expect(s.resolve('F', 'B')).toBe('hello, explicit');
    expect(s.resolve('F', 'C')).toBe('b');
    expect(s.resolve('F', 'D')).toEqual({ keep: 'x' });
    expect(s.resolve('F', 'E')).toEqual(['x', 'y']);
  });

  it('uses a parameter default for Ref, and refuses a parameter without one', () => {
    const s = stack(
      { F: fn({ A: { Ref: 'WithDefault' }, B: { Ref: 'NoDefault' } }) },
      { Parameters: { WithDefault: { Default: 'dflt' }, NoDefault: {} } },
    );
    expect(s.resolve('F', 'A')).toBe('dflt');
    expect(() => s.resolve('F', 'B')).toThrow(/NoDefault has no default/);
  });

  it('throws naming the template path for a Ref to nothing', () => {
    const s = stack({ F: fn({ Environment: { Variables: { X: { Ref: 'Nowhere' } } } }) });
    expect(() => s.resolve('F', 'Environment')).toThrow(AssemblyError);
    expect(() => s.resolve('F', 'Environment')).toThrow(
      "Small.template.json: Resources.F.Properties.Environment.Variables.X.Ref: Ref to 'Nowhere', which is neither a resource nor a parameter",
    );
  });

  it('throws for an unknown intrinsic, an unknown attribute, a resource type it cannot name and a Sub of nothing', () => {
    const s = stack({
      ...base,
      Odd: { Type: 'AWS::Custom::Thing', Properties: {} },
      F: fn({
        A: { 'Fn::If': ['Cond', 'a', 'b'] },
        B: { 'Fn::GetAtt': ['TableABCDEF12', 'Nope'] },
        C: { Ref: 'Odd' },
        D: { 'Fn::Sub': '${Missing}' },
        E: { 'Fn::Join': ['', [{ 'Fn::Split': [',', 'a,b'] }]] },
      }),
    });
    expect(() => s.resolve('F', 'A')).toThrow(
      /Resources\.F\.Properties\.A\.Fn::If: unsupported intrinsic function Fn::If/,
    );
    expect(() => s.resolve('F', 'B')).toThrow(
      /Fn::GetAtt TableABCDEF12\.Nope: no such resource or attribute/,
    );
    expect(() => s.resolve('F', 'C')).toThrow(
      /Odd is a AWS::Custom::Thing, which assembly mode gives no local name/,
    );
    expect(() => s.resolve('F', 'D')).toThrow(/Ref to 'Missing'/);
    expect(() => s.resolve('F', 'E')).toThrow(/expected a string/);
  });

  it('refuses two resources that would get one local name', () => {
    const s = stack({
      TableABCDEF12: { Type: 'AWS::DynamoDB::Table', Properties: {} },
      Table12345678: { Type: 'AWS::DynamoDB::Table', Properties: {} },
      F: fn({ A: [{ Ref: 'TableABCDEF12' }, { Ref: 'Table12345678' }] }),
    });
    expect(() => s.resolve('F', 'A')).toThrow(
      /Table12345678 and TableABCDEF12 would both be the AWS::DynamoDB::Table 'Small-Table'/,
    );
  });

  it('resolves Fn::ImportValue through the exporting stack, and throws for an export nobody makes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitdb-intrinsics-'));
    dirs.push(dir);
    const manifest = {
      artifacts: {
        Data: { type: 'aws:cloudformation:stack', properties: { templateFile: 'Data.template.json' } },
        App: { type: 'aws:cloudformation:stack', properties: { templateFile: 'App.template.json' } },
      },
    };
    const data = {
      Resources: { Table12345678: { Type: 'AWS::DynamoDB::Table', Properties: {} } },
      Outputs: {
        Out: {
          Value: { Ref: 'Table12345678' },
          Export: { Name: { 'Fn::Sub': '${AWS::StackName}:TableName' } },
        },
      },
    };
    const app = {
      Resources: {
        F: fn({ A: { 'Fn::ImportValue': 'Data:TableName' }, B: { 'Fn::ImportValue': 'Data:Other' } }),
      },
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    writeFileSync(join(dir, 'Data.template.json'), JSON.stringify(data));
    writeFileSync(join(dir, 'App.template.json'), JSON.stringify(app));
    const { stacks } = readStacks(dir, ACCOUNT, REGION);
    const appStack = stacks.find((s) => s.stackName === 'App');
    expect(appStack?.resolve('F', 'A')).toBe('Data-Table');
    expect(() => appStack?.resolve('F', 'B')).toThrow(
      "App.template.json: Resources.F.Properties.B.Fn::ImportValue: no stack exports 'Data:Other'",
    );
  });

  it('applies DefinitionSubstitutions placeholders and leaves others alone', () => {
    expect(substitute('{"R":"${FnArn}","P":"${Other}"}', { FnArn: 'arn:x' })).toBe(
      '{"R":"arn:x","P":"${Other}"}',
    );
  });
});

describe('local admin secrets', () => {
  it('names a deterministic Secrets Manager ARN with a 6-character suffix', () => {
    const arn = localSecretArn('demo-pg', ACCOUNT, REGION);
    expect(arn).toMatch(
      new RegExp(`^arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:jitdb-local/demo-pg-[A-Za-z0-9]{6}$`),
    );
    expect(localSecretArn('demo-pg', ACCOUNT, REGION)).toBe(arn);
    expect(localSecretArn('demo-mysql', ACCOUNT, REGION)).not.toBe(arn);
  });

  it('adds secrets only where a target has none, without touching the input', () => {
    const given = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:mine-AbCdEf';
    const input = { version: 1, targets: [{ id: 'a' }, { id: 'b', adminSecretArn: given }] };
    const { input: derived, secretArns } = withLocalSecrets(input, ACCOUNT, REGION);
    expect(input.targets[0]).toEqual({ id: 'a' });
    expect(derived.targets).toEqual([
      { id: 'a', adminSecretArn: localSecretArn('a', ACCOUNT, REGION) },
      input.targets[1],
    ]);
    expect(secretArns.get('b')).toBe(given);
  });
});

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
