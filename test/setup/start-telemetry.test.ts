import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMeter } from '../../src/index.js';
import { startTelemetry, type Telemetry } from '../../src/setup/index.js';
import { captureDiagAndRejections } from '../helpers/diag.js';
import { freePort, startOtlpSink, type OtlpSink } from '../helpers/net.js';

interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

function spansOf(sink: OtlpSink): OtlpSpan[] {
  const bodies = (sink.received.get('/v1/traces') ?? []) as Array<{ resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }>;
  return bodies.flatMap((body) => body.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)));
}

describe('startTelemetry (the quick start)', () => {
  let sink: OtlpSink;
  let telemetry: Telemetry;
  let port: number;
  // Created before any provider exists, as happens when a module builds it at import time.
  const agentmeter = new AgentMeter();

  beforeAll(async () => {
    sink = await startOtlpSink();
    port = await freePort();
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=test,team=agents';
    telemetry = startTelemetry({ serviceName: 'my-agent-app', prometheus: { port }, otlp: { endpoint: sink.url } });
    await telemetry.ready;
  });

  afterAll(async () => {
    await telemetry.shutdown();
    await sink.close();
    delete process.env.OTEL_RESOURCE_ATTRIBUTES;
  });

  it('serves the metrics on 127.0.0.1 and exports from a meter created before the providers', async () => {
    expect(telemetry.prometheusUrl).toBe(`http://127.0.0.1:${port}/metrics`);
    await agentmeter.run({ name: 'researcher', conversationId: 'c-42' }, async (run) => {
      run.recordTurn();
      run.recordUsage({ inputTokens: 1200, outputTokens: 300, costUsd: 0.004, model: 'gpt-x' });
      await agentmeter.run('helper', async () => 'nested');
    });
    const text = await (await fetch(telemetry.prometheusUrl!)).text();
    expect(text).toMatch(/^subagent_executions_total\{gen_ai_agent_name="researcher",subagent_depth="0",subagent_outcome="ok"[^}]*\} 1$/m);
    expect(text).toMatch(/^subagent_executions_total\{gen_ai_agent_name="helper",subagent_depth="1",subagent_outcome="ok"[^}]*\} 1$/m);
    expect(text).toMatch(/^subagent_active\{gen_ai_agent_name="researcher",subagent_depth="0"[^}]*\} 0$/m);
    expect(text).toMatch(/^subagent_tokens_sum\{gen_ai_agent_name="researcher",subagent_depth="0",gen_ai_token_type="input"[^}]*\} 1200$/m);
    // The collector's names (unit suffixes), which the dashboards and alert rules query.
    expect(text).toMatch(/^subagent_cost_USD_total\{gen_ai_agent_name="researcher",subagent_depth="0"[^}]*\} 0.004$/m);
    expect(text).toMatch(/^subagent_duration_seconds_bucket\{[^}]*le="0.1"\} \d+$/m);
    expect(text).toMatch(/^subagent_duration_seconds_count\{gen_ai_agent_name="researcher",[^}]*\} 1$/m);
    expect(text).not.toMatch(/^subagent_(duration_(bucket|sum|count)|cost_total)\b/m);
    expect(text).toMatch(/^target_info\{[^}]*service_name="my-agent-app"[^}]*\} 1$/m);
    expect(text).toMatch(/^target_info\{[^}]*team="agents"[^}]*\} 1$/m);
    // Each process its own instance: replicas' series stay apart through a collector.
    expect(text).toMatch(/^target_info\{[^}]*service_instance_id="[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"[^}]*\} 1$/m);
    expect(text).not.toContain('c-42');
  });

  it('keeps a service.instance.id set in OTEL_RESOURCE_ATTRIBUTES (a pod name)', async () => {
    const saved = process.env.OTEL_RESOURCE_ATTRIBUTES;
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'service.instance.id=agents-7f9c-x2';
    const own = startTelemetry({ prometheus: { port: await freePort() }, registerGlobal: false });
    try {
      await own.ready;
      const text = await (await fetch(own.prometheusUrl!)).text();
      expect(text).toMatch(/^target_info\{[^}]*service_instance_id="agents-7f9c-x2"[^}]*\} 1$/m);
    } finally {
      process.env.OTEL_RESOURCE_ATTRIBUTES = saved;
      await own.shutdown();
    }
  });

  it('pushes nested invoke_agent spans over OTLP, flushed by shutdown', async () => {
    await agentmeter.runParallel([
      { subagent: 'a', fn: async () => agentmeter.run('a-helper', async () => 1) },
      { subagent: 'b', fn: async () => 2 },
    ]);
    await telemetry.shutdown();
    await telemetry.shutdown(); // idempotent
    const spans = spansOf(sink);
    const byName = (name: string) => spans.find((span) => span.name === name)!;
    expect(spans.map((span) => span.name)).toEqual(
      expect.arrayContaining(['invoke_agent researcher', 'invoke_agent helper', 'invoke_workflow parallel', 'invoke_agent a', 'invoke_agent a-helper']),
    );
    expect(byName('invoke_agent helper').parentSpanId).toBe(byName('invoke_agent researcher').spanId);
    expect(byName('invoke_agent a').parentSpanId).toBe(byName('invoke_workflow parallel').spanId);
    expect(byName('invoke_agent a-helper').parentSpanId).toBe(byName('invoke_agent a').spanId);
    const metricBodies = JSON.stringify(sink.received.get('/v1/metrics') ?? []);
    expect(metricBodies).toContain('subagent.executions');
    expect(metricBodies).toContain('my-agent-app');
  });
});

