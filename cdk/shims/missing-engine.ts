/**
 * A database driver whose engine no target in this deployment's policy uses (the `alias` in
 * cdk/bundling.ts). Importing it is harmless; using it says why it is not there.
 */

export class EngineNotBundledError extends Error {
  readonly code = 'ENGINE_NOT_BUNDLED';

  constructor(engine: string) {
    super(`this deployment's policy has no ${engine} target, so its driver is not in this bundle`);
    this.name = 'EngineNotBundledError';
  }
}

/** A driver whose every property access throws EngineNotBundledError. */
export function missingDriver(engine: 'postgres' | 'mysql'): Record<string | symbol, never> {
  return new Proxy(
    {},
    {
      get(_target, key) {
        // Module interop and inspection probe these; answering them keeps `import x from` working.
        if (key === '__esModule' || key === 'then' || typeof key === 'symbol') return undefined;
        throw new EngineNotBundledError(engine);
      },
    },
  );
}
