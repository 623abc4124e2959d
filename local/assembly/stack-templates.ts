import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AssemblyError, type ResolveScope, resolveString, resolveValue } from './intrinsics.js';
import { type LocalResource, localResource, nameProperty } from './local-names.js';

/** One resource of a template, as written. */
export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
}

export interface Template {
  Resources: Record<string, TemplateResource>;
  Parameters?: Record<string, { Default?: unknown }>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
}

/** One stack of the assembly, with its intrinsics resolvable to local values. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class StackTemplate {
  readonly scope: ResolveScope;
  private readonly locals = new Map<string, LocalResource | undefined>();
  private readonly naming = new Set<string>();
  /** `<type> <ref>` → logical id: two resources must not get one local name. */
  private readonly refs = new Map<string, string>();

  constructor(
    readonly stackName: string,
    readonly templateFile: string,
    readonly template: Template,
    account: string,
    region: string,
    importValue: (name: string, path: string) => unknown,
  ) {
    this.scope = {
      template: templateFile,
      stackName,
      account,
      region,
      ref: (id, path) => this.ref(id, path),
      getAtt: (id, attribute, path) => this.local(id, path)?.attributes[attribute],
      importValue,
    };
  }

  /** The resources of one type (or of any of `types`), in template order. */
  resourcesOf(...types: string[]): [string, TemplateResource][] {
    return Object.entries(this.template.Resources).filter(([, r]) => types.includes(r.Type));
  }

  /** A resource's properties ({} when it has none). */
  properties(logicalId: string): Record<string, unknown> {
    return this.template.Resources[logicalId]?.Properties ?? {};
  }

  /** Resolves a property path of a resource, e.g. `resolve('Fn', 'Environment')`; undefined when absent. */
  resolve(logicalId: string, property: string): unknown {
    const value = this.properties(logicalId)[property];
    return value === undefined ? undefined : resolveValue(this.scope, value, this.path(logicalId, property));
  }

  /** Like resolve, but the value must be present and a string. */
  resolveString(logicalId: string, property: string): string {
    const value = this.properties(logicalId)[property];
    if (value === undefined)
      throw new AssemblyError(`${this.templateFile}: ${this.path(logicalId, property)}: missing`);
    return resolveString(this.scope, value, this.path(logicalId, property));
  }

  /**
   * A property that maps names to strings, e.g. ResponseTemplates, or with `member` a map inside it
   * (Environment.Variables); absent: {}. Any value that is not a string is refused, naming its path.
   */
  resolveStringMap(logicalId: string, property: string, member?: string): Record<string, string> {
    const value = this.resolve(logicalId, property);
    const map = member === undefined ? value : isObject(value) ? value[member] : undefined;
    const at = member === undefined ? property : `${property}.${member}`;
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(isObject(map) ? map : {})) {
      if (typeof v !== 'string') {
        throw new AssemblyError(
          `${this.templateFile}: ${this.path(logicalId, `${at}.${key}`)}: not a string`,
        );
      }
      out[key] = v;
    }
    return out;
  }

  /** The logical id of this stack's role whose ARN the property holds (Role, RoleArn). */
  roleLogicalIdOf(logicalId: string, property: string): string {
    const roleArn = this.resolveString(logicalId, property);
    const role = this.resourcesOf('AWS::IAM::Role').find(
      ([r]) => this.attributeOf(r, 'Arn') === roleArn,
    )?.[0];
    if (role === undefined) {
      throw new AssemblyError(
        `${this.templateFile}: ${this.path(logicalId, property)}: ${roleArn} is no role of this stack`,
      );
    }
    return role;
  }

  /** The template path of a property, for messages. */
  path(logicalId: string, property?: string): string {
    return `Resources.${logicalId}${property ? `.Properties.${property}` : ''}`;
  }

  /** What Ref of a resource means locally (throws for a resource type this reader does not name). */
  refOf(logicalId: string): string {
    return this.ref(logicalId, this.path(logicalId)) as string;
  }

  /** A resource's Fn::GetAtt attribute, locally. */
  attributeOf(logicalId: string, attribute: string): string {
    const value = this.local(logicalId, this.path(logicalId))?.attributes[attribute];
    if (value === undefined) {
      throw new AssemblyError(
        `${this.templateFile}: ${this.path(logicalId)}: no local value for ${attribute}`,
      );
    }
    return value;
  }

  private ref(logicalId: string, path: string): unknown {
    const parameter = this.template.Parameters?.[logicalId];
    if (parameter !== undefined) {
      if (parameter.Default === undefined) {
        throw new AssemblyError(`${this.templateFile}: ${path}: parameter ${logicalId} has no default`);
      }
      return parameter.Default;
    }
    return this.local(logicalId, path)?.ref;
  }

  private local(logicalId: string, path: string): LocalResource | undefined {
    if (this.locals.has(logicalId)) return this.locals.get(logicalId);
    const resource = this.template.Resources[logicalId];
    if (resource === undefined) return undefined;
    if (this.naming.has(logicalId)) {
      throw new AssemblyError(`${this.templateFile}: ${path}: ${logicalId}'s name refers to itself`);
    }
    this.naming.add(logicalId);
    const property = nameProperty(resource.Type);
    const properties = resource.Properties ?? {};
    const name =
      property !== undefined && properties[property] !== undefined
        ? resolveString(this.scope, properties[property], this.path(logicalId, property))
        : undefined;
    const local = localResource(this.scope, logicalId, resource.Type, properties, name);
    this.naming.delete(logicalId);
    if (local === undefined) {
      throw new AssemblyError(
        `${this.templateFile}: ${path}: ${logicalId} is a ${resource.Type}, which assembly mode gives no local name`,
      );
    }
    const key = `${resource.Type} ${local.ref}`;
    const other = this.refs.get(key);
    if (other !== undefined && other !== logicalId) {
      throw new AssemblyError(
        `${this.templateFile}: ${path}: ${logicalId} and ${other} would both be the ${resource.Type} '${local.ref}' locally`,
      );
    }
    this.refs.set(key, logicalId);
    this.locals.set(logicalId, local);
    return local;
  }
}

