/**
 * Stands in for `zod` in Lambda bundles (the `alias` in cdk/bundling.ts). esbuild does not tree-shake zod's
 * `z`, a namespace re-exported from zod's index, so `import { z } from 'zod'` put every zod locale (~440 KB)
 * in every bundle; a direct namespace import, as here, is shaken, and `z` is rebuilt as a plain object.
 */
import * as zod from '../../node_modules/zod/v4/classic/external.js';

export * from '../../node_modules/zod/v4/classic/external.js';

/**
 * The runtime members of `z`: the schema builders and helpers, not the locales, JSON Schema conversion or
 * registries (types such as z.infer or z.core.$ZodIssue need nothing here). test/infra/bundles.test.ts fails
 * when functions/ uses a member missing here.
 */
export const z = {
  any: zod.any,
  array: zod.array,
  bigint: zod.bigint,
  boolean: zod.boolean,
  coerce: zod.coerce,
  custom: zod.custom,
  date: zod.date,
  discriminatedUnion: zod.discriminatedUnion,
  email: zod.email,
  enum: zod.enum,
  instanceof: zod.instanceof,
  int: zod.int,
  intersection: zod.intersection,
  iso: zod.iso,
  lazy: zod.lazy,
  literal: zod.literal,
  looseObject: zod.looseObject,
  map: zod.map,
  NEVER: zod.NEVER,
  never: zod.never,
  null: zod.null,
  nullable: zod.nullable,
  number: zod.number,
  object: zod.object,
  optional: zod.optional,
  pipe: zod.pipe,
  preprocess: zod.preprocess,
  record: zod.record,
  set: zod.set,
  strictObject: zod.strictObject,
  string: zod.string,
  transform: zod.transform,
  tuple: zod.tuple,
  undefined: zod.undefined,
  union: zod.union,
  unknown: zod.unknown,
  url: zod.url,
  uuid: zod.uuid,
  ZodError: zod.ZodError,
};
export default z;
