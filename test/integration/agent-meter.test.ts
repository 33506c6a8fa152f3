import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { AgentMeter, currentRun } from '../../src/index.js';
import * as semconv from '../../src/semconv.js';
import { createPipeline, delay, parentId, spanNamed, untilAborted } from '../helpers/otel.js';
import { waitFor } from '../helpers/poll.js';

function setup(options: ConstructorParameters<typeof AgentMeter>[0] = {}) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, ...options });
  return { pipeline, agentmeter };
}

describe('AgentMeter.run', () => {
  it('emits an invoke_agent span with the GenAI attributes and the subagent instruments', async () => {
    const { pipeline, agentmeter } = setup();
    const answer = await agentmeter.run({ name: 'researcher', conversationId: 'c-42', model: 'gpt-x' }, async (run) => {
      run.recordTurn();
      run.recordTurn(2);
      run.recordUsage({ inputTokens: 1200, outputTokens: 300, costUsd: 0.004 });
      run.recordUsage({ inputTokens: 10, outputTokens: 5, costUsd: 0.001 });
      expect(run.depth).toBe(0);
      expect(run.turns).toBe(3);
      return 'done';
    });
    expect(answer).toBe('done');

    const span = spanNamed(pipeline.finishedSpans(), 'invoke_agent researcher');
    expect(span.kind).toBe(SpanKind.INTERNAL);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'researcher',
      'gen_ai.conversation.id': 'c-42',
      'gen_ai.request.model': 'gpt-x',
      'gen_ai.usage.input_tokens': 1210,
      'gen_ai.usage.output_tokens': 305,
      'subagent.depth': 0,
      'subagent.turns': 3,
      'subagent.outcome': 'ok',
    });
    expect(span.attributes['error.type']).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);

    const series = { 'gen_ai.agent.name': 'researcher', 'subagent.depth': 0 };
    expect(await pipeline.sum(semconv.METRIC_EXECUTIONS, { ...series, 'subagent.outcome': 'ok' })).toBe(1);
    expect(await pipeline.sum(semconv.METRIC_ACTIVE, series)).toBe(0);
    expect(await pipeline.histogram(semconv.METRIC_TURNS, series)).toEqual({ sum: 3, count: 1 });
    expect(await pipeline.histogram(semconv.METRIC_TOKENS, { ...series, 'gen_ai.token.type': 'input' })).toEqual({ sum: 1210, count: 1 });
    expect(await pipeline.histogram(semconv.METRIC_TOKENS, { ...series, 'gen_ai.token.type': 'output' })).toEqual({ sum: 305, count: 1 });
    expect(await pipeline.sum(semconv.METRIC_COST, series)).toBeCloseTo(0.005, 12);
    expect((await pipeline.histogram(semconv.METRIC_DURATION, { ...series, 'subagent.outcome': 'ok' })).count).toBe(1);
  });

  it('never puts the conversation id (or anything but agent, depth, outcome, type) on metrics', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run({ name: 'a', conversationId: 'user-secret-conversation' }, async (run) => {
      run.recordUsage({ inputTokens: 1, outputTokens: 1, costUsd: 0.1 });
    });
    const { resourceMetrics } = await pipeline.reader.collect();
    const keys = new Set<string>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) for (const point of metric.dataPoints) Object.keys(point.attributes).forEach((key) => keys.add(key));
    }
    expect([...keys].sort()).toEqual(['gen_ai.agent.name', 'gen_ai.token.type', 'subagent.depth', 'subagent.outcome']);
    expect(JSON.stringify(resourceMetrics.scopeMetrics)).not.toContain('user-secret-conversation');
  });

  it('uses explicit bucket boundaries in the instrument units, not the SDK millisecond defaults', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run('a', async (run) => run.recordUsage({ inputTokens: 5, outputTokens: 5 }));
    const boundaries = async (name: string) => {
      const [point] = await pipeline.points(name);
      return (point!.value as { buckets: { boundaries: number[] } }).buckets.boundaries;
    };
    expect(await boundaries(semconv.METRIC_DURATION)).toEqual(semconv.DURATION_BUCKETS_S);
    expect(await boundaries(semconv.METRIC_TURNS)).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    expect((await boundaries(semconv.METRIC_TOKENS)).at(-1)).toBe(67108864);
    expect((await boundaries(semconv.METRIC_TOKENS)).slice(0, 3)).toEqual([1, 4, 16]);
  });

  it('nests runs across await, timers and Promise.all', async () => {
    const { pipeline, agentmeter } = setup();
    const seen: Record<string, number | undefined> = {};
    await agentmeter.run('planner', async () => {
      await delay(1);
      await Promise.all(
        ['r1', 'r2', 'r3'].map((name) =>
          agentmeter.run(name, async (run) => {
            await new Promise<void>((resolve) =>
              setTimeout(() => {
                seen[`${name}-timer`] = currentRun()?.depth;
                resolve();
              }, 2),
            );
            await agentmeter.run('helper', async () => {
              seen[`${name}-helper-parent`] = currentRun()?.parent?.depth;
              expect(currentRun()?.parent).toBe(run);
            });
          }),
        ),
      );
    });
    expect(currentRun()).toBeUndefined();
    expect(seen).toMatchObject({ 'r1-timer': 1, 'r2-timer': 1, 'r3-timer': 1, 'r1-helper-parent': 1 });
    const spans = pipeline.finishedSpans();
    expect(spans).toHaveLength(7);
    const planner = spanNamed(spans, 'invoke_agent planner');
    const researchers = spans.filter((span) => /invoke_agent r\d/.test(span.name));
    const helpers = spans.filter((span) => span.name === 'invoke_agent helper');
    expect(researchers.map(parentId)).toEqual(researchers.map(() => planner.spanContext().spanId));
    expect(new Set(helpers.map(parentId))).toEqual(new Set(researchers.map((span) => span.spanContext().spanId)));
    expect(helpers.every((span) => span.attributes['subagent.depth'] === 2)).toBe(true);
    expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    expect(await pipeline.sum(semconv.METRIC_EXECUTIONS, { 'gen_ai.agent.name': 'helper', 'subagent.depth': 2 })).toBe(3);
  });

  it('passes the function result and error through untouched', async () => {
    const { agentmeter } = setup();
    const result = { big: 'object' };
    await expect(agentmeter.run('a', () => result)).resolves.toBe(result);
    const error = new RangeError('boom');
    await expect(agentmeter.run('a', async () => Promise.reject(error))).rejects.toBe(error);
    await expect(
      agentmeter.run('a', () => {
        throw error;
      }),
    ).rejects.toBe(error);
    const thrownString = 'plain string';
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a rejection that is not an Error is the case under test
    await expect(agentmeter.run('a', async () => Promise.reject(thrownString))).rejects.toBe(thrownString);
  });

  it('records errors with error.type from the error name, span status ERROR and the exception', async () => {
    const { pipeline, agentmeter } = setup();
    class ToolCrashed extends Error {
      override name = 'ToolCrashed';
    }
    await expect(agentmeter.run('worker', async () => Promise.reject(new ToolCrashed('disk full')))).rejects.toThrow('disk full');
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a rejection that is not an Error is the case under test
    await expect(agentmeter.run('worker', async () => Promise.reject(42))).rejects.toBe(42);
    const spans = pipeline.finishedSpans();
    expect(spans[0]!.attributes).toMatchObject({ 'subagent.outcome': 'error', 'error.type': 'ToolCrashed' });
    expect(spans[0]!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'disk full' });
    expect(spans[0]!.events.map((event) => event.name)).toContain('exception');
    expect(spans[1]!.attributes['error.type']).toBe('_OTHER');
    const series = { 'gen_ai.agent.name': 'worker', 'subagent.depth': 0 };
    expect(await pipeline.sum(semconv.METRIC_ERRORS, { ...series, 'error.type': 'ToolCrashed' })).toBe(1);
    expect(await pipeline.sum(semconv.METRIC_ERRORS, { ...series, 'error.type': '_OTHER' })).toBe(1);
    expect(await pipeline.sum(semconv.METRIC_EXECUTIONS, { ...series, 'subagent.outcome': 'error' })).toBe(2);
  });

  it('aborts run.signal on timeout and records outcome timeout', async () => {
    const { pipeline, agentmeter } = setup();
    const error = await agentmeter
      .run({ name: 'slow', timeoutMs: 5 }, (run) => new Promise((_, reject) => run.signal.addEventListener('abort', () => reject(run.signal.reason))))
      .catch((caught: unknown) => caught);
    expect((error as DOMException).name).toBe('TimeoutError');
    const span = spanNamed(pipeline.finishedSpans(), 'invoke_agent slow');
    expect(span.attributes).toMatchObject({ 'subagent.outcome': 'timeout', 'error.type': 'timeout' });
    expect(await pipeline.sum(semconv.METRIC_ERRORS, { 'error.type': 'timeout' })).toBe(1);
  });

  it("records outcome aborted when the caller's signal fires, and does not start a run whose signal already fired", async () => {
    const { pipeline, agentmeter } = setup();
    const controller = new AbortController();
    const pending = agentmeter.run(
      { name: 'cancellable', signal: controller.signal },
      (run) => new Promise((_, reject) => run.signal.addEventListener('abort', () => reject(new Error('stopped')))),
    );
    controller.abort(new Error('user left'));
    await expect(pending).rejects.toThrow('stopped');

    let called = false;
    await expect(
      agentmeter.run({ name: 'cancellable', signal: controller.signal }, async () => {
        called = true;
      }),
    ).rejects.toThrow('user left');
    expect(called).toBe(false);
    const spans = pipeline.finishedSpans();
    expect(spans.map((span) => span.attributes['subagent.outcome'])).toEqual(['aborted', 'aborted']);
    expect(spans.map((span) => span.attributes['error.type'])).toEqual(['aborted', 'aborted']);
    expect(await pipeline.sum(semconv.METRIC_ACTIVE)).toBe(0);
  });

  it("cancels nested runs with their parent: a child's signal follows its parent's", async () => {
    const { pipeline, agentmeter } = setup();
    const controller = new AbortController();
    let waiting = 0;
    const pending = agentmeter.run({ name: 'parent', signal: controller.signal }, () =>
      Promise.all([
        agentmeter.run('child', async (child) => {
          waiting += 1;
          await untilAborted(child.signal);
          return child.signal.reason as Error;
        }),
        agentmeter.run({ name: 'child', timeoutMs: 60_000 }, async () =>
          agentmeter.run('grandchild', async (grandchild) => {
            waiting += 1;
            await untilAborted(grandchild.signal);
            return grandchild.signal.reason as Error;
          }),
        ),
      ]),
    );
    await waitFor('both leaves to be running', () => (waiting === 2 ? true : undefined), { intervalMillis: 1 });
    controller.abort(new Error('user left'));
    const reasons = await pending;
    expect(reasons.map((reason) => reason.message)).toEqual(['user left', 'user left']);
    const outcomes = pipeline.finishedSpans().map((span) => [span.name, span.attributes['subagent.outcome']]);
    expect(outcomes).toEqual(
      expect.arrayContaining([
        ['invoke_agent grandchild', 'aborted'],
        ['invoke_agent child', 'aborted'],
        ['invoke_agent parent', 'aborted'],
      ]),
    );
    // A child started after its parent was cancelled never runs.
    let started = false;
    const late = new AbortController();
    const childError = await agentmeter.run({ name: 'p', signal: late.signal }, async () => {
      late.abort(new Error('too late'));
      return agentmeter
        .run('c', async () => {
          started = true;
        })
        .catch((caught: unknown) => caught);
    });
    expect((childError as Error).message).toBe('too late');
    expect(started).toBe(false);
    expect(await pipeline.sum(semconv.METRIC_ACTIVE)).toBe(0);
  });

  it('keeps a run that ignores its signal active, and counts its late usage', async () => {
    const { pipeline, agentmeter } = setup();
    let finish!: () => void;
    let runHandle!: ReturnType<typeof currentRun>;
    const pending = agentmeter.run({ name: 'stubborn', timeoutMs: 1 }, (run) => {
      runHandle = run;
      return new Promise<void>((resolve) => (finish = resolve));
    });
    await waitFor('the run to start', () => runHandle);
    await untilAborted(runHandle!.signal);
    expect(runHandle!.signal.aborted).toBe(true);
    expect(await pipeline.sum(semconv.METRIC_ACTIVE, { 'gen_ai.agent.name': 'stubborn' })).toBe(1);
    runHandle!.recordUsage({ inputTokens: 7, outputTokens: 3 });
    finish();
    await pending;
    expect(await pipeline.sum(semconv.METRIC_ACTIVE, { 'gen_ai.agent.name': 'stubborn' })).toBe(0);
    expect(await pipeline.histogram(semconv.METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).toEqual({ sum: 7, count: 1 });
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent stubborn').attributes['subagent.outcome']).toBe('timeout');
    // Usage arriving after the run ended still counts.
    runHandle!.recordUsage({ inputTokens: 2, outputTokens: 0 });
    expect(await pipeline.histogram(semconv.METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).toEqual({ sum: 9, count: 2 });
  });

  it('returns active to exactly 0 after any mix of results, throws, timeouts and aborts', async () => {
    const { pipeline, agentmeter } = setup();
    const controller = new AbortController();
    const tasks = Array.from({ length: 40 }, (_, index) =>
      agentmeter.run({ name: `agent-${index % 4}`, timeoutMs: index % 5 === 0 ? 1 : undefined, signal: controller.signal }, async (run) => {
        await delay(index % 3);
        if (index % 7 === 0) throw new Error('x');
        if (index % 5 === 0) await untilAborted(run.signal);
        return index;
      }),
    );
    setTimeout(() => controller.abort(), 1);
    await Promise.allSettled(tasks);
    expect(await pipeline.sum(semconv.METRIC_ACTIVE)).toBe(0);
    expect(await pipeline.sum(semconv.METRIC_EXECUTIONS)).toBe(40);
  });

  it('wrap() runs a function as a subagent reachable through currentRun()', async () => {
    const { pipeline, agentmeter } = setup();
    const researcher = agentmeter.wrap('researcher', async (topic: string) => {
      currentRun()?.recordTurn();
      currentRun()?.recordUsage({ inputTokens: topic.length, outputTokens: 1 });
      return topic.toUpperCase();
    });
    await expect(researcher('otel')).resolves.toBe('OTEL');
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent researcher').attributes).toMatchObject({
      'subagent.turns': 1,
      'gen_ai.usage.input_tokens': 4,
    });
  });

  it('runParallel wraps the batch in an invoke_workflow span with size and outcome', async () => {
    const { pipeline, agentmeter } = setup();
    const results = await agentmeter.runParallel([
      { subagent: 'a', fn: async () => 1 },
      { subagent: { name: 'b', model: 'm' }, fn: async () => 2 },
    ]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'fulfilled', value: 2 },
    ]);
    const partial = await agentmeter.runParallel([
      { subagent: 'a', fn: async () => 1 },
      { subagent: 'b', fn: async () => Promise.reject(new Error('no')) },
    ]);
    expect(partial[1]!.status).toBe('rejected');
    await agentmeter.runParallel([{ subagent: 'c', fn: async () => Promise.reject(new Error('no')) }]);

    const spans = pipeline.finishedSpans();
    const batches = spans.filter((span) => span.name === 'invoke_workflow parallel');
    expect(batches.map((span) => span.attributes['subagent.batch.outcome'])).toEqual(['complete', 'partial', 'failed']);
    expect(batches.map((span) => span.attributes['subagent.batch.size'])).toEqual([2, 2, 1]);
    expect(batches[0]!.attributes['gen_ai.operation.name']).toBe('invoke_workflow');
    const children = spans.filter((span) => parentId(span) === batches[0]!.spanContext().spanId);
    expect(children.map((span) => span.name).sort()).toEqual(['invoke_agent a', 'invoke_agent b']);
    expect(children.every((span) => span.attributes['subagent.depth'] === 0)).toBe(true);
  });

  it('nests runParallel children under the enclosing run', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run('planner', () => agentmeter.runParallel([{ subagent: 'r', fn: async (run) => run.depth }]));
    const spans = pipeline.finishedSpans();
    const planner = spanNamed(spans, 'invoke_agent planner');
    const batch = spanNamed(spans, 'invoke_workflow parallel');
    expect(parentId(batch)).toBe(planner.spanContext().spanId);
    expect(parentId(spanNamed(spans, 'invoke_agent r'))).toBe(batch.spanContext().spanId);
    expect(spanNamed(spans, 'invoke_agent r').attributes['subagent.depth']).toBe(1);
  });
});

