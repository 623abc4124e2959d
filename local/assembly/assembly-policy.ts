import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Policy } from '../../functions/domain/policy-schema.js';
import { readPolicyInput, validatePolicyData } from '../../functions/shared/config.js';
import { movedPort, type PortMoves } from '../servers.js';

/**
 * The policy an assembly is synthesized with (assembly mode, issue #14): the local policy file as written, with
 * every target that has no `adminSecretArn` given one naming a local secret, so the synthesized roles allow
 * secretsmanager:GetSecretValue on it and the functions read their admin login from the Secrets Manager
 * emulation, as on AWS. Nothing else of the policy changes.
 */

/** The derived policy file's name inside the output directory. */
export const DERIVED_POLICY_FILE = 'jitdb-assembly-policy.json';

export interface AssemblyPolicy {
  /** Absolute path of the derived policy (JSON, the input form: what the YAML said plus the secret ARNs). */
  policyFile: string;
  /** The derived policy's input form, as written to policyFile. */
  input: Record<string, unknown>;
  /** The derived policy as the schema parses it. */
  policy: Policy;
  /** Target id → the admin secret ARN the Secrets Manager emulation serves the target's admin login under. */
  secretArns: Map<string, string>;
}

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The local admin secret of a target: `arn:aws:secretsmanager:<region>:<account>:secret:jitdb-local/<id>-XXXXXX`. */
export function localSecretArn(targetId: string, account: string, region: string): string {
  const bytes = createHash('sha256').update(`jitdb-local/${targetId}`).digest().subarray(0, 6);
  const suffix = [...bytes].map((b) => SUFFIX_ALPHABET[b % SUFFIX_ALPHABET.length]).join('');
  return `arn:aws:secretsmanager:${region}:${account}:secret:jitdb-local/${targetId}-${suffix}`;
}

/** The derived policy's input form: `input` with local admin secrets added; also returns the secret map. */
export function withLocalSecrets(
  input: unknown,
  account: string,
  region: string,
): { input: Record<string, unknown>; secretArns: Map<string, string> } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('the policy is not a mapping');
  }
  const copy = structuredClone(input) as Record<string, unknown>;
  const secretArns = new Map<string, string>();
  const targets = Array.isArray(copy.targets) ? (copy.targets as unknown[]) : [];
  for (const target of targets) {
    if (typeof target !== 'object' || target === null) continue;
    const t = target as Record<string, unknown>;
    if (typeof t.id !== 'string') continue;
    if (t.adminSecretArn === undefined) t.adminSecretArn = localSecretArn(t.id, account, region);
    if (typeof t.adminSecretArn === 'string') secretArns.set(t.id, t.adminSecretArn);
  }
  return { input: copy, secretArns };
}

/**
 * Derives the assembly policy from the local policy file and writes it as JSON under `outdir`; with `moves`,
 * loopback targets follow servers started on other ports than the policy's (`--pg-port 0`), as in source mode.
 */
export function deriveAssemblyPolicy(options: {
  policyFile: string;
  outdir: string;
  account: string;
  region: string;
  moves?: PortMoves;
}): AssemblyPolicy {
  const source = resolve(options.policyFile);
  const { input, secretArns } = withLocalSecrets(readPolicyInput(source), options.account, options.region);
  if (options.moves) moveTargetPorts(input, options.moves);
  // Throws PolicyFileError listing every problem, as the synth would.
  const policy = validatePolicyData(input, `${source} (with local admin secrets)`);
  mkdirSync(options.outdir, { recursive: true });
  const policyFile = join(resolve(options.outdir), DERIVED_POLICY_FILE);
  writeFileSync(policyFile, `${JSON.stringify(input, null, 2)}\n`);
  return { policyFile, input, policy, secretArns };
}

/** Moves, in a policy's input form, each loopback target's port the way `movedPort` says (in place). */
export function moveTargetPorts(input: Record<string, unknown>, moves: PortMoves): void {
  const targets = Array.isArray(input.targets) ? (input.targets as unknown[]) : [];
  for (const target of targets) {
    if (typeof target !== 'object' || target === null) continue;
    const { engine, connection } = target as { engine?: unknown; connection?: unknown };
    if (
      (engine !== 'postgres' && engine !== 'mysql') ||
      typeof connection !== 'object' ||
      connection === null
    )
      continue;
    const where = connection as { host?: unknown; port?: unknown };
    if (typeof where.host !== 'string' || typeof where.port !== 'number') continue;
    const port = movedPort(moves, engine, where.host, where.port);
    if (port !== undefined) where.port = port;
  }
}
