/**
 * Builds one Lambda function's asset: `node --import tsx cdk/build-function.ts '<json>'` with
 * `{ handler, outdir, engines, policyJsonFile }`. JitFunction runs it from its asset's local bundling
 * (CDK's local bundling is synchronous, esbuild plugins need the async API, so it is a child process).
 * The asset holds index.mjs, chunks/ and their source maps, and policy.json.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildFunction, type Engine, type FunctionName, HANDLER_NAMES, handlerEntry } from './bundling.js';

export interface BuildRequest {
  handler: FunctionName;
  outdir: string;
  engines: Engine[];
  policyJsonFile: string;
}

export function parseBuildRequest(json: string): BuildRequest {
  const request = JSON.parse(json) as Partial<BuildRequest>;
  if (!HANDLER_NAMES.includes(request.handler as FunctionName))
    throw new Error(`unknown handler ${request.handler}`);
  if (typeof request.outdir !== 'string' || typeof request.policyJsonFile !== 'string')
    throw new Error('outdir and policyJsonFile are required');
  if (!Array.isArray(request.engines)) throw new Error('engines is required');
  return request as BuildRequest;
}

export async function buildAsset(request: BuildRequest): Promise<void> {
  await buildFunction({
    entry: handlerEntry(request.handler),
    outdir: request.outdir,
    engines: request.engines,
  });
  copyFileSync(request.policyJsonFile, join(request.outdir, 'policy.json'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await buildAsset(parseBuildRequest(process.argv[2] ?? '{}'));
}
