/**
 * README's "Use it in your CDK app" table of `JitDbAccess` props is checked against the type itself
 * (cdk/jit-db-access.ts): the same props, and "required" exactly for the props without `?`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const source = readFileSync('cdk/jit-db-access.ts', 'utf8');
const readme = readFileSync('README.md', 'utf8');

/** The props an interface of the source declares: name → optional. */
function propsOf(name: string): Map<string, boolean> {
  const start = source.indexOf(`export interface ${name} `);
  if (start < 0) throw new Error(`no interface ${name}`);
  const body = source.slice(source.indexOf('{', start), source.indexOf('\n}\n', start));
  const props = new Map<string, boolean>();
  for (const match of body.matchAll(/^ {2}readonly (\w+)(\??):/gm))
    props.set(match[1] ?? '', match[2] === '?');
  const parents = /extends ([\w, ]+) \{/.exec(source.slice(start, source.indexOf('{', start) + 1))?.[1];
  for (const parent of parents?.split(',').map((p) => p.trim()) ?? [])
    for (const [prop, optional] of propsOf(parent)) props.set(prop, optional);
  return props;
}

/** The README table's rows: prop → its default column. */
function readmeRows(): Map<string, string> {
  const section = readme.slice(readme.indexOf('## Use it in your CDK app'));
  const table = section.slice(section.indexOf('| prop | default | what it is |'));
  const rows = new Map<string, string>();
  for (const line of table.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [, prop = '', defaultText = ''] = line.split('|').map((cell) => cell.trim());
    rows.set(prop.replace(/`/g, ''), defaultText);
  }
  return rows;
}

describe("README's JitDbAccess props table", () => {
  it('lists exactly the props of JitDbAccessProps, "required" for exactly the ones without a default', () => {
    const props = propsOf('JitDbAccessProps');
    const rows = readmeRows();
    expect([...rows.keys()].sort()).toEqual([...props.keys()].sort());
    for (const [prop, optional] of props)
      expect({ prop, required: rows.get(prop) === 'required' }).toEqual({ prop, required: !optional });
  });
});
