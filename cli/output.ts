/** Where a command writes. Injected so tests (and --json) can capture it. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is a terminal: spinners and colour only then. */
  isTty: boolean;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTty: process.stdout.isTTY === true,
};

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | undefined;
}

/** A plain, aligned text table; the last column is never padded so long reasons do not leave trailing space. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** `key: value` lines with aligned values; undefined values are left out. */
export function facts(entries: readonly [string, string | number | boolean | undefined][]): string {
  const present = entries.filter((e): e is [string, string | number | boolean] => e[1] !== undefined);
  const width = Math.max(0, ...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cellText(v)}`).join('\n');
}

function cellText(value: string | number | boolean | undefined): string {
  if (value === undefined) return '-';
  // Table cells are one line: a reason with a newline must not break the layout.
  return String(value).replace(/[\r\n\t]+/g, ' ');
}

/** `in 29m`, `3m ago`, relative to now, for human tables. */
export function relativeTime(iso: string | undefined, now: Date = new Date()): string | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso) - now.getTime();
  if (Number.isNaN(ms)) return iso;
  const abs = Math.abs(ms);
  const text =
    abs < 60_000
      ? `${Math.round(abs / 1000)}s`
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)}m`
        : abs < 86_400_000
          ? `${Math.floor(abs / 3_600_000)}h${Math.round((abs % 3_600_000) / 60_000)}m`
          : `${Math.round(abs / 86_400_000)}d`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}
