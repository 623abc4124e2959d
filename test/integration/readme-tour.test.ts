import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { main } from '../../cli/main.js';
import type { Output } from '../../cli/output.js';
import { formatEntry, type OutboxEntry } from '../../local/outbox.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { openApprovalLink, submitApprovalForm, testRuntimeOptions } from '../support/runtime.js';
import { services } from '../support/services.js';

/*
 * Runs README.md's "A five-minute tour" as written: every `$ ` line of its console blocks, in order, against
 * a runtime started here, and compares what the README shows with what really comes out. Times, relative
 * durations, approval tokens and passwords are masked; request ids in the README are placeholders, mapped
 * to the ids the tour's `request` commands really print; `npx jitdb` runs the CLI in-process (or as
 * a process when its stdin matters). Step 3 is prose; it is done as a user would: read the outbox, open
 * the link, press Approve. A README line `…` stands for any number of lines left out.
 */

const README = path.resolve('README.md');
const CLI_BIN = path.resolve('cli/bin.js');
/** Where the README's transcripts were taken: `npm start` with its defaults. */
const README_ENDPOINT = 'http://localhost:3000';
const README_PG = '127.0.0.1:54329/demo';
/** Deliberate differences from the README's commands, each applied to the command text before it runs. */
const SUBSTITUTIONS: readonly { readme: string; test: string; why: string }[] = [
  {
    readme: '--for 1m',
    test: '--for 10s',
    why: 'step 5 waits for expiry: ten seconds prove the same kill and revoke as a minute, faster',
  },
];
const ULID = /(?<![0-9a-z])[0-7][0-9a-hjkmnp-tv-z]{25}(?![0-9a-z])/g;
const ELIDED = '…';

type TourItem =
  | { kind: 'command'; step: string; command: string; output: string[] }
  | { kind: 'email'; step: string; lines: string[] };

