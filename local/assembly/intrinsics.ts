/**
 * CloudFormation's intrinsic functions, resolved to local values (assembly mode, issue #14). A resolver is given
 * what Ref and Fn::GetAtt of a logical id mean and what each export holds; everything else (Fn::Join, Fn::Sub,
 * Fn::Select, Fn::Split, Fn::Base64, the pseudo parameters) is evaluated here. Anything it does not know throws
 * an AssemblyError naming the template path: a value is never silently `undefined` or `[object Object]`.
 */

/** A value in a template could not be resolved (or the assembly is not what this reader expects). */
export class AssemblyError extends Error {
  override name = 'AssemblyError';
}

/** What a template's intrinsics resolve against: one stack, in one account and region. */
export interface ResolveScope {
  /** The template file, for messages (e.g. `JitDbAccess.template.json`). */
  template: string;
  stackName: string;
  account: string;
  region: string;
  /** Ref of a resource or parameter; undefined when there is no such logical id. */
  ref(logicalId: string, path: string): unknown;
  /** Fn::GetAtt; undefined when the resource or attribute is unknown. */
  getAtt(logicalId: string, attribute: string, path: string): unknown;
  /** Fn::ImportValue; undefined when no stack exports that name. */
  importValue(name: string, path: string): unknown;
}

/** Ref to AWS::NoValue: the property (or list element) is left out. */
const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

const PSEUDO_CONSTANTS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::NotificationARNs': '',
};

function fail(scope: ResolveScope, path: string, message: string): never {
  throw new AssemblyError(`${scope.template}: ${path}: ${message}`);
}

/** A pseudo parameter's local value, or undefined if `name` is not one. */
function pseudo(scope: ResolveScope, name: string): string | typeof NO_VALUE | undefined {
  if (name === 'AWS::NoValue') return NO_VALUE;
  if (name === 'AWS::Region') return scope.region;
  if (name === 'AWS::AccountId') return scope.account;
  if (name === 'AWS::StackName') return scope.stackName;
  if (name === 'AWS::StackId') {
    return `arn:aws:cloudformation:${scope.region}:${scope.account}:stack/${scope.stackName}/local`;
  }
  return PSEUDO_CONSTANTS[name];
}

function ref(scope: ResolveScope, name: unknown, path: string): unknown {
  if (typeof name !== 'string') fail(scope, path, 'Ref takes a logical id');
  const value = pseudo(scope, name) ?? scope.ref(name, path);
  if (value === undefined) fail(scope, path, `Ref to '${name}', which is neither a resource nor a parameter`);
  return value;
}

function getAtt(scope: ResolveScope, arg: unknown, path: string): unknown {
  const parts = typeof arg === 'string' ? splitOnce(arg, '.') : arg;
  if (!Array.isArray(parts) || parts.length !== 2 || !parts.every((p) => typeof p === 'string')) {
    fail(scope, path, 'Fn::GetAtt takes [logicalId, attribute]');
  }
  const [id, attribute] = parts as [string, string];
  const value = scope.getAtt(id, attribute, path);
  if (value === undefined) fail(scope, path, `Fn::GetAtt ${id}.${attribute}: no such resource or attribute`);
  return value;
}

function splitOnce(text: string, separator: string): string[] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

function asString(scope: ResolveScope, value: unknown, path: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return fail(scope, path, `expected a string, got ${JSON.stringify(value)}`);
}

function asList(scope: ResolveScope, value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(scope, path, `expected a list, got ${JSON.stringify(value)}`);
  return value;
}

