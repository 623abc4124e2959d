import { UsageError } from '../client.js';
import type { Command } from '../command.js';

export const policyCommand: Command = {
  name: 'policy',
  summary: 'check a policy file locally (no server needed)',
  description: 'Check a policy file as synth and the Lambdas will: every problem is printed with its path.',
  args: ['check', '<file>'],
  options: {},
  examples: ['jitdb policy check examples/policy.yaml'],
  async run(context, input) {
    const [sub, file] = input.positionals;
    if (sub !== 'check' || file === undefined) throw new UsageError('usage: jitdb policy check <file>');
    // Loaded on demand: zod and yaml are not worth their start-up time for the other commands.
    const { loadPolicyFile, PolicyFileError } = await import('../../functions/shared/config.js');
    try {
      const policy = loadPolicyFile(file);
      const levels = policy.targets.reduce((n, t) => n + Object.keys(t.levels).length, 0);
      if (context.config.json) {
        context.output.out(JSON.stringify({ ok: true, targets: policy.targets.length, levels }, null, 2));
      } else {
        context.output.out(`${file}: ok (${policy.targets.length} target(s), ${levels} level(s))`);
      }
      return 0;
    } catch (error) {
      if (!(error instanceof PolicyFileError)) throw error;
      if (context.config.json) {
        context.output.out(JSON.stringify({ ok: false, problems: error.problems }, null, 2));
      } else {
        context.output.err(`${file}: ${error.problems.length} problem(s)`);
        for (const problem of error.problems) context.output.err(`  ${problem}`);
      }
      return 1;
    }
  },
};
