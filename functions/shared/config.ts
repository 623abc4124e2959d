import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type * as YamlModule from 'yaml';
import type { PolicySource } from '../application/ports.js';
import { DomainError } from '../domain/errors.js';
import { formatPath, formatPolicyIssues } from '../domain/policy-issues.js';
import { Policy } from '../domain/policy-schema.js';

/**
 * Loads and validates the policy file (YAML, schema in functions/domain/policy-schema.ts). Used at Lambda
 * cold start, by `npm start`, by `jitdb policy check` and at synth time; every caller gets the same
 * problems, one `path: message` line each. Lambda bundles ship the synth-validated input as policy.json, so
 * they never load the `yaml` package: it is required (synchronously) only when a .yaml file is read.
 */

/** `yaml`, loaded on first use; cdk/bundling.ts keeps it external, which Lambda never reaches (JSON policy). */
let yamlModule: typeof YamlModule | undefined;
function yaml(): typeof YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof YamlModule;
  return yamlModule;
}

/** The policy file is unusable. `problems` lists each issue: `targets[0].levels.read.maxDuration: must be ≤ 12h`. */
export class PolicyFileError extends DomainError {
  readonly problems: string[];
  readonly source: string;

  /**
   * `options.listProblems`: the message lists every problem, one per line, as `jitdb policy check` prints them
   * (for callers that only show the message, such as a consumer's `cdk synth`).
   */
  constructor(source: string, problems: string[], cause?: unknown, options: { listProblems?: boolean } = {}) {
    // One line by default: callers (cdk, npm start, jitdb) print `problems` below it themselves.
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    const message = options.listProblems
      ? `${source} is not a valid policy (${count}):\n${problems.map((p) => `  ${p}`).join('\n')}`
      : `${source} is not a valid policy (${count}: ${problems[0] ?? 'unknown'})`;
    super('POLICY_INVALID', message, {
      details: { source, problems },
      cause,
    });
    this.problems = problems;
    this.source = source;
  }
}

/** Aliases let a tiny file expand hugely ("billion laughs"); a policy needs few if any. */
const MAX_ALIAS_COUNT = 100;

/** Parses and validates policy YAML. `source` names the file in messages. */
export function parsePolicy(yamlText: string, source = 'policy'): Policy {
  return validatePolicyData(parsePolicyInput(yamlText, source), source);
}

/**
 * Policy YAML as plain data, before validation: the *input* form the schema reads (what CDK ships as
 * policy.json). Throws PolicyFileError for YAML that does not parse.
 */
export function parsePolicyInput(yamlText: string, source = 'policy'): unknown {
  const doc = yaml().parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyFileError(source, doc.errors.map(yamlProblem));
  }
  return rootData(source, () => doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }));
}

/** Parses and validates policy JSON (the bundled policy.json). `source` names the file in messages. */
export function parsePolicyJson(jsonText: string, source = 'policy'): Policy {
  return validatePolicyData(parseJsonInput(jsonText, source), source);
}

function parseJsonInput(jsonText: string, source: string): unknown {
  return rootData(source, () => JSON.parse(jsonText));
}

/** Runs a parser; its failure, or an empty document, is a PolicyFileError at the root. */
function rootData(source: string, parse: () => unknown): unknown {
  let data: unknown;
  try {
    data = parse();
  } catch (error) {
    throw new PolicyFileError(
      source,
      [`(root): ${error instanceof Error ? error.message : String(error)}`],
      error,
    );
  }
  if (data === null || data === undefined) throw new PolicyFileError(source, ['(root): the file is empty']);
  return data;
}

/** Validates parsed policy data (YAML or JSON) with the zod schema. */
export function validatePolicyData(data: unknown, source = 'policy'): Policy {
  const reserved = reservedKeys(data, []);
  if (reserved.length > 0) throw new PolicyFileError(source, reserved);
  const result = Policy.safeParse(data);
  if (!result.success)
    throw new PolicyFileError(source, formatPolicyIssues(result.error.issues), result.error);
  return result.data;
}

/** zod silently drops a `__proto__` key; a policy that says one should be told, not half-read. */
function reservedKeys(value: unknown, path: PropertyKey[]): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => reservedKeys(item, [...path, i]));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === '__proto__'
      ? [`${formatPath([...path, key])}: reserved key`]
      : reservedKeys(child, [...path, key]),
  );
}

function yamlProblem(error: YamlModule.YAMLError): string {
  // prettyErrors appends " at line N, column M:" and a code frame; the position is reported up front instead.
  const message = error.message.split(' at line ')[0] ?? error.message;
  const position = error.linePos?.[0];
  return position ? `line ${position.line}, column ${position.col}: ${message}` : message;
}

const cache = new Map<string, Policy>();

function isJsonPath(path: string): boolean {
  return path.toLowerCase().endsWith('.json');
}

/** Reads a policy file (.json or YAML) as plain data, unvalidated; for CDK, which validates and ships it. */
export function readPolicyInput(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new PolicyFileError(path, [`(file): cannot read ${path} (${code})`], error);
  }
  return isJsonPath(path) ? parseJsonInput(text, path) : parsePolicyInput(text, path);
}

/** Reads, validates and caches a policy file (.json, else YAML); a second call for the same path does no I/O. */
export function loadPolicyFile(path: string): Policy {
  const absolute = resolve(path);
  const cached = cache.get(absolute);
  if (cached) return cached;
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new PolicyFileError(path, [`(file): cannot read ${path} (${code})`], error);
  }
  const policy = isJsonPath(absolute) ? parsePolicyJson(text, path) : parsePolicy(text, path);
  cache.set(absolute, policy);
  return policy;
}

/** The policy named by JITDB_POLICY_FILE (in Lambda, the bundled policy.json), read once per process. */
export function policyFromEnv(env: NodeJS.ProcessEnv = process.env): Policy {
  return loadPolicyFile(policyPathFromEnv(env));
}

export function policyPathFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.JITDB_POLICY_FILE;
  if (configured) return configured;
  if (env.LAMBDA_TASK_ROOT) return join(env.LAMBDA_TASK_ROOT, 'policy.json');
  throw new PolicyFileError('JITDB_POLICY_FILE', ['(env): JITDB_POLICY_FILE is not set']);
}

/** The PolicySource port over policyFromEnv. */
export const envPolicySource: PolicySource = { policy: () => policyFromEnv() };

/** Forgets cached policies (tests, and `jitdb policy check --watch`). */
export function clearPolicyCache(): void {
  cache.clear();
}