/** The text from the tour's heading to the next `## ` heading. */
function tourSection(markdown: string): string {
  const start = markdown.indexOf('\n## A five-minute tour\n');
  if (start < 0) throw new Error('README.md has no "## A five-minute tour" section');
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** Console blocks become commands with the output shown under each; the emailed-link block is step 3. */
function parseTour(section: string): TourItem[] {
  const items: TourItem[] = [];
  let step = '';
  let fence: { info: string; lines: string[] } | undefined;
  for (const line of section.split('\n')) {
    if (fence) {
      if (line.startsWith('```')) {
        items.push(...blockItems(fence.info, fence.lines, step));
        fence = undefined;
      } else fence.lines.push(line);
      continue;
    }
    const opening = /^```(\S*)/.exec(line);
    if (opening) fence = { info: opening[1] ?? '', lines: [] };
    const heading = /^\*\*(\d+\.[^*]*)\*\*/.exec(line)?.[1];
    if (heading) step = heading;
  }
  return items;
}

function blockItems(info: string, lines: string[], step: string): TourItem[] {
  if (info === '' && lines[0]?.startsWith('✉')) return [{ kind: 'email', step, lines }];
  if (info !== 'console') return [];
  const items: (TourItem & { kind: 'command' })[] = [];
  for (const line of lines) {
    if (line.startsWith('$ ')) items.push({ kind: 'command', step, command: line.slice(2), output: [] });
    else {
      const current = items.at(-1);
      if (!current)
        throw new Error(`console block in "${step}" starts with output, not a $ command: ${line}`);
      current.output.push(line);
    }
  }
  return items;
}

/** Shell words with '…' and "…" quoting, enough for the README's commands. */
function shellWords(text: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of text.matchAll(pattern)) {
    words.push(match[1]?.replace(/\\(.)/g, '$1') ?? match[2] ?? match[3] ?? '');
  }
  return words;
}

/** Splits `a | b | c` at pipes outside quotes. */
function pipeline(command: string): string[] {
  const segments: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const char of command) {
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '|') {
      segments.push(current.trim());
      current = '';
      continue;
    }
    current += char;
  }
  segments.push(current.trim());
  return segments;
}

/** A line-by-line match where a `…` line in the README stands for zero or more lines. */
function matchesWithElision(expected: readonly string[], actual: readonly string[]): boolean {
  const [first, ...rest] = expected;
  if (first === undefined) return actual.length === 0;
  if (first === ELIDED) {
    for (let skip = 0; skip <= actual.length; skip++) {
      if (matchesWithElision(rest, actual.slice(skip))) return true;
    }
    return false;
  }
  return actual[0] === first && matchesWithElision(rest, actual.slice(1));
}

/** Hides what differs run to run; the same masks apply to the README and to the real output. */
function mask(line: string): string {
  return line
    .replace(/(\/approvals\/[0-9a-z]{26})\.[A-Za-z0-9_-]+/g, '$1.<token>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<time>')
    .replace(/\b(?:in \d+(?:h\d+m|[smhd])|\d+(?:h\d+m|[smhd]) ago)\b/g, '<relative time>')
    .replace(/^(password:\s+)\S+$/, '$1<password>')
    .replace(/(\/\/[^:/\s]+:)[^@/\s]+@/g, '$1<password>@')
    .trimEnd();
}

interface Transcript {
  code: number;
  /** stdout and stderr interleaved as a terminal shows them. */
  lines: string[];
}

function toLines(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function psqlInstalled(): boolean {
  return spawnSync('psql', ['--version'], { stdio: 'ignore' }).status === 0;
}

const suffix = randomBytes(4).toString('hex');
const demoDatabase = `demo_readme_${suffix}`;
const tour = parseTour(tourSection(readFileSync(README, 'utf8')));
const hasPsql = psqlInstalled();
let workDir: string;
let runtime: Runtime | undefined;
/** The README's placeholder request ids → the ids this run's `request` commands printed. */
const ids = new Map<string, string>();
/** The shell environment the tour's commands run in; `export` lines change it. */
const shellEnv: NodeJS.ProcessEnv = {};
let failedStep: string | undefined;

function rt(): Runtime {
  if (!runtime) throw new Error('the runtime did not start');
  return runtime;
}

function cliEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: workDir, JITDB_ENDPOINT: rt().url, ...shellEnv };
}

function realIds(text: string): string {
  return text.replace(ULID, (id) => ids.get(id) ?? id);
}

/** Real output, rewritten to the README's environment (npm start's URL and demo database), then masked. */
function normaliseActual(lines: readonly string[]): string[] {
  const admin = new URL(rt().pgAdminUrl);
  return lines.map((line) =>
    mask(
      line
        .replaceAll(rt().url, README_ENDPOINT)
        .replaceAll(`${admin.hostname}:${admin.port}/${demoDatabase}`, README_PG),
    ),
  );
}

function normaliseExpected(lines: readonly string[]): string[] {
  return lines.map((line) => mask(realIds(line)));
}

function expectShown(readmeLines: readonly string[], actual: readonly string[]): void {
  const expected = normaliseExpected(readmeLines);
  const real = normaliseActual(actual);
  // On a mismatch, compare the whole texts so the failure shows a readable diff.
  if (!matchesWithElision(expected, real)) expect(real.join('\n')).toBe(expected.join('\n'));
}

async function requestStatus(id: string): Promise<{ status: string; expiresAt?: string }> {
  const response = await fetch(`${rt().url}/requests/${id}`, {
    headers: { 'x-jitdb-user': shellEnv.JITDB_USER ?? '' },
  });
  return (await response.json()) as { status: string; expiresAt?: string };
}

/**
 * Waits, as a person typing the next command would, until the request is not mid-transition: granted
 * once approved, revoked once expired.
 */
async function settle(id: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const request = await requestStatus(id);
    const expired =
      request.status === 'ACTIVE' &&
      request.expiresAt !== undefined &&
      Date.parse(request.expiresAt) <= Date.now();
    if (request.status !== 'APPROVED' && !expired) return;
    if (Date.now() > deadline)
      throw new Error(`request ${id} is still ${request.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function runInProcess(args: string[]): Promise<Transcript> {
  const lines: string[] = [];
  const capture = (text: string) => {
    lines.push(...toLines(text.endsWith('\n') ? text : `${text}\n`));
  };
  const output: Output = { out: capture, err: capture, isTty: false };
  return { code: await main(args, output, cliEnv()), lines };
}

/** The CLI as a process, stdin piped in; `keepOpen` leaves stdin open, as a terminal session does. */
function runAsProcess(
  args: string[],
  stdin: string,
  keepOpen: boolean,
  timeoutMs = 30_000,
): Promise<Transcript> {
  return new Promise((resolve, reject) => {
    // sh sends stderr to the same pipe as stdout, so lines keep the order a terminal would show.
    const child = spawn('sh', ['-c', 'exec "$@" 2>&1', 'sh', process.execPath, CLI_BIN, ...args], {
      env: cliEnv(),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stdin.on('error', () => undefined);
    child.stdin.write(stdin);
    if (!keepOpen) child.stdin.end();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`jitdb ${args.join(' ')} still running after ${timeoutMs} ms; output so far:\n${text}`),
      );
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? -1, lines: toLines(text) });
    });
  });
}

