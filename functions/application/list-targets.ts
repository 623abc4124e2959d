import { type RequestableTarget, requestableTargets } from '../domain/authz.js';
import type { Identity } from '../domain/types.js';
import type { Deps } from './ports.js';

/** Targets and levels the caller can ask for, with the rules that will apply to them. */
export function listTargets(input: { caller: Identity }, deps: Deps): { targets: RequestableTarget[] } {
  return { targets: requestableTargets(deps.policy.policy(), input.caller) };
}
