/**
 * Assembly mode's least-privilege report (issue #14), pure: from the assembly model (each function's role
 * policies as the template states them) and the gatekeeper's recorded decisions, what each function was
 * granted, what it used, what it was granted and never used, and every denied call.
 *
 * Matching a used call to the statement that allowed it is plain IAM wildcard matching (`*` any run of
 * characters, `?` one; actions case-insensitive, resources case-sensitive) of the call's action and resource
 * against each Allow statement's Action and Resource as written. The gatekeeper's decision itself came from
 * the IAM simulator (iam-evaluate.ts); this matching only attributes an allowed call to a grant. Statements
 * with NotAction/NotResource or conditions are listed as written and matched on Action/Resource alone.
 *
 * X-Ray (`xray:`) and CloudWatch Logs (`logs:`) grants serve the Lambda runtime itself (tracing, log
 * delivery), which assembly mode does not emulate: they are listed, marked "not emulated locally", and are
 * never counted as unused.
 */
import type { RecordedCall } from './gatekeeper.js';
import type { AssemblyModel, PolicyStatement } from './model.js';

/** Services whose grants nothing local exercises (the Lambda runtime's tracing and log delivery). */
export const NOT_EMULATED_SERVICES = ['xray', 'logs'] as const;

/** One granted (action, resource pattern) pair of an Allow statement, with what the suite did with it. */
export interface GrantUse {
  action: string;
  resource: string;
  /** The policy name and statement index (or Sid) it comes from. */
  statement: string;
  /** Calls this pair allowed (attributed to the first matching pair in template order). */
  calls: number;
  /** The distinct resources called through it. */
  usedResources: string[];
  notEmulated: boolean;
}

/** One distinct allowed call and the grant that allowed it. */
export interface UsedCall {
  action: string;
  resource: string;
  calls: number;
  /** `<action pattern> on <resource pattern>` of the allowing grant; undefined if no statement matches. */
  allowedBy?: string;
}

/** What one function was granted and used. */
export interface FunctionReport {
  logicalId: string;
  registryName: string;
  roleLogicalId: string;
  /** Whether any call of its session was recorded or it was invoked (set by the caller: `ran`). */
  ran: boolean;
  grants: GrantUse[];
  used: UsedCall[];
  /** Granted (action, resource pattern) pairs with no call, X-Ray and Logs excluded. */
  unusedPairs: { action: string; resource: string }[];
  /** Granted actions with no call on any of their resources, X-Ray and Logs excluded. */
  unusedActions: string[];
  denied: RecordedCall[];
  /** Sorted IAM service prefixes of its Allow statements (xray and logs included). */
  services: string[];
}