/** Runs one README command line; returns what a terminal would show. */
async function runCommand(readmeCommand: string, readmeOutput: readonly string[]): Promise<Transcript> {
  let command = realIds(readmeCommand);
  for (const s of SUBSTITUTIONS) command = command.replaceAll(s.readme, s.test);
  const exported = /^export (\w+)=(.*)$/.exec(command);
  if (exported?.[1]) {
    shellEnv[exported[1]] = shellWords(exported[2] ?? '').join(' ');
    return { code: 0, lines: [] };
  }
  for (const id of command.match(ULID) ?? []) await settle(id);

  const segments = pipeline(command).map(shellWords);
  const jitdbAt = segments.findIndex((words) => words.slice(0, 2).join(' ') === 'npx jitdb');
  const args = segments[jitdbAt]?.slice(2);
  if (!args) throw new Error(`not a jitdb command the tour test can run: ${command}`);
  const before = segments.slice(0, jitdbAt);
  const after = segments.slice(jitdbAt + 1);

  let transcript: Transcript;
  // Lines like `demo=> select …;` are typed at psql's prompt: they are the session's input.
  const typed = readmeOutput.flatMap((line) => /^\S+=> (.*)$/.exec(line)?.[1] ?? []);
  const echoed = before[0]?.[0] === 'echo' ? `${before[0].slice(1).join(' ')}\n` : undefined;
  if (before.length > (echoed === undefined ? 0 : 1)) throw new Error(`unsupported pipeline: ${command}`);
  if (args[0] === 'connect') {
    transcript = await runAsProcess(
      args,
      echoed ?? typed.map((sql) => `${sql}\n`).join(''),
      echoed === undefined,
    );
  } else {
    transcript = await runInProcess(args);
  }
  for (const filter of after) {
    if (filter[0] !== 'grep' || filter.length !== 2) throw new Error(`unsupported pipeline: ${command}`);
    const pattern = filter[1] ?? '';
    transcript = { ...transcript, lines: transcript.lines.filter((line) => line.includes(pattern)) };
  }
  return transcript;
}

/** Remembers the real id a `request` printed in place of the README's. */
function mapRequestId(readmeOutput: readonly string[], actual: readonly string[]): void {
  const shown = /^(\S+) is /.exec(readmeOutput[0] ?? '')?.[1];
  const real = /^(\S+) is /.exec(actual[0] ?? '')?.[1];
  if (!shown || !real)
    throw new Error(`no "<id> is <STATUS>" line: README ${readmeOutput[0]}, real ${actual[0]}`);
  ids.set(shown, real);
}

async function outboxEmails(): Promise<OutboxEntry[]> {
  const response = await fetch(`${rt().url}/outbox.json`);
  return ((await response.json()) as { emails: OutboxEntry[] }).emails;
}

