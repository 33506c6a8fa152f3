import { describe, expect, it } from 'vitest';
import { captureDiagAndRejections } from '../helpers/diag.js';
import { AgentMeter } from '../../src/index.js';
import { startTelemetry } from '../../src/setup/index.js';
import { freePort, startBlackhole } from '../helpers/net.js';

describe('an exporter that is down', () => {
  const { logged, unhandled } = captureDiagAndRejections();

  it('refused connections: runs pass through and shutdown resolves', async () => {
    const closedPort = await freePort();
    const telemetry = startTelemetry({
      prometheus: false,
      otlp: { endpoint: `http://127.0.0.1:${closedPort}`, exportIntervalMillis: 50 },
      registerGlobal: false,
      shutdownTimeoutMillis: 2000,
    });
    const agentmeter = new AgentMeter({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider });
    for (let index = 0; index < 5; index++) {
      await expect(agentmeter.run('a', async () => index)).resolves.toBe(index);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await telemetry.forceFlush();
    await telemetry.shutdown();
    expect(unhandled).toEqual([]);
  });

  it('a collector that accepts and never answers: shutdown gives up at its bound instead of hanging', async () => {
    const blackhole = await startBlackhole();
    try {
      const telemetry = startTelemetry({ prometheus: false, otlp: { endpoint: blackhole.url }, registerGlobal: false, shutdownTimeoutMillis: 300 });
      const agentmeter = new AgentMeter({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider });
      await agentmeter.run('a', async () => 1);
      await telemetry.shutdown();
      expect(logged.some((message) => message.includes('did not finish within 300 ms'))).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      await blackhole.close();
    }
  });

  it('a Prometheus port already in use rejects ready and is logged, not thrown', async () => {
    const port = await freePort();
    const first = startTelemetry({ prometheus: { port }, otlp: false, registerGlobal: false });
    await first.ready;
    const second = startTelemetry({ prometheus: { port }, otlp: false, registerGlobal: false });
    await expect(second.ready).rejects.toThrow(`cannot listen on 127.0.0.1:${port}`);
    expect(logged.some((message) => message.includes(`the Prometheus endpoint cannot listen on 127.0.0.1:${port}`))).toBe(true);
    await Promise.all([first.shutdown(), second.shutdown()]);
    expect(unhandled).toEqual([]);
  });

  it('rejects bad options with errors naming the field', () => {
    expect(() => startTelemetry({ prometheus: { port: 70000 } })).toThrow(/prometheus.port/);
    expect(() => startTelemetry({ otlp: { endpoint: 'localhost:4318' } })).toThrow(/otlp.endpoint must be an http\(s\) URL/);
    expect(() => startTelemetry({ servicename: 'x' } as never)).toThrow(/servicename is not a known option/);
    expect(() => startTelemetry({ shutdownTimeoutMillis: 0 })).toThrow(/shutdownTimeoutMillis/);
  });
});

describe('process lifetime', () => {
  it('a script that starts telemetry and never shuts it down still exits on its own', async () => {
    const { execFile } = await import('node:child_process');
    const { ensureBuilt, ROOT } = await import('../helpers/build.js');
    await ensureBuilt();
    const port = await freePort();
    const script = `
      import { AgentMeter } from ${JSON.stringify(`${ROOT}dist/index.js`)};
      import { startTelemetry } from ${JSON.stringify(`${ROOT}dist/setup/index.js`)};
      const telemetry = startTelemetry({ prometheus: { port: ${port} }, otlp: false });
      await telemetry.ready;
      await new AgentMeter().run('short-lived', async () => 1);
      console.log('done');
    `;
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (error, stdout) =>
        error instanceof Error ? reject(error) : resolve(stdout),
      );
      child.stdin?.end();
    });
    expect(output.trim()).toBe('done');
  });
});