describe('bad input', () => {
  it('rejects a missing name, a non-function and unknown options with errors naming them', async () => {
    const { agentmeter } = setup();
    await expect(agentmeter.run('', async () => 1)).rejects.toThrow(/name must be a non-empty string/);
    await expect(agentmeter.run('a', 'nope' as never)).rejects.toThrow(/fn must be a function/);
    await expect(agentmeter.run({ name: 'a', nmae: 'x' } as never, async () => 1)).rejects.toThrow(/nmae is not a known run option/);
    await expect(agentmeter.run({ name: 'a', timeoutMs: -1 }, async () => 1)).rejects.toThrow(/timeoutMs/);
    await expect(agentmeter.run({ name: 'a', estimate: { tokens: 1.5 } }, async () => 1)).rejects.toThrow(/estimate.tokens/);
    await expect(agentmeter.run({ name: 'a', estimate: { costUsd: 1e7 } }, async () => 1)).rejects.toThrow(
      'estimate.costUsd must be a number from 0 to 9007199, got 10000000',
    );
    expect(() => new AgentMeter({ stritc: true } as never)).toThrow(/stritc is not a known option/);
    expect(() => new AgentMeter({ maxAgentNames: 0 })).toThrow(/maxAgentNames/);
    expect(() => agentmeter.wrap('', async () => 1)).toThrow(/name/);
    await expect(agentmeter.runParallel([{ subagent: 'a', fn: 3 as never }])).rejects.toThrow(/tasks\[0\]\.fn must be a function/);
  });

  it('drops invalid usage fields with a warning, keeps the valid ones and state intact', async () => {
    const { pipeline, agentmeter } = setup();
    await agentmeter.run('a', async (run) => {
      run.recordUsage({ inputTokens: 10, outputTokens: 2 });
      run.recordUsage({ inputTokens: -1, outputTokens: 2 });
      run.recordUsage({ inputTokens: Number.NaN });
      run.recordUsage({ outputTokens: 1.5 });
      run.recordUsage({ costUsd: Number.POSITIVE_INFINITY });
      run.recordTurn(-1);
      run.recordTurn(0.5);
      run.recordTurn();
      expect(run.inputTokens).toBe(10);
      expect(run.outputTokens).toBe(4);
    });
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent a').attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 10,
      'gen_ai.usage.output_tokens': 4,
      'subagent.turns': 1,
    });
    expect(await pipeline.histogram(semconv.METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).toEqual({ sum: 10, count: 1 });
    expect(await pipeline.points(semconv.METRIC_COST)).toEqual([]);
  });

  it('throws a TypeError for invalid usage in strict mode', async () => {
    const { agentmeter } = setup({ strict: true });
    await expect(agentmeter.run('a', async (run) => run.recordUsage({ inputTokens: -5 }))).rejects.toThrow(TypeError);
    await expect(agentmeter.run('a', async (run) => run.recordUsage({ costUsd: Number.NaN }))).rejects.toThrow(/costUsd/);
    await expect(agentmeter.run('a', async (run) => run.recordTurn(1.5))).rejects.toThrow(/recordTurn/);
  });

  it('caps distinct agent names in metrics at maxAgentNames, keeping real names on spans', async () => {
    const { pipeline, agentmeter } = setup({ maxAgentNames: 2 });
    for (const name of ['a', 'b', 'c', 'd']) await agentmeter.run(name, async () => undefined);
    const names = (await pipeline.points(semconv.METRIC_EXECUTIONS)).map((point) => point.attributes['gen_ai.agent.name']).sort();
    expect(names).toEqual(['_OTHER', 'a', 'b']);
    expect(await pipeline.sum(semconv.METRIC_EXECUTIONS, { 'gen_ai.agent.name': '_OTHER' })).toBe(2);
    expect(pipeline.finishedSpans().map((span) => span.attributes['gen_ai.agent.name'])).toEqual(['a', 'b', 'c', 'd']);
  });
});
