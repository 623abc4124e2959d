/**
 * The one reviewed list of permissions the template grants and the least-privilege scenario (scenario.ts)
 * never uses: per registry function name, each action (optionally one resource pattern, by suffix) with a
 * one-line reason. A reason starting "to remove:" marks a grant that should leave the CDK code.
 */
import type { FunctionName } from '../../functions/function-registry.js';
import type { UnusedEntry } from './iam-report.js';

export const UNUSED_PERMISSIONS: Readonly<Partial<Record<FunctionName, readonly UnusedEntry[]>>> = {};
