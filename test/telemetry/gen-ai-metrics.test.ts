import type { HrTime } from '@opentelemetry/api';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { AgentMeter, type MetricsFamily } from '../../src/index.js';
import * as semconv from '../../src/semconv.js';
import { captureDiagAndRejections } from '../helpers/diag.js';
import { createPipeline, delay, spanNamed, type TestPipeline } from '../helpers/otel.js';

const captured = captureDiagAndRejections();

function setup(metrics: MetricsFamily, options: ConstructorParameters<typeof AgentMeter>[0] = {}) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, metrics, ...options });
  return { pipeline, agentmeter };
}

const GEN_AI_METRICS = [
  semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION,
  semconv.METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS,
  semconv.METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS,
  semconv.METRIC_GEN_AI_EXECUTE_TOOL_DURATION,
];
const SUBAGENT_RUN_METRICS = [
  semconv.METRIC_EXECUTIONS,
  semconv.METRIC_DURATION,
  semconv.METRIC_TURNS,
  semconv.METRIC_TOKENS,
  semconv.METRIC_ACTIVE,
  semconv.METRIC_ERRORS,
  semconv.METRIC_COST,
  semconv.METRIC_TOOL_DURATION,
];

/** The names of every metric the reader has (with or without points). */
async function metricNames(pipeline: TestPipeline): Promise<string[]> {
  const { resourceMetrics } = await pipeline.reader.collect();
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.descriptor.name)).sort();
}

