import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Email, Mailer } from '../functions/application/ports.js';

/** One captured email, as kept in memory, in outbox.jsonl and served at /outbox.json. */
export interface OutboxEntry {
  /** 1, 2, 3… in arrival order (continues across restarts when persisted). */
  id: number;
  at: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Every http(s) URL in the mail, in order of first appearance. */
  links: string[];
}

export interface OutboxOptions {
  /** outbox.jsonl is appended here; absent: memory only (ephemeral runs, tests). */
  file?: string;
  /** Where the compact block for each email goes; default stdout. `false` prints nothing. */
  print?: ((block: string) => void) | false;
  clock?: () => Date;
}

const URL_PATTERN = /https?:\/\/[^\s"'<>]+/g;

/** Stands in for SES locally: keeps every email, prints a compact block, serves them at /outbox. */
export class OutboxMailer implements Mailer {
  private readonly entries: OutboxEntry[] = [];
  private readonly listeners = new Set<(entry: OutboxEntry) => void>();

  constructor(private readonly options: OutboxOptions = {}) {
    if (options.file) {
      mkdirSync(path.dirname(options.file), { recursive: true });
      this.entries.push(...readEntries(options.file));
    }
  }

  async send(email: Email): Promise<void> {
    const entry: OutboxEntry = {
      id: (this.entries.at(-1)?.id ?? 0) + 1,
      at: (this.options.clock?.() ?? new Date()).toISOString(),
      to: [...email.to],
      subject: email.subject,
      text: email.text,
      html: email.html,
      links: extractLinks(`${email.text}\n${email.html}`),
    };
    this.entries.push(entry);
    if (this.options.file) appendFileSync(this.options.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    if (this.options.print !== false) (this.options.print ?? printToStdout)(formatEntry(entry));
    for (const listener of this.listeners) listener(entry);
  }

  /** Newest first, as the /outbox page shows them. */
  list(): OutboxEntry[] {
    return [...this.entries].reverse();
  }

  /** Resolves with the first email (already captured or future) that matches; for tests and `--wait` demos. */
  waitFor(match: (entry: OutboxEntry) => boolean, timeoutMs = 10_000): Promise<OutboxEntry> {
    const found = this.entries.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = (entry: OutboxEntry) => {
        if (!match(entry)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(entry);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no matching email within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }
}

export function extractLinks(text: string): string[] {
  const links = (text.match(URL_PATTERN) ?? []).map((url) =>
    url.replace(/[).,;]+$/, '').replace(/&amp;/g, '&'),
  );
  return [...new Set(links)];
}

/** The compact stdout block: who, what, and the links to act on. */
export function formatEntry(entry: OutboxEntry): string {
  const approvalLinks = entry.links.filter((l) => l.includes('/approvals/'));
  const shown = approvalLinks.length > 0 ? approvalLinks : entry.links;
  return [
    `✉  mail #${entry.id} to ${entry.to.join(', ')}`,
    `   subject: ${entry.subject}`,
    ...shown.map((link) => `   ${approvalLinks.length > 0 ? 'open' : 'link'}: ${link}`),
  ].join('\n');
}

function printToStdout(block: string): void {
  process.stdout.write(`${block}\n`);
}

function readEntries(file: string): OutboxEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: OutboxEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as OutboxEntry);
    } catch {
      // A line torn by a crash mid-write is dropped, not fatal.
    }
  }
  return entries;
}