interface ManifestArtifact {
  type: string;
  properties?: { templateFile?: string; stackName?: string; file?: string };
  displayName?: string;
}

/** One file asset of an asset manifest: where it is staged in the assembly. */
export interface FileAsset {
  /** Absolute path of the staged file or directory. */
  path: string;
  packaging: string;
}

/** The assembly's stacks and file assets, read from manifest.json and the *.assets.json manifests. */
export interface StackSet {
  stacks: StackTemplate[];
  /** S3 object key (as the templates name it) → staged asset. */
  assetsByObjectKey: Map<string, FileAsset>;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new AssemblyError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Reads every stack of the cloud assembly in `dir`, resolvable in `account`/`region`. */
export function readStacks(dir: string, account: string, region: string): StackSet {
  const root = resolve(dir);
  const manifest = readJson(join(root, 'manifest.json')) as { artifacts?: Record<string, ManifestArtifact> };
  const artifacts = Object.entries(manifest.artifacts ?? {});
  const exports = new Map<string, { stack: StackTemplate; output: string }>();
  const importValue = (name: string): unknown => {
    const source = exports.get(name);
    if (source === undefined) return undefined;
    const output = source.stack.template.Outputs?.[source.output];
    return resolveValue(source.stack.scope, output?.Value, `Outputs.${source.output}.Value`);
  };
  const stacks: StackTemplate[] = [];
  for (const [id, artifact] of artifacts) {
    if (artifact.type !== 'aws:cloudformation:stack') continue;
    const file = artifact.properties?.templateFile;
    if (file === undefined) throw new AssemblyError(`manifest.json: stack ${id} has no templateFile`);
    const template = readJson(join(root, file)) as Template;
    const stackName = artifact.properties?.stackName ?? id;
    stacks.push(new StackTemplate(stackName, file, template, account, region, importValue));
  }
  for (const stack of stacks) {
    for (const [output, { Export }] of Object.entries(stack.template.Outputs ?? {})) {
      if (Export === undefined) continue;
      const name = resolveString(stack.scope, Export.Name, `Outputs.${output}.Export.Name`);
      exports.set(name, { stack, output });
    }
  }
  const assetsByObjectKey = new Map<string, FileAsset>();
  for (const [, artifact] of artifacts) {
    if (artifact.type !== 'cdk:asset-manifest' || artifact.properties?.file === undefined) continue;
    const assets = readJson(join(root, artifact.properties.file)) as {
      files?: Record<
        string,
        { source: { path: string; packaging?: string }; destinations: Record<string, { objectKey: string }> }
      >;
    };
    for (const file of Object.values(assets.files ?? {})) {
      for (const destination of Object.values(file.destinations)) {
        assetsByObjectKey.set(destination.objectKey, {
          path: join(root, file.source.path),
          packaging: file.source.packaging ?? 'file',
        });
      }
    }
  }
  return { stacks, assetsByObjectKey };
}
