import type { RequestableTarget } from '../../functions/domain/authz.js';
import { formatDuration } from '../../functions/domain/duration.js';
import { type Command, printResult } from '../command.js';
import { table } from '../output.js';

/** One entry of GET /targets: a target's public facts and its levels, never how to reach it. */
export type TargetView = RequestableTarget;

export const targetsCommand: Command = {
  name: 'targets',
  summary: 'the databases you can ask for, and their access levels',
  args: [],
  options: {},
  examples: ['jitdb targets'],
  async run(context) {
    const body = await context.client.get<{ targets: TargetView[] } | TargetView[]>('/targets');
    const targets = Array.isArray(body) ? body : body.targets;
    printResult(context, targets, () =>
      table(levelRows(targets), [
        { header: 'TARGET', value: (r) => r.target.id },
        { header: 'ENGINE', value: (r) => r.target.engine },
        { header: 'ENV', value: (r) => r.target.environment },
        { header: 'LEVEL', value: (r) => r.level.name + kindsNote(r.level.requests) },
        {
          header: 'MAX',
          value: (r) => formatDuration(r.level.maxDuration),
        },
        {
          header: 'APPROVAL',
          value: (r) =>
            r.level.autoApproveUpTo === undefined
              ? `${r.level.approvalsRequired} approver(s)`
              : `auto ≤ ${formatDuration(r.level.autoApproveUpTo)}, else ${r.level.approvalsRequired} approver(s)`,
        },
        { header: 'DESCRIPTION', value: (r) => r.level.description ?? r.target.description },
      ]),
    );
    return 0;
  },
};

/** A level that takes statement requests says so after its name (`jitdb run`); window-only ones say nothing. */
function kindsNote(requests: TargetView['levels'][number]['requests'] | undefined): string {
  if (!requests?.includes('statement')) return '';
  return requests.includes('window') ? ' (+statements)' : ' (statements only)';
}

/** One row per level, each with its target. */
function levelRows(
  targets: readonly TargetView[],
): { target: TargetView; level: TargetView['levels'][number] }[] {
  return targets.flatMap((t) => t.levels.map((level) => ({ target: t, level })));
}
