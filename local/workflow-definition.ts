import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { ASL_PATH } from '../functions/application/workflow-io.js';
import { ASL_SUBSTITUTIONS, SUBSTITUTION_HANDLERS } from '../functions/workflow-tasks.js';

/** The ASL file as the local workflow runs it: read from the repository, placeholders filled with local ARNs. */

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The ASL text with each `${…}` replaced by the given ARN. */
export function loadDefinition(substitutions: Record<string, string>): StateMachineDefinition {
  let text = readFileSync(join(repositoryRoot, ASL_PATH), 'utf8');
  for (const [name, value] of Object.entries(substitutions)) text = text.replaceAll(`\${${name}}`, value);
  return JSON.parse(text) as StateMachineDefinition;
}

/** Local function ARNs for the placeholders: the overrides run instead, but the ARNs must validate. */
export function localSubstitutions(region = 'us-east-1', account = '000000000000'): Record<string, string> {
  return Object.fromEntries(
    ASL_SUBSTITUTIONS.map((name) => [
      name,
      `arn:aws:lambda:${region}:${account}:function:jitdb-${SUBSTITUTION_HANDLERS[name]}`,
    ]),
  );
}
