import { defineConfig } from 'vitest/config';

/**
 * `npm run soak` (scripts/soak.mjs): the checker on random seeds for TAP_SOAK_MINUTES, on the native
 * cluster the global setup starts. Not part of `npm test` (its include pattern ends in .test.ts).
 */
export default defineConfig({
  test: {
    include: ['test/equivalence/soak-run.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 24 * 3600_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
