/**
 * Install hygiene (#16): the committed lockfile is the one `npm install` writes on any platform, so `npm ci`
 * accepts it everywhere and a fresh clone stays clean after install. npm drops an optional dependency that
 * does not fit the platform it ran on unless the lockfile already lists it; a lockfile written on one machine
 * by an older npm missed other platforms' builds (@biomejs/cli-*, @rollup/rollup-*), which `npm ci` refused.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockPackage {
  version?: string;
  optionalDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, LockPackage>;
};
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

/** Where npm would resolve `name` from the package at `from` (node_modules lookup up the tree). */
function resolve(from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (base === '') return undefined;
    const at = base.lastIndexOf('/node_modules/');
    base = at < 0 ? '' : base.slice(0, at);
  }
}

describe('package-lock.json', () => {
  it('is a version 3 lockfile for this package and lists every direct dependency', () => {
    expect(lock.lockfileVersion).toBe(3);
    const root = lock.packages[''] as LockPackage & {
      name?: string;
      devDependencies?: Record<string, string>;
    };
    expect(root.name).toBe(manifest.name);
    expect(root.version).toBe(manifest.version);
    expect(root.dependencies ?? {}).toEqual(manifest.dependencies ?? {});
    expect(root.devDependencies ?? {}).toEqual(manifest.devDependencies ?? {});
  });

  it("lists every optional dependency for every platform, not only this machine's", () => {
    const missing: string[] = [];
    for (const [path, pkg] of Object.entries(lock.packages)) {
      for (const name of Object.keys(pkg.optionalDependencies ?? {})) {
        if (!resolve(path, name)) missing.push(`${path || '(root)'} → ${name}`);
      }
    }
    expect(missing).toEqual([]);
    expect(
      Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/@biomejs/cli-')).length,
    ).toBeGreaterThan(4);
  });
});
