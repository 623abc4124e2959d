import { inject } from 'vitest';
import type { Services } from './global-setup.js';

/** The shared real services, started once per run by global-setup.ts. */
export function services(): Services {
  return inject('services');
}
