/**
 * The package's entry point: `import { JitDbAccess, JitDbAccessTables } from 'jit-db-access'`.
 * What is exported here is the public, semver-covered surface (see README, "Use it in your CDK app").
 */

export type { Policy, PolicyInput } from '../functions/domain/policy-schema.js';
export { PolicyFileError, validatePolicyData } from '../functions/shared/config.js';
export {
  JitDbAccess,
  type JitDbAccessProps,
  type JitDbAccessTableSet,
  JitDbAccessTables,
  type JitDbAccessTablesProps,
} from './jit-db-access.js';
