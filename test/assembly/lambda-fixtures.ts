import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { FunctionModel } from '../../local/assembly/model.js';

/** Small real assets for the local Lambda service's tests, built with esbuild like a function's asset. */

/** Small handlers, one export each, in one asset (with a lazily imported chunk). */
export const TINY_SOURCE = `
export const echo = async (event, context) => {
  const first = context.getRemainingTimeInMillis();
  await new Promise((r) => setTimeout(r, 30));
  return {
    event, pid: process.pid, cwd: process.cwd(), first, second: context.getRemainingTimeInMillis(),
    context: { ...context }, env: { ...process.env }, date: new Date(0),
  };
};
export const slow = async (event) => {
  await new Promise((r) => setTimeout(r, event.ms));
  return process.pid;
};
export const crash = async () => { process.exit(3); };
export const spin = async () => { for (;;) {} };
export const fails = async () => { const e = new Error('no such grant'); e.name = 'GrantError'; throw e; };
export const lazy = async () => (await import('./lazy.js')).answer;
`;

/** A module that throws a configuration error at load unless NEEDED is set. */
export const FAILING_SOURCE = `
class ConfigurationError extends Error { name = 'ConfigurationError'; }
if (!process.env.NEEDED) throw new ConfigurationError('NEEDED is not set');
export const handler = async () => 'configured';
`;

/** Builds `files` (entry index.js) like an asset: ESM, node platform, index.mjs plus chunks/. */
export async function buildTiny(work: string, name: string, files: Record<string, string>): Promise<string> {
  const src = join(work, `${name}-src`);
  mkdirSync(src, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(src, file), text);
  const outdir = join(work, `asset.${name}`);
  await build({
    entryPoints: { index: join(src, 'index.js') },
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    splitting: true,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    logLevel: 'warning',
  });
  return outdir;
}

/** A FunctionModel for a test asset (tiny's echo handler unless overridden). */
export function model(assetDir: string, overrides: Partial<FunctionModel> = {}): FunctionModel {
  const functionName = overrides.functionName ?? 'jitdb-tiny';
  return {
    logicalId: 'TinyFn',
    functionName,
    arn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    registryName: 'tiny',
    assetDir,
    handler: 'index.echo',
    runtime: 'nodejs24.x',
    timeoutSeconds: 5,
    memoryMb: 256,
    environment: { POLICY: '/var/task/policy.json', PLAIN: 'value' },
    roleLogicalId: 'TinyRole',
    ...overrides,
  };
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
