/**
 * `npm run iam-report`: starts an ephemeral assembly runtime on free ports, runs the least-privilege scenario,
 * writes test-results/iam-report.md and .json, prints the per-function summary, and exits 1 on a denied call
 * or an unused permission the reviewed list (unused-permissions.ts) does not explain.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './cloud-assembly.js';
import {
  buildIamReport,
  type IamReport,
  type ReviewedUnused,
  renderJson,
  renderMarkdown,
  reviewUnused,
  summarize,
} from './iam-report.js';
import type { AssemblyRuntime } from './runtime.js';
import { runScenario, startScenarioRuntime } from './scenario.js';
import { UNUSED_PERMISSIONS } from './unused-permissions.js';

/** The report of a runtime after its scenario, reviewed against the list, and where it was written. */
export interface WrittenReport {
  report: IamReport;
  unused: ReviewedUnused[];
  stale: ReturnType<typeof reviewUnused>['stale'];
  files: { markdown: string; json: string };
}

/** Builds the report from the runtime's recorded calls and writes iam-report.md/.json under `dir`. */
export function writeIamReport(
  runtime: AssemblyRuntime,
  dir = join(REPO_ROOT, 'test-results'),
): WrittenReport {
  const ran = new Set(
    runtime.model.functions
      .filter((f) => runtime.lambda.coldStarts.has(f.functionName))
      .map((f) => f.logicalId),
  );
  const report = buildIamReport(runtime.model, runtime.gatekeeper.calls, ran);
  const { unused, stale } = reviewUnused(report, UNUSED_PERMISSIONS);
  mkdirSync(dir, { recursive: true });
  const files = { markdown: join(dir, 'iam-report.md'), json: join(dir, 'iam-report.json') };
  writeFileSync(files.markdown, renderMarkdown(report, unused));
  writeFileSync(files.json, renderJson(report, unused));
  return { report, unused, stale, files };
}

/** Whether the report passes: no denied call, no unexplained unused permission, no stale list entry. */
export function reportProblems(written: WrittenReport): string[] {
  return [
    ...written.report.denied.map((d) => `denied: ${d.holder} ${d.action} on ${d.resource}`),
    ...written.unused
      .filter((u) => u.reason === undefined)
      .map((u) => `unexplained unused: ${u.registryName} ${u.action} on ${u.resource}`),
    ...written.stale.map(
      (s) => `stale list entry (${s.why}): ${s.registryName} ${s.entry.action} ${s.entry.resource ?? ''}`,
    ),
    ...written.report.functions.filter((f) => !f.ran).map((f) => `never ran: ${f.registryName}`),
  ];
}

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const runtime = await startScenarioRuntime({ log: process.env.IAM_REPORT_VERBOSE ? log : undefined });
  let written: WrittenReport;
  try {
    await runScenario(runtime, { log });
    written = writeIamReport(runtime);
  } finally {
    await runtime.stop();
  }
  const rows = summarize(written.report, written.unused);
  const pad = (s: string | number, n: number) => String(s).padEnd(n);
  process.stdout.write(
    `${pad('function', 26)}${pad('granted', 9)}${pad('used', 6)}${pad('not-emulated', 14)}${pad('unused-justified', 18)}${pad('unused-unexplained', 20)}denied\n`,
  );
  for (const r of rows) {
    process.stdout.write(
      `${pad(r.registryName, 26)}${pad(r.granted, 9)}${pad(r.used, 6)}${pad(r.notEmulated, 14)}${pad(r.unusedJustified, 18)}${pad(r.unusedUnexplained, 20)}${r.denied}\n`,
    );
  }
  process.stdout.write(`\n${written.files.markdown}\n${written.files.json}\n`);
  const problems = reportProblems(written);
  for (const problem of problems) process.stderr.write(`${problem}\n`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

// Run as the entry (`tsx local/assembly/iam-report-main.ts`), not when the test imports writeIamReport.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