async function descriptor(pipeline: TestPipeline, name: string) {
  const { resourceMetrics } = await pipeline.reader.collect();
  const metric = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((candidate) => candidate.descriptor.name === name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const [point] = metric.dataPoints as Array<{ value: Histogram }>;
  return { unit: metric.descriptor.unit, description: metric.descriptor.description, boundaries: point!.value.buckets.boundaries };
}

/** A workload that touches every run instrument: a turn, usage with cost, a tool call, a failing run. */
async function workload(agentmeter: AgentMeter) {
  await agentmeter.run({ name: 'researcher', model: 'gpt-x' }, (run) => {
    run.recordTurn();
    run.recordUsage({ inputTokens: 10, outputTokens: 5, costUsd: 0.01 });
    run.recordToolCall({ name: 'search', durationMs: 20, type: 'function' });
  });
  await agentmeter.run('failing', () => Promise.reject(new RangeError('nope'))).catch(() => undefined);
}

const seconds = ([s, ns]: HrTime) => s + ns / 1e9;

describe('the metric families', () => {
  it("'subagent' records the subagent.* run instruments and no gen_ai.* metric", async () => {
    const { pipeline, agentmeter } = setup('subagent');
    await workload(agentmeter);
    const names = await metricNames(pipeline);
    expect(names).toEqual(expect.arrayContaining(SUBAGENT_RUN_METRICS));
    expect(names.filter((name) => name.startsWith('gen_ai.'))).toEqual([]);
  });

  it("'gen_ai' records the GenAI agent metrics and creates no subagent.* run instrument", async () => {
    const { pipeline, agentmeter } = setup('gen_ai');
    await workload(agentmeter);
    expect(await metricNames(pipeline)).toEqual([...GEN_AI_METRICS].sort());
    // The in-process totals are kept either way.
    expect(agentmeter.totals().executions).toMatchObject({ ok: 1, error: 1 });
  });

  it("'gen_ai' still records the quota instruments, which have no GenAI equivalent", async () => {
    const { pipeline, agentmeter } = setup('gen_ai', { quota: { limits: { maxExecutions: 10 } } });
    await workload(agentmeter);
    const names = await metricNames(pipeline);
    expect(names).toContain(semconv.METRIC_QUOTA_LIMIT);
    expect(names).toContain(semconv.METRIC_QUOTA_USED);
    expect(names.filter((name) => name.startsWith('subagent.') && !name.startsWith('subagent.quota.'))).toEqual([]);
    expect(await pipeline.sum(semconv.METRIC_QUOTA_USED, { 'quota.resource': 'executions' })).toBe(2);
  });

  it("'both' records both families from the same runs", async () => {
    const { pipeline, agentmeter } = setup('both');
    await workload(agentmeter);
    const names = await metricNames(pipeline);
    expect(names).toEqual(expect.arrayContaining([...SUBAGENT_RUN_METRICS, ...GEN_AI_METRICS]));
    expect((await pipeline.histogram(semconv.METRIC_DURATION)).count).toBe(2);
    expect((await pipeline.histogram(semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION)).count).toBe(2);
    expect((await pipeline.histogram(semconv.METRIC_TOOL_DURATION)).sum).toBeCloseTo(0.02, 12);
    expect((await pipeline.histogram(semconv.METRIC_GEN_AI_EXECUTE_TOOL_DURATION)).sum).toBeCloseTo(0.02, 12);
  });

  it('two AgentMeters on one meter provider each record their own families; the subagent counters count only the subagent one', async () => {
    const pipeline = createPipeline();
    const providers = { tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider };
    const subagent = new AgentMeter({ ...providers, metrics: 'subagent' });
    const genAi = new AgentMeter({ ...providers, metrics: 'gen_ai' });
    await subagent.run('s', () => undefined);
    await genAi.run('g', () => undefined);
    await genAi.run('g', () => undefined);
    expect(await pipeline.sum(semconv.METRIC_EXECUTIONS)).toBe(1);
    expect(await pipeline.sum(semconv.METRIC_EXECUTIONS, { 'gen_ai.agent.name': 'g' })).toBe(0);
    expect((await pipeline.histogram(semconv.METRIC_DURATION)).count).toBe(1);
    expect((await pipeline.histogram(semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION)).count).toBe(2);
    expect((await pipeline.histogram(semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION, { 'gen_ai.agent.name': 's' })).count).toBe(0);
  });
});

describe('the gen_ai family', () => {
  it('uses the units, descriptions and bucket boundaries of the GenAI conventions', async () => {
    const { pipeline, agentmeter } = setup('gen_ai');
    await workload(agentmeter);
    expect(await descriptor(pipeline, semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION)).toEqual({
      unit: 's',
      description:
        'The end-to-end duration of a single agent invocation, from the moment the invocation starts until the agent emits the last chunk of its final response or terminates with an error.',
      boundaries: [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6],
    });
    expect(await descriptor(pipeline, semconv.METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS)).toEqual({
      unit: '{inference_call}',
      description: 'The number of inference (model) calls a GenAI agent makes during a single invocation.',
      boundaries: [1, 2, 4, 8, 16, 32, 64, 128],
    });
    expect(await descriptor(pipeline, semconv.METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS)).toEqual({
      unit: '{tool_call}',
      description: 'The number of tool calls a GenAI agent makes during a single invocation.',
      boundaries: [1, 2, 4, 8, 16, 32, 64, 128],
    });
    expect(await descriptor(pipeline, semconv.METRIC_GEN_AI_EXECUTE_TOOL_DURATION)).toEqual({
      unit: 's',
      description: 'The duration of a single tool execution.',
      boundaries: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
    });
  });

  it('puts the agent name, the model when known and error.type on a failure on the invoke_agent metrics, and no depth', async () => {
    const { pipeline, agentmeter } = setup('gen_ai');
    await workload(agentmeter);
    const attributes = async (name: string) => (await pipeline.points(name)).map((point) => point.attributes);
    expect(await attributes(semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION)).toEqual(
      expect.arrayContaining([
        { 'gen_ai.agent.name': 'researcher', 'gen_ai.request.model': 'gpt-x' },
        { 'gen_ai.agent.name': 'failing', 'error.type': 'RangeError' },
      ]),
    );
    for (const name of [semconv.METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS, semconv.METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS]) {
      const points = await attributes(name);
      expect(points).toHaveLength(2);
      expect(points).toEqual(
        expect.arrayContaining([{ 'gen_ai.agent.name': 'researcher', 'gen_ai.request.model': 'gpt-x' }, { 'gen_ai.agent.name': 'failing' }]),
      );
    }
  });

  it('puts the agent, tool name, tool type when given and error.type on a failure on gen_ai.execute_tool.duration', async () => {
    const { pipeline, agentmeter } = setup('gen_ai');
    await agentmeter.run({ name: 'a', model: 'm' }, (run) => {
      run.recordToolCall({ name: 'search', durationMs: 10, type: 'function' });
      run.recordToolCall({ name: 'search', durationMs: 30, type: 'function' });
      run.recordToolCall({ name: 'db', durationMs: 5, type: 'datastore', error: new TypeError('bad row') });
      run.recordToolCall({ name: 'plain', durationMs: 1 });
    });
    const points = await pipeline.points(semconv.METRIC_GEN_AI_EXECUTE_TOOL_DURATION);
    expect(points.map((point) => point.attributes)).toEqual(
      expect.arrayContaining([
        { 'gen_ai.agent.name': 'a', 'gen_ai.tool.name': 'search', 'gen_ai.tool.type': 'function' },
        { 'gen_ai.agent.name': 'a', 'gen_ai.tool.name': 'db', 'gen_ai.tool.type': 'datastore', 'error.type': 'TypeError' },
        { 'gen_ai.agent.name': 'a', 'gen_ai.tool.name': 'plain' },
      ]),
    );
    expect(points).toHaveLength(3);
    expect(await pipeline.histogram(semconv.METRIC_GEN_AI_EXECUTE_TOOL_DURATION, { 'gen_ai.tool.name': 'search' })).toEqual({ sum: 0.04, count: 2 });
  });

  it('records gen_ai.invoke_agent.duration equal to the invoke_agent span duration', async () => {
    const { pipeline, agentmeter } = setup('both');
    await agentmeter.run('parent', async () => {
      await delay(15);
      await agentmeter.run('child', () => delay(5));
    });
    const spans = pipeline.finishedSpans();
    for (const agent of ['parent', 'child']) {
      const spanSeconds = seconds(spanNamed(spans, `invoke_agent ${agent}`).duration);
      const genAi = await pipeline.histogram(semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION, { 'gen_ai.agent.name': agent });
      const subagent = await pipeline.histogram(semconv.METRIC_DURATION, { 'gen_ai.agent.name': agent });
      expect(genAi.count).toBe(1);
      // The same two clock readings; only the SDK's conversion to [s, ns] rounds (to the nanosecond).
      expect(Math.abs(genAi.sum - spanSeconds)).toBeLessThan(1e-6);
      expect(subagent.sum).toBe(genAi.sum);
    }
  });

  it("counts each run's own inference and tool calls: a parent's counts exclude its child's", async () => {
    const { pipeline, agentmeter } = setup('gen_ai');
    await agentmeter.run('parent', async (parent) => {
      parent.recordTurn();
      parent.recordToolCall({ name: 'plan', durationMs: 1 });
      const started = performance.now();
      await agentmeter.run('child', async (child) => {
        child.recordTurn(3);
        child.recordToolCall({ name: 'search', durationMs: 1 });
        await agentmeter.run('grandchild', (grandchild) => grandchild.recordTurn(2));
      });
      parent.recordToolCall({ name: 'child', durationMs: performance.now() - started });
      parent.recordTurn();
    });
    const counts = async (name: string, agent: string) => pipeline.histogram(name, { 'gen_ai.agent.name': agent });
    expect(await counts(semconv.METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS, 'parent')).toEqual({ sum: 2, count: 1 });
    expect(await counts(semconv.METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS, 'child')).toEqual({ sum: 3, count: 1 });
    expect(await counts(semconv.METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS, 'grandchild')).toEqual({ sum: 2, count: 1 });
    expect(await counts(semconv.METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS, 'parent')).toEqual({ sum: 2, count: 1 });
    expect(await counts(semconv.METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS, 'child')).toEqual({ sum: 1, count: 1 });
    // A run with no tool call records 0: it is one invocation with no calls, not a missing one.
    expect(await counts(semconv.METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS, 'grandchild')).toEqual({ sum: 0, count: 1 });
  });

  it('records a late tool call in gen_ai.execute_tool.duration; the ended run’s tool_calls stays as it was', async () => {
    const { pipeline, agentmeter } = setup('gen_ai');
    const run = await agentmeter.run('a', (run) => {
      run.recordToolCall({ name: 'early', durationMs: 1 });
      return run;
    });
    run.recordToolCall({ name: 'late', durationMs: 2 });
    expect(run.toolCalls).toBe(2);
    expect((await pipeline.histogram(semconv.METRIC_GEN_AI_EXECUTE_TOOL_DURATION, { 'gen_ai.tool.name': 'late' })).count).toBe(1);
    expect(await pipeline.histogram(semconv.METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS)).toEqual({ sum: 1, count: 1 });
    expect(captured.logged).toEqual([]);
  });

  it('records nothing for a run that never started', async () => {
    const { pipeline, agentmeter } = setup('gen_ai');
    const controller = new AbortController();
    controller.abort(new Error('cancelled before it started'));
    await expect(agentmeter.run({ name: 'never', signal: controller.signal }, () => 'ran')).rejects.toThrow('cancelled before it started');
    for (const name of GEN_AI_METRICS) expect(await pipeline.points(name)).toEqual([]);
  });
});
