/**
 * Stands in for `zod` in Lambda bundles (the `alias` in cdk/bundling.ts). esbuild does not tree-shake zod's
 * `z`, a namespace re-exported from zod's index, so `import { z } from 'zod'` put every zod locale (~440 KB)
 * in every bundle; a direct namespace import, as here, is shaken. `z` is rebuilt from the members functions/
 * use at runtime; test/infra/bundles.test.ts fails when code starts using one that is missing here.
 */
import * as zod from '../../node_modules/zod/v4/classic/external.js';

export * from '../../node_modules/zod/v4/classic/external.js';

/** The runtime members of `z` that functions/ calls (types such as z.infer or z.core.$ZodIssue need none). */
export const z = {
  array: zod.array,
  boolean: zod.boolean,
  coerce: zod.coerce,
  discriminatedUnion: zod.discriminatedUnion,
  email: zod.email,
  enum: zod.enum,
  iso: zod.iso,
  literal: zod.literal,
  looseObject: zod.looseObject,
  NEVER: zod.NEVER,
  number: zod.number,
  object: zod.object,
  strictObject: zod.strictObject,
  string: zod.string,
  union: zod.union,
};
export default z;
