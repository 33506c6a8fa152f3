import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'in-process',
          include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/adapters/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Installs or finds the real collector, Prometheus and redis-server (scripts/ensure-tools.sh).
          globalSetup: ['test/e2e/helpers/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 1_200_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
