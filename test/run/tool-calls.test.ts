import { describe, expect, it } from 'vitest';
import { AgentMeter, type Run, type ToolCall } from '../../src/index.js';
import * as semconv from '../../src/semconv.js';
import { captureDiagAndRejections } from '../helpers/diag.js';
import { createPipeline } from '../helpers/otel.js';

const captured = captureDiagAndRejections();

function setup(options: ConstructorParameters<typeof AgentMeter>[0] = {}) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, ...options });
  return { pipeline, agentmeter };
}

class RateLimitError extends Error {
  override name = 'RateLimitError';
}

describe('run.recordToolCall', () => {
  it('records each call in subagent.tool.duration, in seconds, by agent, depth, tool and error type', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run('researcher', async (run) => {
      run.recordToolCall({ name: 'search', durationMs: 250 });
      run.recordToolCall({ name: 'search', durationMs: 750, type: 'function' });
      run.recordToolCall({ name: 'fetch', durationMs: 40, error: new RateLimitError('slow down') });
      expect(run.toolCalls).toBe(3);
    });
    const series = { 'gen_ai.agent.name': 'researcher', 'subagent.depth': 0 };
    const points = await pipeline.points(semconv.METRIC_TOOL_DURATION);
    expect(points.map((point) => point.attributes)).toEqual(
      expect.arrayContaining([
        { ...series, 'gen_ai.tool.name': 'search' },
        { ...series, 'gen_ai.tool.name': 'fetch', 'error.type': 'RateLimitError' },
      ]),
    );
    expect(points).toHaveLength(2);
    expect(await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.tool.name': 'search' })).toEqual({ sum: 1, count: 2 });
    expect(await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.tool.name': 'fetch' })).toEqual({ sum: 0.04, count: 1 });
    expect(captured.logged).toEqual([]);
  });

  it('uses the unit s and the GenAI operation-duration bucket boundaries', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run('a', (run) => run.recordToolCall({ name: 't', durationMs: 1 }));
    const { resourceMetrics } = await pipeline.reader.collect();
    const metric = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((m) => m.descriptor.name === semconv.METRIC_TOOL_DURATION)!;
    expect(metric.descriptor.unit).toBe('s');
    const [point] = metric.dataPoints as Array<{ value: { buckets: { boundaries: number[] } } }>;
    expect(point!.value.buckets.boundaries).toEqual([0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]);
  });

  it('derives error.type like a run does: the name of what was thrown, else _OTHER', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run('a', (run) => {
      run.recordToolCall({ name: 't', durationMs: 1, error: new TypeError('x') });
      run.recordToolCall({ name: 't', durationMs: 1, error: 'a string' });
      run.recordToolCall({ name: 't', durationMs: 1, error: undefined });
    });
    expect((await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'error.type': 'TypeError' })).count).toBe(1);
    expect((await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'error.type': '_OTHER' })).count).toBe(1);
    const points = await pipeline.points(semconv.METRIC_TOOL_DURATION);
    expect(points.filter((point) => point.attributes['error.type'] === undefined)).toHaveLength(1);
  });

  it('counts a call on the run it is recorded on only: a parent does not count its child run’s calls', async () => {
    const { pipeline, agentmeter } = setup();
    let parentRun: Run | undefined;
    let childRun: Run | undefined;
    await agentmeter.run('parent', async (parent) => {
      parentRun = parent;
      parent.recordToolCall({ name: 'plan', durationMs: 5 });
      const started = performance.now();
      await agentmeter.run('child', (child) => {
        childRun = child;
        child.recordToolCall({ name: 'search', durationMs: 5 });
        child.recordToolCall({ name: 'search', durationMs: 5 });
      });
      // The subagent, invoked as a tool, is one tool call of its parent.
      parent.recordToolCall({ name: 'child', durationMs: performance.now() - started });
    });
    expect(parentRun!.toolCalls).toBe(2);
    expect(childRun!.toolCalls).toBe(2);
    expect((await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.agent.name': 'parent', 'subagent.depth': 0 })).count).toBe(2);
    expect((await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.agent.name': 'child', 'subagent.depth': 1 })).count).toBe(2);
  });

  it('records a call made after its run ended, without a warning, and counts it on the run', async () => {
    const { pipeline, agentmeter } = setup();
    const run = await agentmeter.run('a', (run) => run);
    run.recordToolCall({ name: 'late', durationMs: 30 });
    expect(run.toolCalls).toBe(1);
    expect(await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.tool.name': 'late' })).toEqual({ sum: 0.03, count: 1 });
    expect(captured.logged).toEqual([]);
  });

  describe('validation, field by field', () => {
    const invalid: Array<[string, unknown, string]> = [
      ['not an object', 'search', 'call must be an object, got string'],
      ['null', null, 'call must be an object, got null'],
      ['no name', { durationMs: 1 }, 'name must be a non-empty string, got undefined'],
      ['an empty name', { name: '', durationMs: 1 }, 'name must be a non-empty string, got an empty string'],
      ['a numeric name', { name: 7, durationMs: 1 }, 'name must be a non-empty string, got 7'],
      ['no duration', { name: 't' }, 'durationMs must be a finite, non-negative number, got undefined'],
      ['a negative duration', { name: 't', durationMs: -1 }, 'durationMs must be a finite, non-negative number, got -1'],
      ['a NaN duration', { name: 't', durationMs: Number.NaN }, 'durationMs must be a finite, non-negative number, got NaN'],
      ['an infinite duration', { name: 't', durationMs: Infinity }, 'durationMs must be a finite, non-negative number, got Infinity'],
      ['a string duration', { name: 't', durationMs: '5' }, 'durationMs must be a finite, non-negative number, got string'],
    ];

    it.each(invalid)('drops a call with %s, warning with the field, the value and what was expected', async (_label, call, problem) => {
      const { pipeline, agentmeter } = setup();
      const run = await agentmeter.run('a', (run) => {
        run.recordToolCall(call as ToolCall);
        return run;
      });
      expect(run.toolCalls).toBe(0);
      expect(await pipeline.points(semconv.METRIC_TOOL_DURATION)).toEqual([]);
      expect(captured.logged).toHaveLength(1);
      expect(captured.logged[0]).toContain(`run 'a' recordToolCall: ${problem}; the call was dropped`);
    });

    it('throws the same message with strict, and records nothing of a call missing a required field', async () => {
      const { pipeline, agentmeter } = setup({ strict: true });
      await expect(agentmeter.run('a', (run) => run.recordToolCall({ name: 't', durationMs: -5 }))).rejects.toThrow(
        new TypeError("agentmetry: run 'a' recordToolCall: durationMs must be a finite, non-negative number, got -5"),
      );
      expect(await pipeline.points(semconv.METRIC_TOOL_DURATION)).toEqual([]);
    });

    it('drops an invalid type alone and records the call; strict throws once it is recorded', async () => {
      const { pipeline, agentmeter } = setup();
      const run = await agentmeter.run('a', (run) => {
        run.recordToolCall({ name: 't', durationMs: 10, type: 3 as unknown as string });
        return run;
      });
      expect(run.toolCalls).toBe(1);
      expect((await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.tool.name': 't' })).count).toBe(1);
      expect(captured.logged).toHaveLength(1);
      expect(captured.logged[0]).toContain("run 'a' recordToolCall: type must be a non-empty string, got 3; that field was dropped");

      const strict = setup({ strict: true });
      let strictRun: Run | undefined;
      await expect(
        strict.agentmeter.run('s', (run) => {
          strictRun = run;
          run.recordToolCall({ name: 't', durationMs: 10, type: '' });
        }),
      ).rejects.toThrow("agentmetry: run 's' recordToolCall: type must be a non-empty string, got an empty string");
      expect(strictRun!.toolCalls).toBe(1);
      expect((await strict.pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.tool.name': 't' })).count).toBe(1);
    });

    it('reads each field once, so a getter cannot change a value between check and use', async () => {
      const { pipeline, agentmeter } = setup();
      let reads = 0;
      const call = {
        name: 't',
        get durationMs() {
          reads += 1;
          return reads === 1 ? 10 : -1;
        },
      };
      await agentmeter.run('a', (run) => run.recordToolCall(call));
      expect(reads).toBe(1);
      expect(await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.tool.name': 't' })).toEqual({ sum: 0.01, count: 1 });
    });
  });

  it('caps tool names per agent series: names past 64 are reported as _OTHER', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run('a', (run) => {
      for (let index = 0; index < 70; index++) run.recordToolCall({ name: `tool-${index}`, durationMs: 1 });
    });
    const points = await pipeline.points(semconv.METRIC_TOOL_DURATION);
    expect(points).toHaveLength(65);
    expect((await pipeline.histogram(semconv.METRIC_TOOL_DURATION, { 'gen_ai.tool.name': '_OTHER' })).count).toBe(6);
  });
});
