import { missingDriver } from './missing-engine.js';

/** `pg` in bundles whose policy has no postgres target. */
export default missingDriver('postgres');
