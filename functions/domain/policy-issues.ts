import type * as z from 'zod/mini';

/**
 * Renders zod issues as `targets[2].levels.read.maxDuration: must be ≤ 12h`, one per line. Unknown keys get
 * a line each with their own path; a union (the connection) reports the branch that came closest; an
 * invalid record key reports why.
 */
export function formatPolicyIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines = flattenIssues(issues, []).map(({ path, message }) => `${formatPath(path)}: ${message}`);
  return [...new Set(lines)];
}

function flattenIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[],
): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown key' });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // The branch with the fewest issues is the one the author most likely meant.
      const closest = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      out.push(...flattenIssues(closest, path));
    } else if (issue.code === 'invalid_key') {
      const reasons = flattenIssues(issue.issues, []).map((i) => i.message);
      out.push({ path, message: `invalid key: ${reasons.join('; ') || issue.message}` });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** Renders an issue path as `targets[2].levels.read`; `(root)` for the empty path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}
