/**
 * vitest globalSetup of the e2e project: installs (or finds in .cache/) the real
 * collector, Prometheus, promtool and redis-server through scripts/ensure-tools.sh,
 * then hands their paths to the test files (`inject('tools')`).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { REPO_ROOT } from './dashboards.js';
import type { Tools } from './tools.js';

export default function setup(project: TestProject): void {
  const started = Date.now();
  const result = spawnSync('bash', [join(REPO_ROOT, 'scripts/ensure-tools.sh')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`scripts/ensure-tools.sh failed (exit ${result.status}, ${result.error?.message ?? 'see its output above'})`);
  const values = Object.fromEntries(
    result.stdout
      .split('\n')
      .map((line) => /^([A-Z_]+)=(.+)$/.exec(line.trim()))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1], match[2]]),
  ) as Partial<Tools>;
  for (const key of ['OTELCOL_BIN', 'PROMETHEUS_BIN', 'PROMTOOL_BIN', 'REDIS_SERVER_BIN'] as const) {
    if (!values[key]) throw new Error(`scripts/ensure-tools.sh did not report ${key}`);
  }
  project.provide('tools', values as Tools);
  const seconds = Math.round((Date.now() - started) / 1000);
  if (seconds > 5) process.stderr.write(`[e2e] tools ready after ${seconds}s\n`);
}
