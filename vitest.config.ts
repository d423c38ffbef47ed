import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '**/dist/**'],
    // Harness children are tied to the process that spawned them (see test/bench/reaper),
    // so each test file runs in its own forked process, not a worker thread.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/bench/global-setup.ts'],
  },
});
