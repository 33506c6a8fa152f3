/**
 * A Prometheus port held by another process, seen from a real app process (the built package):
 * `ready` rejects, yet an app that never awaits it runs to its end under
 * `--unhandled-rejections=strict`, and the register entry says so on stderr exactly once.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { freePort } from '../helpers/net.js';
import { runNode } from '../helpers/node.js';

let port: number;
let occupant: Server;
let dir: string;

beforeAll(async () => {
  await ensureBuilt();
  port = await freePort();
  occupant = createServer();
  await new Promise<void>((resolve) => occupant.listen(port, '127.0.0.1', resolve));
  // Inside the project, so that `agentmetry` and the SDK resolve as in an app that installed them.
  mkdirSync(`${ROOT}.cache`, { recursive: true });
  dir = mkdtempSync(`${ROOT}.cache/port-in-use-`);
}, 300_000);

afterAll(async () => {
  await new Promise((resolve) => occupant.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const message = () => `agentmetry: the Prometheus endpoint cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`;

describe('a Prometheus port held by another process', () => {
  it('an app that never awaits ready runs to its end under --unhandled-rejections=strict, and recording goes on', async () => {
    writeFileSync(
      `${dir}/app.mjs`,
      `import { AgentMeter } from 'agentmetry';
import { startTelemetry } from 'agentmetry/setup';
const telemetry = startTelemetry({ prometheus: { port: ${port} }, otlp: false });
const agentmeter = new AgentMeter();
await agentmeter.run('researcher', async () => 'done');
await new Promise((resolve) => setTimeout(resolve, 200)); // well past the failed listen
console.log(JSON.stringify({ url: telemetry.prometheusUrl ?? null, ok: agentmeter.totals().executions.ok }));
await telemetry.shutdown();
`,
    );
    const { code, stdout, stderr } = await runNode(['--unhandled-rejections=strict', `${dir}/app.mjs`], { ...process.env, OTEL_LOG_LEVEL: undefined });
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ url: null, ok: 1 });
  });

  it('an app that awaits ready gets the error', async () => {
    writeFileSync(
      `${dir}/awaits.mjs`,
      `import { startTelemetry } from 'agentmetry/setup';
const telemetry = startTelemetry({ prometheus: { port: ${port} }, otlp: false });
try { await telemetry.ready; } catch (error) { console.log(error.message); }
`,
    );
    const { code, stdout, stderr } = await runNode([`${dir}/awaits.mjs`], process.env);
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toBe(message());
  });

  it.each([
    ['unset', undefined],
    ['none', 'none'],
    ['error', 'error'],
    ['info', 'info'],
  ])('node --import agentmetry/register: the app runs, and stderr says so once (OTEL_LOG_LEVEL %s)', async (_level, level) => {
    writeFileSync(`${dir}/plain.mjs`, `console.log('app ran');\n`);
    const env: Record<string, string | undefined> = { ...process.env, AGENTMETRY_PROMETHEUS_PORT: String(port), OTEL_LOG_LEVEL: level };
    const { code, stdout, stderr } = await runNode(['--import', `${ROOT}dist/register.js`, `${dir}/plain.mjs`], env);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('app ran');
    const lines = stderr.split('\n').filter((line) => line.includes('cannot listen'));
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toContain(message().replace(/^agentmetry: /, ''));
  });
});
