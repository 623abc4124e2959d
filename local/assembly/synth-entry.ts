/**
 * Synthesizes the app into CDK_OUTDIR for assembly mode (local/assembly/cloud-assembly.ts runs it in a child
 * process), exactly as `cdk synth` does: `tsx local/assembly/synth-entry.ts '{"context":{…},"account":"…","region":"…"}'`.
 */
import { synthesizeOrExit } from '../../cdk/app.js';

interface SynthRequest {
  context: Record<string, unknown>;
  account: string;
  region: string;
}

const request = JSON.parse(process.argv[2] ?? '{}') as SynthRequest;
synthesizeOrExit(request.context, { account: request.account, region: request.region });
