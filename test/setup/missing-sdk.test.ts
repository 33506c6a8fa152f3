import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCommand, lineFor } from '../../src/setup/sdk.js';
import { ROOT, ensureBuilt } from '../helpers/build.js';

let folder: string;

/** An app folder with the built agentmetry and, from this checkout, only the given packages. */
function createApp(name: string, packages: string[]): string {
  const app = join(folder, name);
  mkdirSync(join(app, 'node_modules', '@opentelemetry'), { recursive: true });
  writeFileSync(join(app, 'package.json'), '{ "private": true, "type": "module" }');
  cpSync(join(ROOT, 'dist'), join(app, 'node_modules', 'agentmetry', 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(app, 'node_modules', 'agentmetry', 'package.json'));
  for (const pkg of packages) symlinkSync(join(ROOT, 'node_modules', pkg), join(app, 'node_modules', pkg));
  return app;
}

/** Runs an ES module script (or `node <args>`) in `app`; resolves its output whatever the exit code. */
function run(app: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: app, env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: typeof error?.code === 'number' ? error.code : error ? 1 : 0, stdout, stderr }),
    );
  });
}

const script = (source: string) => ['--input-type=module', '-e', source];

describe('agentmetry/setup without the SDK installed', () => {
  let bare: string;
  let noExporters: string;
  let broken: string;

  beforeAll(async () => {
    await ensureBuilt();
    folder = mkdtempSync(join(tmpdir(), 'agentmetry-missing-sdk-'));
    bare = createApp('bare', ['@opentelemetry/api']);
    noExporters = createApp('no-exporters', [
      '@opentelemetry/api',
      '@opentelemetry/sdk-trace',
      '@opentelemetry/sdk-metrics',
      '@opentelemetry/resources',
      '@opentelemetry/core',
      '@opentelemetry/context-async-hooks',
    ]);
    // Every SDK package installed, one of them throwing while it loads.
    broken = createApp('broken', [
      '@opentelemetry/api',
      '@opentelemetry/sdk-metrics',
      '@opentelemetry/resources',
      '@opentelemetry/core',
      '@opentelemetry/context-async-hooks',
    ]);
    const fake = join(broken, 'node_modules', '@opentelemetry', 'sdk-trace');
    mkdirSync(fake);
    writeFileSync(join(fake, 'package.json'), '{ "name": "@opentelemetry/sdk-trace", "version": "3.1.0", "type": "module", "exports": "./index.js" }');
    writeFileSync(join(fake, 'index.js'), "throw new Error('sdk-trace is broken');");
  }, 300_000); // the build under ensureBuilt takes longer than the default 10 s on a busy machine

  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('imports, and startTelemetry() throws naming the missing packages and the command for this Node', async () => {
    const result = await run(
      bare,
      script(`
        import { AgentMeter } from 'agentmetry';
        import { startTelemetry } from 'agentmetry/setup';
        console.log(await new AgentMeter().run('a', async () => 'main entry works'));
        try { startTelemetry(); } catch (error) { console.log(error.message); }
      `),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('main entry works');
    expect(result.stdout).toContain(
      'could not load @opentelemetry/sdk-trace, @opentelemetry/sdk-metrics, @opentelemetry/resources, @opentelemetry/core, @opentelemetry/context-async-hooks.',
    );
    expect(result.stdout).toContain(installCommand(lineFor(process.versions.node)));
  });

  it('agentmetry/register logs the same advice and the app runs on', async () => {
    const result = await run(bare, ['--import', 'agentmetry/register', ...script(`console.log('app ran')`)], { OTEL_LOG_LEVEL: 'error' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('app ran');
    expect(result.stderr).toContain('agentmetry/register: could not start');
    expect(result.stderr).toContain(installCommand(lineFor(process.versions.node)));
  });

  it('a package that throws while loading: importing still works, and startTelemetry() names it with its error', async () => {
    const result = await run(
      broken,
      script(`
        import { startTelemetry } from 'agentmetry/setup';
        try { startTelemetry(); } catch (error) { console.log(error.message); }
      `),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('could not load @opentelemetry/sdk-trace (sdk-trace is broken).');
  });

  it('without the exporters: an exporter that is on names its package, and one turned off needs none', async () => {
    const line = lineFor(process.versions.node);
    const result = await run(
      noExporters,
      script(`
        import { startTelemetry } from 'agentmetry/setup';
        for (const options of [{}, { prometheus: false, otlp: {} }, { prometheus: false, otlp: { traces: false } }]) {
          try { startTelemetry({ ...options, registerGlobal: false }); } catch (error) { console.log(error.message); }
        }
        const telemetry = startTelemetry({ prometheus: false, otlp: false, registerGlobal: false });
        await telemetry.shutdown();
        console.log('started without exporters');
      `),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual([
      `agentmetry: startTelemetry: prometheus needs @opentelemetry/exporter-prometheus, which is not installed: npm install @opentelemetry/exporter-prometheus@${line.exporters} (the release that matches SDK ${line.sdk}), or set prometheus to false`,
      `agentmetry: startTelemetry: otlp.traces needs @opentelemetry/exporter-trace-otlp-http, which is not installed: npm install @opentelemetry/exporter-trace-otlp-http@${line.exporters} (the release that matches SDK ${line.sdk}), or set otlp.traces to false`,
      `agentmetry: startTelemetry: otlp.metrics needs @opentelemetry/exporter-metrics-otlp-http, which is not installed: npm install @opentelemetry/exporter-metrics-otlp-http@${line.exporters} (the release that matches SDK ${line.sdk}), or set otlp.metrics to false`,
      'started without exporters',
    ]);
  });
});
