import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMeter } from '../../src/index.js';
import { startTelemetry, type Telemetry } from '../../src/setup/index.js';
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
    expect(text).toMatch(/^subagent_cost_total\{gen_ai_agent_name="researcher",subagent_depth="0"[^}]*\} 0.004$/m);
    expect(text).toMatch(/^subagent_duration_bucket\{[^}]*le="0.1"\} \d+$/m);
    expect(text).toMatch(/^target_info\{[^}]*service_name="my-agent-app"[^}]*\} 1$/m);
    expect(text).toMatch(/^target_info\{[^}]*team="agents"[^}]*\} 1$/m);
    expect(text).not.toContain('c-42');
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
