import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          // Unit, SDK-integration and adapter tests: everything that runs inside this process
          // (or a spawned Node), with no external service.
          name: 'in-process',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**', 'test/claude-agent-sdk/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          // The Claude Agent SDK adapter against the real Claude Code CLI (the SDK's native binary,
          // installed by npm) and a loopback fake of the Anthropic Messages API: offline, about a
          // second per query, so kept apart from the in-process project.
          name: 'claude-agent-sdk',
          include: ['test/claude-agent-sdk/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          // End to end against the real binaries: collector, Prometheus, promtool, redis-server.
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