/** Step 3, done as a user would: find the approver's email in the outbox, open the link, press Approve. */
async function approveFromEmail(lines: readonly string[]): Promise<void> {
  const approver = /^✉ {2}mail #\d+ to (\S+)$/.exec(lines[0] ?? '')?.[1];
  const readmeLink = lines.map((l) => /open: (\S+)/.exec(l)?.[1]).find((l) => l !== undefined);
  const readmeId = /\/approvals\/([0-9a-z]{26})\./.exec(readmeLink ?? '')?.[1];
  const id = readmeId === undefined ? undefined : ids.get(readmeId);
  if (!approver || !id)
    throw new Error(`the email block names no approver or no known request:\n${lines.join('\n')}`);

  const deadline = Date.now() + 10_000;
  let email: OutboxEntry | undefined;
  while (!email) {
    email = (await outboxEmails()).find(
      (e) => e.to.includes(approver) && e.links.some((l) => l.includes(`/approvals/${id}.`)),
    );
    if (Date.now() > deadline) throw new Error(`no email to ${approver} for ${id} in the outbox`);
    if (!email) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // What npm start prints for that email is what the README shows.
  expectShown(lines, toLines(formatEntry(email)));

  const link = email.links.find((l) => l.includes(`/approvals/${id}.`)) ?? '';
  const page = await openApprovalLink(link);
  expect(page.status).toBe(200);
  expect(page.html).toContain(shellEnv.JITDB_USER ?? '');
  // Opening the link decides nothing (mail scanners open links).
  expect((await requestStatus(id)).status).toBe('PENDING');

  const decided = await submitApprovalForm(link, { csrf: page.csrf, decision: 'approve' });
  expect(decided.status).toBe(200);
  expect(decided.html).toContain('Your approval was recorded');
}

function itemName(item: TourItem): string {
  return item.kind === 'command'
    ? `${item.step} $ ${item.command}`
    : `${item.step} (the emailed link, Approve)`;
}

beforeAll(async () => {
  const admin = new URL(services().pgAdminUrl);
  workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-readme-'));
  // The policy npm start loads, pointed at the test PostgreSQL and this suite's own demo database.
  const policy = parseDocument(readFileSync('examples/policy.yaml', 'utf8'));
  const targets = policy.toJS() as { targets: { id: string }[] };
  const pgIndex = targets.targets.findIndex((t) => t.id === 'demo-pg');
  policy.setIn(['targets', pgIndex, 'connection', 'host'], admin.hostname);
  policy.setIn(['targets', pgIndex, 'connection', 'port'], Number(admin.port));
  policy.setIn(['targets', pgIndex, 'database'], demoDatabase);
  const policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(policyFile, policy.toString());
  runtime = await startRuntime(
    testRuntimeOptions(
      policyFile,
      { tablePrefix: `readme-${suffix}`, demoDatabase },
      { sweepIntervalMs: 500 },
    ),
  );
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe('README "A five-minute tour", run as written', () => {
  it('finds the tour: one emailed-link step, and only commands this test can run', () => {
    expect(tour.filter((i) => i.kind === 'email')).toHaveLength(1);
    const commands = tour.flatMap((i) => (i.kind === 'command' ? [i.command] : []));
    expect(commands[0]).toBe('export JITDB_USER=dave@example.com');
    expect(commands.slice(1).filter((c) => !c.includes('npx jitdb '))).toEqual([]);
    // A substitution that no longer applies would silently run the README's slow original.
    expect(SUBSTITUTIONS.filter((s) => !commands.some((c) => c.includes(s.readme)))).toEqual([]);
  });

  for (const item of tour) {
    it(itemName(item), async (context) => {
      if (failedStep) context.skip(`an earlier step failed: ${failedStep}`);
      let skipped: string | undefined;
      try {
        if (item.kind === 'email') {
          await approveFromEmail(item.lines);
          return;
        }
        const isConnect = / connect /.test(item.command);
        const id = realIds(item.command).match(ULID)?.[0];
        if (isConnect && !hasPsql) {
          if (id) {
            // Fetch the credentials anyway, as connect would, so the audit trail later in the tour is the same.
            await settle(id);
            expect((await runInProcess(['creds', id])).code).toBe(0);
            if (item.output.some((line) => line.startsWith('FATAL:'))) {
              // The README's session lasts until expiry; so does this stand-in for it.
              const expiresAt = Date.parse((await requestStatus(id)).expiresAt ?? '');
              await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now())));
            }
          }
          skipped = 'psql is not installed (.ci/run installs it): this connect step was not run';
          return;
        }
        const result = await runCommand(item.command, item.output);
        const endedAt = Date.now();
        if (!isConnect) expect(result.code).toBe(0);
        if (/ request /.test(item.command)) mapRequestId(item.output, result.lines);
        expectShown(
          item.output.filter((line) => !/^\S+=> /.test(line)),
          result.lines,
        );
        if (isConnect && id && item.output.some((line) => line.startsWith('FATAL:'))) {
          // The open session ended because the grant expired: at expiry, not before, and promptly.
          const expiresAt = Date.parse((await requestStatus(id)).expiresAt ?? '');
          expect(endedAt).toBeGreaterThanOrEqual(expiresAt);
          expect(endedAt - expiresAt).toBeLessThan(5_000);
        }
      } catch (error) {
        failedStep = itemName(item);
        throw error;
      } finally {
        // Outside the try: skip() throws, and a skip is not a failure.
        if (skipped) context.skip(skipped);
      }
    });
  }

  it('leaves no database user behind for the tour’s requests', async (context) => {
    if (failedStep) context.skip(`an earlier step failed: ${failedStep}`);
    expect(ids.size).toBe(2);
    const admin = new pg.Client({ connectionString: rt().pgAdminUrl });
    await admin.connect();
    try {
      for (const id of ids.values()) {
        await settle(id);
        const users = await admin.query('SELECT rolname FROM pg_roles WHERE rolname = $1', [`jit_${id}`]);
        expect(users.rows).toEqual([]);
      }
    } finally {
      await admin.end();
    }
  });
});
