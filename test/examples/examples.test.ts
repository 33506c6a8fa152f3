import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../helpers/build.js';

const run = promisify(execFile);

/**
 * The offline examples each adapter page points to, run as a user runs them (`node
 * examples/<framework>/app.mjs` after a build): they import the package by its name and must
 * finish, print their quota line and leave nothing in flight.
 */
describe('examples', () => {
  beforeAll(ensureBuilt, 300_000);

  it.each(['ai-sdk', 'openai-agents', 'langchain', 'mastra'])('examples/%s/app.mjs runs offline and reports its quota', async (framework) => {
    const { stdout } = await run(process.execPath, [`examples/${framework}/app.mjs`], {
      cwd: ROOT,
      // Offline, and not under vitest's NODE_ENV=test, which turns the OpenAI Agents SDK's tracing off (documented).
      env: { ...process.env, NODE_ENV: 'production', AI_GATEWAY_API_KEY: '', OPENAI_API_KEY: '', OTEL_EXPORTER_OTLP_ENDPOINT: '' },
      timeout: 60_000,
    });
    const quota = /quota: (\{.*\})/.exec(stdout);
    expect(quota, stdout).not.toBeNull();
    const tokens = JSON.parse(quota![1]!) as { limit: number; used: number; reserved: number };
    expect(tokens.limit).toBe(200_000);
    expect(tokens.used).toBeGreaterThan(0);
    expect(tokens.reserved).toBe(0);
  });
});