export interface IamReport {
  functions: FunctionReport[];
  /** Every denied call, of any holder (functions, the state machine, people). */
  denied: RecordedCall[];
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Whether an IAM pattern (`*`, `?`) matches a value; case-insensitive for actions. */
export function iamMatches(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

const serviceOf = (action: string): string => action.split(':')[0]?.toLowerCase() ?? '';
const isNotEmulated = (action: string): boolean =>
  (NOT_EMULATED_SERVICES as readonly string[]).includes(serviceOf(action));

/** Each Allow statement's actions × resources of one role, in template order. */
export function grantedPairs(
  model: Pick<AssemblyModel, 'roles'>,
  roleLogicalId: string,
): Omit<GrantUse, 'calls' | 'usedResources'>[] {
  const role = model.roles.find((r) => r.logicalId === roleLogicalId);
  if (!role) return [];
  const pairs: Omit<GrantUse, 'calls' | 'usedResources'>[] = [];
  for (const policy of role.policies) {
    const statements: PolicyStatement[] = asList(policy.document.Statement);
    statements.forEach((s, i) => {
      if (s.Effect !== 'Allow') return;
      const resources = asList(s.Resource);
      for (const action of asList(s.Action)) {
        for (const resource of resources.length > 0 ? resources : ['*']) {
          pairs.push({
            action,
            resource,
            statement: `${policy.name}#${s.Sid ?? i}`,
            notEmulated: isNotEmulated(action),
          });
        }
      }
    });
  }
  return pairs;
}

/** Computes the report; `ran` names the functions (logical ids) that were invoked at least once. */
export function buildIamReport(
  model: Pick<AssemblyModel, 'functions' | 'roles'>,
  calls: readonly RecordedCall[],
  ran: ReadonlySet<string> = new Set(),
): IamReport {
  const functions = model.functions.map((fn): FunctionReport => {
    const grants: GrantUse[] = grantedPairs(model, fn.roleLogicalId).map((g) => ({
      ...g,
      calls: 0,
      usedResources: [],
    }));
    const mine = calls.filter((c) => c.holder === fn.logicalId);
    const used = new Map<string, UsedCall>();
    for (const call of mine) {
      if (!call.allowed) continue;
      const grant = grants.find(
        (g) => iamMatches(g.action, call.action, true) && iamMatches(g.resource, call.resource),
      );
      if (grant) {
        grant.calls += 1;
        if (!grant.usedResources.includes(call.resource)) grant.usedResources.push(call.resource);
      }
      const key = `${call.action} ${call.resource}`;
      const entry = used.get(key) ?? {
        action: call.action,
        resource: call.resource,
        calls: 0,
        ...(grant ? { allowedBy: `${grant.action} on ${grant.resource}` } : {}),
      };
      entry.calls += 1;
      used.set(key, entry);
    }
    const counted = grants.filter((g) => !g.notEmulated);
    const unusedPairs = counted
      .filter((g) => g.calls === 0)
      .map((g) => ({ action: g.action, resource: g.resource }));
    const actions = [...new Set(counted.map((g) => g.action))];
    const unusedActions = actions.filter((a) => counted.every((g) => g.action !== a || g.calls === 0));
    return {
      logicalId: fn.logicalId,
      registryName: fn.registryName,
      roleLogicalId: fn.roleLogicalId,
      ran: ran.has(fn.logicalId) || mine.length > 0,
      grants,
      used: [...used.values()].sort(
        (a, b) => a.action.localeCompare(b.action) || a.resource.localeCompare(b.resource),
      ),
      unusedPairs,
      unusedActions,
      denied: mine.filter((c) => !c.allowed),
      services: [...new Set(grants.map((g) => serviceOf(g.action)))].sort(),
    };
  });
  return { functions, denied: calls.filter((c) => !c.allowed) };
}

/** A granted-never-used pair, with the reviewed list's reason if it has one. */
export interface ReviewedUnused {
  registryName: string;
  action: string;
  resource: string;
  reason?: string;
}

/** One entry of the reviewed list: an action (and optionally one resource pattern, by suffix) never used. */
export interface UnusedEntry {
  action: string;
  /** A suffix of the granted resource pattern; absent: the action on every resource it is granted on. */
  resource?: string;
  reason: string;
}

/** Whether a reviewed-list entry covers one unused pair. */
export function entryCovers(entry: UnusedEntry, pair: { action: string; resource: string }): boolean {
  return (
    entry.action === pair.action && (entry.resource === undefined || pair.resource.endsWith(entry.resource))
  );
}

/** Each unused pair with its reason, and the list's stale entries (no longer granted, or used after all). */
export function reviewUnused(
  report: IamReport,
  list: Readonly<Record<string, readonly UnusedEntry[]>>,
): { unused: ReviewedUnused[]; stale: { registryName: string; entry: UnusedEntry; why: string }[] } {
  const unused: ReviewedUnused[] = [];
  const stale: { registryName: string; entry: UnusedEntry; why: string }[] = [];
  for (const fn of report.functions) {
    const entries = list[fn.registryName] ?? [];
    for (const pair of fn.unusedPairs) {
      const entry = entries.find((e) => entryCovers(e, pair));
      unused.push({ registryName: fn.registryName, ...pair, ...(entry ? { reason: entry.reason } : {}) });
    }
    for (const entry of entries) {
      const granted = fn.grants.filter((g) => entryCovers(entry, g));
      if (granted.length === 0) stale.push({ registryName: fn.registryName, entry, why: 'not granted' });
      else if (granted.some((g) => g.calls > 0))
        stale.push({ registryName: fn.registryName, entry, why: 'used' });
    }
  }
  for (const name of Object.keys(list)) {
    if (!report.functions.some((f) => f.registryName === name)) {
      for (const entry of list[name] ?? [])
        stale.push({ registryName: name, entry, why: 'no such function' });
    }
  }
  return { unused, stale };
}

/** Per-function figures: granted pairs, used pairs, unused justified/unexplained, denied calls. */
export interface SummaryRow {
  registryName: string;
  granted: number;
  used: number;
  notEmulated: number;
  unusedJustified: number;
  unusedUnexplained: number;
  denied: number;
}

/** The summary the CLI prints and the Markdown opens with. */
export function summarize(report: IamReport, unused: readonly ReviewedUnused[]): SummaryRow[] {
  return report.functions.map((fn) => {
    const mine = unused.filter((u) => u.registryName === fn.registryName);
    return {
      registryName: fn.registryName,
      granted: fn.grants.length,
      used: fn.grants.filter((g) => g.calls > 0).length,
      notEmulated: fn.grants.filter((g) => g.notEmulated).length,
      unusedJustified: mine.filter((u) => u.reason !== undefined).length,
      unusedUnexplained: mine.filter((u) => u.reason === undefined).length,
      denied: fn.denied.length,
    };
  });
}

const cell = (text: string): string => text.replaceAll('|', '\\|');

/** The report as Markdown: a summary table, then a section per function (grant → used? how many calls). */
export function renderMarkdown(report: IamReport, unused: readonly ReviewedUnused[]): string {
  const lines = [
    '# Least-privilege report (assembly mode)',
    '',
    'Granted pairs are each Allow statement’s actions × resources as the template writes them. X-Ray and',
    'CloudWatch Logs grants serve the Lambda runtime, which assembly mode does not emulate: listed, not counted.',
    '',
    '| function | granted | used | not emulated | unused (justified) | unused (unexplained) | denied |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...summarize(report, unused).map(
      (r) =>
        `| ${r.registryName} | ${r.granted} | ${r.used} | ${r.notEmulated} | ${r.unusedJustified} | ${r.unusedUnexplained} | ${r.denied} |`,
    ),
    '',
    `Denied calls (all holders): ${report.denied.length}`,
    ...report.denied.map((d) => `- ${d.holder}: ${d.action} on ${d.resource}`),
  ];
  for (const fn of report.functions) {
    lines.push('', `## ${fn.registryName} (${fn.logicalId})`, '', `Ran: ${fn.ran ? 'yes' : 'NO'}`, '');
    lines.push('| action | resource | used? | calls | note |', '| --- | --- | --- | ---: | --- |');
    for (const g of fn.grants) {
      const reason = unused.find(
        (u) => u.registryName === fn.registryName && u.action === g.action && u.resource === g.resource,
      )?.reason;
      const note = g.notEmulated ? 'not emulated locally' : g.calls > 0 ? '' : (reason ?? '**UNEXPLAINED**');
      const usedText = g.notEmulated ? '—' : g.calls > 0 ? 'yes' : 'no';
      lines.push(`| ${g.action} | ${cell(g.resource)} | ${usedText} | ${g.calls} | ${cell(note)} |`);
    }
    if (fn.unusedActions.length > 0)
      lines.push('', `Never used on any resource: ${fn.unusedActions.join(', ')}`);
    lines.push('', '| used action | resource | calls | allowed by |', '| --- | --- | ---: | --- |');
    for (const u of fn.used) {
      lines.push(
        `| ${u.action} | ${cell(u.resource)} | ${u.calls} | ${cell(u.allowedBy ?? '**no statement matches**')} |`,
      );
    }
    if (fn.denied.length > 0) {
      lines.push('', '**Denied:**', ...fn.denied.map((d) => `- ${d.action} on ${d.resource}`));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The report as JSON: the computation, the reviewed unused pairs and the summary. */
export function renderJson(report: IamReport, unused: readonly ReviewedUnused[]): string {
  return `${JSON.stringify({ summary: summarize(report, unused), unused, ...report }, null, 2)}\n`;
}
