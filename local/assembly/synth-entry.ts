/**
 * Synthesizes the app into CDK_OUTDIR for assembly mode (local/assembly/cloud-assembly.ts runs it in a child
 * process): `tsx local/assembly/synth-entry.ts '{"context":{…},"account":"…","region":"…"}'`.
 */
import { buildApp } from '../../cdk/app.js';
import { PolicyFileError } from '../../functions/shared/config.js';

interface SynthRequest {
  context: Record<string, unknown>;
  account: string;
  region: string;
}

const request = JSON.parse(process.argv[2] ?? '{}') as SynthRequest;
try {
  buildApp(request.context, { account: request.account, region: request.region }).app.synth();
} catch (error) {
  if (error instanceof PolicyFileError) {
    console.error(error.message);
    for (const problem of error.problems) console.error(`  ${problem}`);
    process.exit(1);
  }
  throw error;
}
