import { missingDriver } from './missing-engine.js';

/** `mysql2/promise` in bundles whose policy has no mysql target. */
export default missingDriver('mysql');
