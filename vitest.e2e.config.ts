import { defineConfig } from 'vitest/config';

/** The tour against a deployed stack (JITDB_API_URL): no local services, one file at a time, patient timeouts. */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
