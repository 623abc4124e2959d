#!/usr/bin/env node
// The `jitdb` executable. From the package: the compiled CLI in dist/. From a checkout (main.ts beside this
// file): the TypeScript sources through tsx, no build step.
import { existsSync } from 'node:fs';

let main;
if (existsSync(new URL('./main.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
