import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Policy } from '../../functions/domain/policy-schema.js';
import type { PortMoves } from '../servers.js';
import { deriveAssemblyPolicy } from './assembly-policy.js';
import { DEFAULT_ACCOUNT, DEFAULT_REGION } from './read-assembly.js';

/**
 * Assembly mode's synth (issue #14): the app synthesized into a cloud assembly for the local policy, in a child
 * process (CDK bundles all eleven functions with esbuild, ~30 s), and reused while its inputs are unchanged.
 * Reading the assembly is local/assembly/read-assembly.ts (`readAssembly`, re-exported here).
 */

export { readAssembly } from './read-assembly.js';

/** The repository root (where cdk/ and node_modules/ are). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The sender the local runtime mails from; cdk/config.ts's default too. */
export const LOCAL_SENDER_EMAIL = 'jit-db-access@example.com';

/** Where the inputs' hash of the assembly in an output directory is kept. */
const INPUTS_FILE = 'jitdb-assembly-inputs.sha256';

/** The source trees a synth depends on (git-tracked and untracked-but-not-ignored files). */
const SOURCE_PATHS = [
  'functions',
  'cdk',
  'state-machines',
  'package-lock.json',
  'local/assembly/synth-entry.ts',
];

export interface SynthesizeOptions {
  /** The local policy (YAML or JSON), e.g. examples/policy.yaml. */
  policyFile: string;
  /** The cloud assembly directory to write (CDK_OUTDIR). */
  outdir: string;
  /** @default '000000000000' */
  account?: string;
  /** @default 'eu-west-1' */
  region?: string;
  /** More CDK context (cdk/config.ts); `policyFile` is always the derived policy. */
  context?: Record<string, unknown>;
  /** Servers started on other ports than the policy's: their loopback targets follow them. */
  moves?: PortMoves;
}

export interface SynthesizedAssembly {
  /** The cloud assembly directory (absolute). */
  dir: string;
  /** The derived policy the assembly was synthesized with. */
  policy: Policy;
  /** Absolute path of the derived policy file (JSON) inside `dir`. */
  policyFile: string;
  /** Target id → the local admin secret ARN the Secrets Manager emulation must serve. */
  secretArns: Map<string, string>;
}

/** SHA-256 of the synth's source files (path and content), so an edit anywhere in them means a new synth. */
function sourcesHash(): string {
  const hash = createHash('sha256');
  const listing = execFileSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...SOURCE_PATHS],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const files = [...new Set(listing.split('\0').filter((f) => f !== ''))].sort();
  for (const file of files) {
    const path = join(REPO_ROOT, file);
    if (!existsSync(path)) continue; // deleted in the working tree, still in the index
    hash.update(`${file}\0`).update(readFileSync(path)).update('\0');
  }
  return hash.digest('hex');
}

/** Runs the synth entry in a child process; rejects with its stderr when it fails. */
function runSynth(
  outdir: string,
  request: { context: Record<string, unknown>; account: string; region: string },
) {
  return new Promise<void>((done, fail) => {
    const child = spawn(
      join(REPO_ROOT, 'node_modules/.bin/tsx'),
      [join(REPO_ROOT, 'local/assembly/synth-entry.ts'), JSON.stringify(request)],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          CDK_OUTDIR: outdir,
          CDK_DEFAULT_ACCOUNT: request.account,
          CDK_DEFAULT_REGION: request.region,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const stderr: Buffer[] = [];
    const stdout: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', fail);
    child.on('close', (code, signal) => {
      if (code === 0 && existsSync(join(outdir, 'manifest.json'))) return done();
      const output =
        Buffer.concat(stderr).toString('utf8').trim() || Buffer.concat(stdout).toString('utf8').trim();
      fail(new Error(`cdk synth for assembly mode failed (${signal ?? `exit ${String(code)}`}):\n${output}`));
    });
  });
}

/**
 * Synthesizes the app for the local policy into `outdir` (a child process running local/assembly/synth-entry.ts),
 * unless the assembly there was made from the same derived policy, context, account, region and sources.
 */
export async function synthesizeAssembly(options: SynthesizeOptions): Promise<SynthesizedAssembly> {
  const account = options.account ?? DEFAULT_ACCOUNT;
  const region = options.region ?? DEFAULT_REGION;
  const outdir = resolve(options.outdir);
  const derived = deriveAssemblyPolicy({
    policyFile: options.policyFile,
    outdir,
    account,
    region,
    ...(options.moves ? { moves: options.moves } : {}),
  });
  const context = { senderEmail: LOCAL_SENDER_EMAIL, ...options.context, policyFile: derived.policyFile };
  const inputs = createHash('sha256')
    .update(JSON.stringify({ policy: derived.input, context, account, region, sources: sourcesHash() }))
    .digest('hex');
  const inputsFile = join(outdir, INPUTS_FILE);
  const manifest = join(outdir, 'manifest.json');
  const reusable =
    existsSync(manifest) && existsSync(inputsFile) && readFileSync(inputsFile, 'utf8').trim() === inputs;
  if (!reusable) {
    rmSync(inputsFile, { force: true });
    rmSync(manifest, { force: true });
    await runSynth(outdir, { context, account, region });
    writeFileSync(inputsFile, `${inputs}\n`);
  }
  return {
    dir: outdir,
    policy: derived.policy,
    policyFile: derived.policyFile,
    secretArns: derived.secretArns,
  };
}