/** Fn::Sub: `${Name}` is a variable, a pseudo parameter, a Ref or (`${Id.Attr}`) a GetAtt; `${!x}` is literal. */
function sub(scope: ResolveScope, arg: unknown, path: string): string {
  const [template, rawVariables] = Array.isArray(arg) ? arg : [arg, {}];
  if (typeof template !== 'string') fail(scope, path, 'Fn::Sub takes a string or [string, variables]');
  const variables = resolveIn(scope, rawVariables ?? {}, `${path}[1]`);
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) {
    fail(scope, path, 'Fn::Sub variables must be an object');
  }
  const vars = variables as Record<string, unknown>;
  return template.replace(/\$\{([^}]*)\}/g, (_match, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (Object.hasOwn(vars, name)) return asString(scope, vars[name], `${path}: \${${name}}`);
    if (name.includes('.') && !name.startsWith('AWS::')) {
      return asString(scope, getAtt(scope, name, `${path}: \${${name}}`), path);
    }
    return asString(scope, ref(scope, name, `${path}: \${${name}}`), path);
  });
}

function evaluate(scope: ResolveScope, fn: string, arg: unknown, path: string): unknown {
  const at = `${path}.${fn}`;
  switch (fn) {
    case 'Ref':
      return ref(scope, arg, at);
    case 'Fn::GetAtt':
      return getAtt(scope, resolveIn(scope, arg, at), at);
    case 'Fn::ImportValue': {
      const name = asString(scope, resolveIn(scope, arg, at), at);
      const value = scope.importValue(name, at);
      if (value === undefined) fail(scope, at, `no stack exports '${name}'`);
      return value;
    }
    case 'Fn::Join': {
      const [separator, values] = asList(scope, arg, at);
      const list = asList(scope, resolveIn(scope, values, `${at}[1]`), `${at}[1]`);
      return list.map((v, i) => asString(scope, v, `${at}[1][${i}]`)).join(asString(scope, separator, at));
    }
    case 'Fn::Sub':
      return sub(scope, arg, at);
    case 'Fn::Select': {
      const [index, values] = asList(scope, resolveIn(scope, arg, at), at);
      const list = asList(scope, values, `${at}[1]`);
      const i = Number(index);
      if (!Number.isInteger(i) || i < 0 || i >= list.length)
        fail(scope, at, `index ${String(index)} out of range`);
      return list[i];
    }
    case 'Fn::Split': {
      const [separator, text] = asList(scope, resolveIn(scope, arg, at), at);
      return asString(scope, text, at).split(asString(scope, separator, at));
    }
    case 'Fn::Base64':
      return Buffer.from(asString(scope, resolveIn(scope, arg, at), at), 'utf8').toString('base64');
    default:
      return fail(scope, at, `unsupported intrinsic function ${fn}`);
  }
}

function isIntrinsic(value: Record<string, unknown>): string | undefined {
  const keys = Object.keys(value);
  const [key] = keys;
  return keys.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))
    ? key
    : undefined;
}

function resolveIn(scope: ResolveScope, value: unknown, path: string): unknown {
  if (Array.isArray(value)) {
    return value.map((v, i) => resolveIn(scope, v, `${path}[${i}]`)).filter((v) => v !== NO_VALUE);
  }
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const fn = isIntrinsic(record);
  if (fn !== undefined) return evaluate(scope, fn, record[fn], path);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(record)) {
    const resolved = resolveIn(scope, v, `${path}.${key}`);
    if (resolved !== NO_VALUE) out[key] = resolved;
  }
  return out;
}

/** Resolves every intrinsic in `value` (a template fragment at `path`, e.g. `Resources.X.Properties`). */
export function resolveValue(scope: ResolveScope, value: unknown, path: string): unknown {
  const resolved = resolveIn(scope, value, path);
  if (resolved === NO_VALUE) fail(scope, path, 'Ref AWS::NoValue where a value is required');
  return resolved;
}

/** Resolves `value` and requires a string (numbers and booleans are written as CloudFormation would). */
export function resolveString(scope: ResolveScope, value: unknown, path: string): string {
  return asString(scope, resolveValue(scope, value, path), path);
}

/** Applies DefinitionSubstitutions-style `${Name}` placeholders; names not in `values` are left as they are. */
export function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([^}]+)\}/g, (match, name: string) =>
    Object.hasOwn(values, name) ? (values[name] as string) : match,
  );
}