/** A server of someone else's holding `port` on `host`, as another process would. */
function occupy(port: number, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const metricsText = async (url: string) => (await fetch(url)).text();

describe('a Prometheus port that cannot be bound', () => {
  const { logged, unhandled } = captureDiagAndRejections();

  it('ready rejects naming host, port and reason, prometheusUrl is undefined, and recording and OTLP go on', async () => {
    const port = await freePort();
    const occupant = await occupy(port);
    const sink = await startOtlpSink();
    try {
      const telemetry = startTelemetry({ prometheus: { port }, otlp: { endpoint: sink.url }, registerGlobal: false });
      expect(telemetry.prometheusUrl).toBeUndefined(); // not before ready resolves
      await expect(telemetry.ready).rejects.toThrow(
        new Error(`agentmetry: the Prometheus endpoint cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`),
      );
      expect(telemetry.prometheusUrl).toBeUndefined();
      expect(logged.filter((message) => message.includes(`the Prometheus endpoint cannot listen on 127.0.0.1:${port}`))).toHaveLength(1);

      const agentmeter = new AgentMeter({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider });
      await expect(agentmeter.run('after-the-failure', async () => 'result')).resolves.toBe('result');
      await telemetry.forceFlush();
      expect(spansOf(sink).map((span) => span.name)).toContain('invoke_agent after-the-failure');
      expect(JSON.stringify(sink.received.get('/v1/metrics') ?? [])).toContain('after-the-failure');
      await telemetry.shutdown();
      expect(unhandled).toEqual([]);
    } finally {
      await Promise.all([closeServer(occupant), sink.close()]);
    }
  });

  it('an app that never awaits ready gets no unhandled rejection', async () => {
    const port = await freePort();
    const occupant = await occupy(port);
    try {
      const telemetry = startTelemetry({ prometheus: { port }, otlp: false, registerGlobal: false });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(logged.some((message) => message.includes('address already in use'))).toBe(true);
      expect(unhandled).toEqual([]);
      await telemetry.shutdown();
    } finally {
      await closeServer(occupant);
    }
  });

  it('another port is no reason to fail: a second telemetry beside the first serves on its own', async () => {
    const first = startTelemetry({ prometheus: { port: 0 }, otlp: false, registerGlobal: false });
    const second = startTelemetry({ prometheus: { port: 0 }, otlp: false, registerGlobal: false });
    await Promise.all([first.ready, second.ready]);
    expect(first.prometheusUrl).not.toBe(second.prometheusUrl);
    await Promise.all([first.shutdown(), second.shutdown()]);
    expect(logged).toEqual([]);
  });
});

describe('where the Prometheus endpoint listens', () => {
  const started: Telemetry[] = [];
  const start = (prometheus: Record<string, unknown>) => {
    const telemetry = startTelemetry({ prometheus, otlp: false, registerGlobal: false });
    started.push(telemetry);
    return telemetry;
  };
  afterAll(async () => {
    await Promise.all(started.map((telemetry) => telemetry.shutdown()));
  });

  // What `host: process.env.METRICS_HOST ?? '127.0.0.1'` gives when the variable is set but empty.
  it.each(['', '   '])('a blank host (%j) means the default, loopback only', async (host) => {
    const port = await freePort();
    const telemetry = start({ host, port });
    await telemetry.ready;
    expect(telemetry.prometheusUrl).toBe(`http://127.0.0.1:${port}/metrics`);
    expect(await metricsText(telemetry.prometheusUrl!)).toContain('target_info');
    // Listening on every interface would answer on 127.0.0.2 too (Linux routes 127/8 to loopback).
    await expect(fetch(`http://127.0.0.2:${port}/metrics`)).rejects.toThrow();
  });

  it('an IPv6 host is bracketed in prometheusUrl', async () => {
    const port = await freePort();
    const telemetry = start({ host: '::1', port });
    await telemetry.ready;
    expect(telemetry.prometheusUrl).toBe(`http://[::1]:${port}/metrics`);
    expect(await metricsText(telemetry.prometheusUrl!)).toContain('target_info');
  });

  it('port 0 takes a free port, and prometheusUrl names it', async () => {
    const telemetry = start({ port: 0 });
    await telemetry.ready;
    const url = new URL(telemetry.prometheusUrl!);
    expect(Number(url.port)).toBeGreaterThan(0);
    expect(await metricsText(url.href)).toContain('target_info');
  });

  it('serves the endpoint path only; a path without its slash or a blank one works as expected', async () => {
    const custom = start({ port: 0, endpoint: 'prom' });
    const blank = start({ port: 0, endpoint: ' ' });
    await Promise.all([custom.ready, blank.ready]);
    expect(new URL(custom.prometheusUrl!).pathname).toBe('/prom');
    expect(await metricsText(custom.prometheusUrl!)).toContain('target_info');
    expect(await fetch(new URL('/metrics', custom.prometheusUrl)).then((response) => response.status)).toBe(404);
    expect(new URL(blank.prometheusUrl!).pathname).toBe('/metrics');
  });

  it('a host that is not a string throws naming the field', () => {
    expect(() => startTelemetry({ prometheus: { host: 127 as never }, otlp: false, registerGlobal: false })).toThrow(
      'agentmetry: startTelemetry: prometheus.host must be a string, got 127',
    );
  });
});

describe("the app's own instruments on /metrics", () => {
  it('get the names the collector gives them, from their unit and kind', async () => {
    const telemetry = startTelemetry({ prometheus: { port: 0 }, otlp: false, registerGlobal: false });
    try {
      await telemetry.ready;
      const meter = telemetry.meterProvider.getMeter('my-app');
      meter.createHistogram('app.request.duration', { unit: 'ms' }).record(12);
      meter.createCounter('app.payload', { unit: 'By' }).add(512);
      meter.createCounter('app.requests', { unit: '{request}' }).add(3);
      meter.createGauge('app.cpu.utilization', { unit: '1' }).record(0.5);
      meter.createUpDownCounter('app.queue.length', { unit: '{item}' }).add(2);
      meter.createUpDownCounter('app.disk.io', { unit: 'By/s' }).add(7);
      const text = await metricsText(telemetry.prometheusUrl!);
      const families = [...text.matchAll(/^# TYPE (app_\w+) (\w+)$/gm)].map((match) => `${match[1]} ${match[2]}`);
      expect(families.sort()).toEqual(
        [
          'app_request_duration_milliseconds histogram',
          'app_payload_bytes_total counter',
          'app_requests_total counter',
          'app_cpu_utilization_ratio gauge',
          'app_queue_length gauge',
          'app_disk_io_bytes_per_second gauge',
        ].sort(),
      );
      expect(text).toMatch(/^app_request_duration_milliseconds_count\{[^}]*otel_scope_name="my-app"[^}]*\} 1$/m);
    } finally {
      await telemetry.shutdown();
    }
  });
});
