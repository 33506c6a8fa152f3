import { describe, expect, it, vi } from 'vitest';
import { AgentMeter, QuotaExceededError, type AgentMeterOptions, type Run } from '../../src/index.js';
import { createPipeline, delay, spanNamed, untilAborted } from '../helpers/otel.js';

function setup(quota: AgentMeterOptions['quota']) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, quota });
  return { pipeline, agentmeter, quota: agentmeter.quota! };
}

async function settle<T>(promises: Array<Promise<T>>) {
  const results = await Promise.allSettled(promises);
  const denied = results.filter((result) => result.status === 'rejected' && QuotaExceededError.isInstance(result.reason));
  return { results, admitted: results.length - denied.length, denied: denied.map((result) => (result as PromiseRejectedResult).reason as QuotaExceededError) };
}

describe('hard limits', () => {
  it('maxExecutions: N parallel runs against limit L admit exactly min(N, L), and denied runs never call fn', async () => {
    const { pipeline, agentmeter, quota } = setup({ limits: { maxExecutions: 5 } });
    let calls = 0;
    const { admitted, denied } = await settle(
      Array.from({ length: 20 }, () =>
        agentmeter.run('worker', async () => {
          calls += 1;
          await delay(1);
        }),
      ),
    );
    expect(admitted).toBe(5);
    expect(calls).toBe(5);
    expect(denied).toHaveLength(15);
    expect(denied[0]).toMatchObject({ resource: 'executions', scope: 'global', limit: 5, used: 5, requested: 1 });
    expect(denied[0]!.message).toBe('Quota exceeded: executions 6/5 (scope global)');
    expect(quota.snapshot().executions).toEqual({ limit: 5, used: 5, reserved: 0, remaining: 0 });
    expect(await pipeline.sum('subagent.executions', { 'subagent.outcome': 'denied' })).toBe(15);
    expect(await pipeline.sum('subagent.errors', { 'error.type': 'quota_exceeded' })).toBe(15);
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.resource': 'executions', 'quota.mode': 'enforce' })).toBe(15);
    const deniedSpan = pipeline.finishedSpans().find((span) => span.attributes['subagent.outcome'] === 'denied')!;
    expect(deniedSpan.attributes['error.type']).toBe('quota_exceeded');
  });

  it('maxConcurrent: never more in flight than the limit; slots come back when runs end', async () => {
    const { agentmeter, quota } = setup({ limits: { maxConcurrent: 3 } });
    let inFlight = 0;
    let peak = 0;
    const work = async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await delay(5);
      inFlight -= 1;
    };
    const first = await settle(Array.from({ length: 10 }, () => agentmeter.run('w', work)));
    expect(first.admitted).toBe(3);
    expect(first.denied[0]).toMatchObject({ resource: 'concurrent', limit: 3, used: 3 });
    expect(peak).toBe(3);
    expect(quota.snapshot().concurrent).toMatchObject({ limit: 3, used: 0 });
    const second = await settle(Array.from({ length: 3 }, () => agentmeter.run('w', work)));
    expect(second.admitted).toBe(3);
  });

  it('maxTokens: reserves the estimate before start, settles to actual, denies what does not fit', async () => {
    const { agentmeter, quota } = setup({ limits: { maxTokens: 50_000 } });
    let during: ReturnType<typeof quota.snapshot> | undefined;
    await agentmeter.run({ name: 'r', estimate: { tokens: 30_000 } }, async (run) => {
      during = quota.snapshot();
      run.recordUsage({ inputTokens: 10_000, outputTokens: 2_000 });
    });
    expect(during!.tokens).toEqual({ limit: 50_000, used: 0, reserved: 30_000, remaining: 20_000 });
    expect(quota.snapshot().tokens).toEqual({ limit: 50_000, used: 12_000, reserved: 0, remaining: 38_000 });
    const error = await agentmeter.run({ name: 'big', estimate: { tokens: 39_000 } }, async () => 1).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect((error as QuotaExceededError).message).toBe('Quota exceeded: tokens 51000/50000 (scope global)');
    expect(error).toMatchObject({ resource: 'tokens', used: 12_000, requested: 39_000, limit: 50_000 });
  });

  it('usage beyond the reservation is charged at once: past a hard limit the run is stopped (incomplete) and new runs denied', async () => {
    const { pipeline, agentmeter, quota } = setup({ limits: { maxTokens: 1_000 } });
    let reason: unknown;
    await agentmeter.run({ name: 'runaway', estimate: { tokens: 100 } }, async (run) => {
      run.recordUsage({ inputTokens: 600 });
      expect(run.signal.aborted).toBe(false);
      run.recordUsage({ inputTokens: 600 });
      expect(run.signal.aborted).toBe(true);
      reason = run.signal.reason;
    });
    expect(reason).toBeInstanceOf(QuotaExceededError);
    expect(reason).toMatchObject({ resource: 'tokens', limit: 1_000, used: 600, requested: 600 });
    const span = spanNamed(pipeline.finishedSpans(), 'invoke_agent runaway');
    expect(span.attributes).toMatchObject({ 'subagent.outcome': 'incomplete', 'error.type': 'quota_exceeded' });
    expect(span.events.map((event) => event.name)).toContain('quota.denied');
    await expect(agentmeter.run('next', async () => 1)).rejects.toMatchObject({ resource: 'tokens' });
    expect(quota.snapshot().tokens).toMatchObject({ used: 1_200, reserved: 0, remaining: 0 });
  });

  it('maxCostUsd: kept in integer nano-dollars, denies past the limit', async () => {
    const { agentmeter, quota } = setup({ limits: { maxCostUsd: 0.3 } });
    for (let index = 0; index < 3; index++) await agentmeter.run('r', async (run) => run.recordUsage({ costUsd: 0.1 }));
    expect(quota.snapshot().costUsd).toEqual({ limit: 0.3, used: 0.3, reserved: 0, remaining: 0 });
    await expect(agentmeter.run('r', async () => 1)).rejects.toMatchObject({ resource: 'costUsd', limit: 0.3, used: 0.3 });
    await expect(agentmeter.run({ name: 'r', estimate: { costUsd: 0.01 } }, async () => 1)).rejects.toThrow('Quota exceeded: costUsd 0.31/0.3 (scope global)');
  });

  // Costs used to be summed in micro-dollars, each record rounded: 0.4 micro-USD counted as 0.
  it('maxCostUsd: costs below a micro-dollar add up, across runs and within one', async () => {
    const { pipeline, agentmeter, quota } = setup({ limits: { maxCostUsd: 0.001 } });
    const results = await settle(Array.from({ length: 2_500 }, () => agentmeter.run('cheap', async (run) => run.recordUsage({ costUsd: 0.0000004 }))));
    expect(results.admitted).toBe(2_500);
    expect(quota.snapshot().costUsd.used).toBeCloseTo(0.001, 12);
    await expect(agentmeter.run('cheap', async () => 1)).rejects.toMatchObject({ resource: 'costUsd' });
    expect(agentmeter.totals().costUsd).toBeCloseTo(0.001, 12);
    expect(await pipeline.sum('subagent.cost')).toBeCloseTo(0.001, 12);

    // Within one run, amounts below a nano-dollar are carried from record to record.
    const single = setup({ limits: { maxCostUsd: 1 } });
    const costUsd = await single.agentmeter.run('tiny', async (run) => {
      for (let index = 0; index < 1_000; index++) run.recordUsage({ costUsd: 3e-10 });
      return run.costUsd;
    });
    expect(costUsd).toBeCloseTo(3e-7, 15);
    expect(single.quota.snapshot().costUsd.used).toBeCloseTo(3e-7, 15);
  });

  it('maxDepth: 3 admits depth 3 and denies depth 4', async () => {
    const { agentmeter } = setup({ limits: { maxDepth: 3 } });
    const nest = (level: number): Promise<number> => agentmeter.run(`level-${level}`, async (run) => (level === 4 ? run.depth : nest(level + 1)));
    const error = await nest(0).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ resource: 'depth', limit: 3 });
    expect((error as Error).message).toBe('Quota exceeded: depth 4/3 (scope global)');
    await expect(agentmeter.run('a', () => agentmeter.run('b', () => agentmeter.run('c', () => agentmeter.run('d', async (run) => run.depth))))).resolves.toBe(
      3,
    );
  });

  it('maxTurnsPerRun: the turn past the limit stops that run with outcome incomplete', async () => {
    const { pipeline, agentmeter } = setup({ limits: { maxTurnsPerRun: 3 } });
    const turnsTaken = await agentmeter.run('looper', async (run) => {
      let turns = 0;
      while (!run.signal.aborted && turns < 100) {
        run.recordTurn();
        turns += 1;
      }
      return turns;
    });
    expect(turnsTaken).toBe(4);
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent looper').attributes).toMatchObject({ 'subagent.outcome': 'incomplete', 'subagent.turns': 4 });
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.resource': 'turns' })).toBe(1);
  });

  it('a run stopped by a quota may not start children: they are denied without running', async () => {
    const { pipeline, agentmeter } = setup({ limits: { maxTurnsPerRun: 1 } });
    let childCalled = false;
    const error = await agentmeter
      .run('planner', async (run) => {
        run.recordTurn(2);
        return agentmeter.run('researcher', async () => {
          childCalled = true;
        });
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(error).toMatchObject({ resource: 'turns' });
    expect(childCalled).toBe(false);
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent researcher').attributes['subagent.outcome']).toBe('denied');
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent planner').attributes['subagent.outcome']).toBe('incomplete');
  });

  it('maxDurationMsPerRun: aborts the run signal when the run takes too long', async () => {
    const { pipeline, agentmeter } = setup({ limits: { maxDurationMsPerRun: 5 } });
    const reason = await agentmeter.run('slow', async (run) => {
      await untilAborted(run.signal);
      return run.signal.reason as QuotaExceededError;
    });
    expect(reason).toMatchObject({ resource: 'duration', limit: 5 });
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent slow').attributes['subagent.outcome']).toBe('incomplete');
  });

  it("maxWallTimeMs: running runs are aborted at the scope's deadline and later ones denied", async () => {
    const { agentmeter } = setup({ limits: { maxWallTimeMs: 20 } });
    // Three runs share the scope's deadline (and its one timer): each is stopped.
    const reasons = await Promise.all(
      [0, 1, 2].map(() =>
        agentmeter.run('long', async (run) => {
          await untilAborted(run.signal);
          return run.signal.reason as QuotaExceededError;
        }),
      ),
    );
    for (const reason of reasons) expect(reason).toMatchObject({ resource: 'wallTimeMs', limit: 20, scope: 'global' });
    await expect(agentmeter.run('late', async () => 1)).rejects.toMatchObject({ resource: 'wallTimeMs' });
  });
});

describe('scopes', () => {
  it("scopeBy 'conversation' keeps one budget per conversation; nested runs share their root's scope", async () => {
    const { agentmeter, quota } = setup({ limits: { maxExecutions: 2 }, scopeBy: 'conversation' });
    await agentmeter.run({ name: 'planner', conversationId: 'c-1' }, async (run) => {
      expect(run.scope).toBe('c-1');
      await agentmeter.run('helper', async (child) => expect(child.scope).toBe('c-1'));
    });
    await expect(agentmeter.run({ name: 'planner', conversationId: 'c-1' }, async () => 1)).rejects.toMatchObject({ scope: 'c-1' });
    await expect(agentmeter.run({ name: 'planner', conversationId: 'c-2' }, async () => 1)).resolves.toBe(1);
    await expect(agentmeter.run('no-conversation', async (run) => run.scope)).resolves.toBe('global');
    expect(quota.snapshot('c-1').executions.used).toBe(2);
    expect(quota.snapshot('c-2').executions.used).toBe(1);
    expect(quota.snapshot().executions.used).toBe(1);
  });

  it("keeps conversation ids out of metrics by default, summing those scopes as 'other'", async () => {
    const { pipeline, agentmeter } = setup({ limits: { maxExecutions: 10 }, scopeBy: 'conversation' });
    await agentmeter.run({ name: 'a', conversationId: 'conversation-secret-1' }, async () => 1);
    await agentmeter.run({ name: 'a', conversationId: 'conversation-secret-2' }, async () => 1);
    await agentmeter.run('no-conversation', async () => 1);
    const { resourceMetrics } = await pipeline.reader.collect();
    expect(JSON.stringify(resourceMetrics.scopeMetrics)).not.toContain('conversation-secret');
    expect(await pipeline.sum('subagent.quota.used', { 'quota.resource': 'executions', 'quota.scope': 'other' })).toBe(2);
    expect(await pipeline.sum('subagent.quota.limit', { 'quota.resource': 'executions', 'quota.scope': 'other' })).toBe(20);
    expect(await pipeline.sum('subagent.quota.used', { 'quota.resource': 'executions', 'quota.scope': 'global' })).toBe(1);

    const named = setup({ limits: { maxExecutions: 10 }, scopeBy: 'conversation', maxReportedScopes: 1 });
    await named.agentmeter.run({ name: 'a', conversationId: 'c-1' }, async () => 1);
    await named.agentmeter.run({ name: 'a', conversationId: 'c-2' }, async () => 1);
    expect(await named.pipeline.sum('subagent.quota.used', { 'quota.resource': 'executions', 'quota.scope': 'c-1' })).toBe(1);
    expect(await named.pipeline.sum('subagent.quota.used', { 'quota.resource': 'executions', 'quota.scope': 'other' })).toBe(1);
  });

  it('keeps the keys of a scopeBy function (user ids) out of metrics by default', async () => {
    const { pipeline, agentmeter } = setup({ limits: { maxExecutions: 10 }, scopeBy: (spec) => spec.attributes?.user as string });
    await agentmeter.run({ name: 'a', attributes: { user: 'alice@example.com' } }, async () => 1);
    await agentmeter.run({ name: 'a', attributes: { user: 'bob@example.com' } }, async () => 1);
    const { resourceMetrics } = await pipeline.reader.collect();
    expect(JSON.stringify(resourceMetrics.scopeMetrics)).not.toContain('example.com');
    expect(await pipeline.sum('subagent.quota.used', { 'quota.resource': 'executions', 'quota.scope': 'other' })).toBe(2);
  });

  it('scopeBy as a function; a throwing scope function falls back to global', async () => {
    const { agentmeter } = setup({ limits: { maxExecutions: 1 }, scopeBy: (spec) => (spec.name === 'bad' ? (undefined as never) : `tenant-${spec.name}`) });
    await expect(agentmeter.run('a', async (run) => run.scope)).resolves.toBe('tenant-a');
    await expect(agentmeter.run('b', async (run) => run.scope)).resolves.toBe('tenant-b');
    await expect(agentmeter.run('bad', async (run) => run.scope)).resolves.toBe('global');
  });
});

describe('observe mode', () => {
  it('admits everything and counts would-be denials', async () => {
    const { pipeline, agentmeter, quota } = setup({ limits: { maxExecutions: 2, maxTurnsPerRun: 1 }, mode: 'observe' });
    const results = await settle(Array.from({ length: 5 }, () => agentmeter.run('w', async (run) => (run.recordTurn(2), run.signal.aborted))));
    expect(results.admitted).toBe(5);
    expect(results.results.every((result) => result.status === 'fulfilled' && !result.value)).toBe(true);
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.resource': 'executions', 'quota.mode': 'observe' })).toBe(3);
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.resource': 'turns', 'quota.mode': 'observe' })).toBe(5);
    expect(quota.snapshot().executions.used).toBe(5);
  });
});

describe('warnings', () => {
  it('fire once per scope, resource and threshold, as span events and a counter', async () => {
    const { pipeline, agentmeter } = setup({ limits: { maxExecutions: 10, maxTokens: 1000 }, warnAt: [0.5, 0.8] });
    for (let index = 0; index < 10; index++) await agentmeter.run(`r${index}`, async (run) => run.recordUsage({ inputTokens: 100 }));
    expect(await pipeline.sum('subagent.quota.warnings', { 'quota.resource': 'executions', 'quota.threshold': 0.5 })).toBe(1);
    expect(await pipeline.sum('subagent.quota.warnings', { 'quota.resource': 'executions', 'quota.threshold': 0.8 })).toBe(1);
    expect(await pipeline.sum('subagent.quota.warnings', { 'quota.resource': 'tokens', 'quota.threshold': 0.5 })).toBe(1);
    expect(await pipeline.sum('subagent.quota.warnings', { 'quota.resource': 'tokens', 'quota.threshold': 0.8 })).toBe(1);
    const events = pipeline
      .finishedSpans()
      .flatMap((span) => span.events.filter((event) => event.name === 'quota.warning').map((event) => [span.name, event.attributes]));
    expect(events).toHaveLength(4);
    expect(events[0]).toEqual([
      'invoke_agent r4',
      expect.objectContaining({ 'quota.resource': 'executions', 'quota.threshold': 0.5, 'quota.scope': 'global' }),
    ]);
  });
});

describe('child budgets', () => {
  it("a child's usage counts against its own budget and every ancestor's", async () => {
    const { agentmeter, quota } = setup({ limits: { maxTokens: 10_000 } });
    await agentmeter.run({ name: 'writer', budget: { maxTokens: 1_000 } }, async (writer) => {
      writer.recordUsage({ inputTokens: 400 });
      await agentmeter.run('editor', async (editor) => editor.recordUsage({ inputTokens: 500 }));
      await expect(agentmeter.run({ name: 'editor', estimate: { tokens: 200 } }, async () => 1)).rejects.toMatchObject({
        resource: 'tokens',
        limit: 1_000,
        used: 900,
        requested: 200,
      });
      await expect(agentmeter.run({ name: 'editor', estimate: { tokens: 100 } }, async () => 1)).resolves.toBe(1);
    });
    expect(quota.snapshot().tokens.used).toBe(900);
    // The budget was the writer's: a new top-level run has the scope's remaining tokens again.
    await expect(agentmeter.run({ name: 'writer', estimate: { tokens: 5_000 } }, async () => 1)).resolves.toBe(1);
  });

  it('a budget caps executions and concurrency in its subtree, the run itself included', async () => {
    const { agentmeter } = setup({});
    await agentmeter.run({ name: 'planner', budget: { maxExecutions: 3 } }, async () => {
      const results = await settle(Array.from({ length: 5 }, () => agentmeter.run('r', async () => delay(1))));
      expect(results.admitted).toBe(2);
    });
  });

  it("a budget above its parent's limit is rejected when the run starts, naming the field", async () => {
    const { agentmeter, pipeline } = setup({ limits: { maxTokens: 5_000 } });
    await expect(agentmeter.run({ name: 'w', budget: { maxTokens: 6_000 } }, async () => 1)).rejects.toThrow(
      "agentmetry: budget.maxTokens (6000) of run 'w' exceeds its parent's maxTokens (5000)",
    );
    // A configuration mistake, not an execution: a failed span, no metrics.
    expect(await pipeline.sum('subagent.executions', { 'gen_ai.agent.name': 'w' })).toBe(0);
    expect(spanNamed(pipeline.finishedSpans(), 'invoke_agent w').attributes['error.type']).toBe('RangeError');
    await agentmeter.run({ name: 'outer', budget: { maxCostUsd: 1 } }, async () => {
      await expect(agentmeter.run({ name: 'inner', budget: { maxCostUsd: 2 } }, async () => 1)).rejects.toThrow(/budget.maxCostUsd \(2\)/);
      await expect(agentmeter.run({ name: 'inner', budget: { maxTokns: 2 } as never }, async () => 1)).rejects.toThrow(/budget.maxTokns is not a known limit/);
    });
  });
});

describe('invalid configuration is rejected at construction, naming the field', () => {
  it.each([
    [{ limits: { maxTokens: -1 } }, /quota.limits.maxTokens must be a non-negative integer, got -1/],
    [{ limits: { maxExecutions: 1.5 } }, /quota.limits.maxExecutions must be a non-negative integer/],
    [{ limits: { maxCostUsd: Number.POSITIVE_INFINITY } }, /quota.limits.maxCostUsd must be a non-negative finite number/],
    [{ limits: { maxCostUsd: 1e7 } }, /quota.limits.maxCostUsd must be at most 9007199 \(counted in integer nano-dollars\), got 10000000/],
    [{ limits: { maxWallTimeMs: Number.NaN } }, /quota.limits.maxWallTimeMs/],
    [{ limits: { maxConcurrent: '3' } }, /quota.limits.maxConcurrent/],
    [{ limits: { maxTokenz: 3 } }, /quota.limits.maxTokenz is not a known limit/],
    [{ limits: { toString: 3 } }, /quota.limits.toString is not a known limit/],
    [{ warnAt: [0] }, /quota.warnAt\[0\] must be a number in \(0, 1\]/],
    [{ warnAt: [0.5, 1.2] }, /quota.warnAt\[1\]/],
    [{ warnAt: 0.8 }, /quota.warnAt must be an array/],
    [{ mode: 'dry-run' }, /quota.mode must be 'enforce' or 'observe', got 'dry-run'/],
    [{ scopeBy: 'user' }, /quota.scopeBy must be 'global', 'conversation' or a function, got 'user'/],
    [{ limits: {}, unknownKey: 1 }, /quota.unknownKey is not a known option/],
    [{ maxReportedScopes: -1 }, /quota.maxReportedScopes/],
    [{ store: {} }, /quota.store must implement QuotaStore/],
  ])('%j', (quota, message) => {
    expect(() => new AgentMeter({ quota: quota as never })).toThrow(message);
  });
});

describe('QuotaExceededError', () => {
  it('is recognised across copies of the package by its marker', () => {
    const foreign = Object.defineProperty(new Error('x'), Symbol.for('agentmetry.QuotaExceededError'), { value: true });
    expect(QuotaExceededError.isInstance(foreign)).toBe(true);
    expect(foreign instanceof QuotaExceededError).toBe(true);
    expect(QuotaExceededError.isInstance(new Error('x'))).toBe(false);
  });
});

describe('leaks', () => {
  it('releases reservations and slots on throws, aborts and timeouts', async () => {
    const { agentmeter, quota } = setup({ limits: { maxTokens: 100_000, maxConcurrent: 50, maxCostUsd: 10 } });
    const controller = new AbortController();
    const runs: Array<Promise<unknown>> = [];
    for (let index = 0; index < 30; index++) {
      runs.push(
        agentmeter.run(
          { name: 'w', estimate: { tokens: 500, costUsd: 0.01 }, timeoutMs: index % 4 === 0 ? 1 : undefined, signal: controller.signal },
          async (run: Run) => {
            run.recordUsage({ inputTokens: index, costUsd: 0.001 });
            if (index % 3 === 0) throw new Error('fail');
            await delay(index % 5);
          },
        ),
      );
    }
    controller.abort();
    await Promise.allSettled(runs);
    const snapshot = quota.snapshot();
    expect(snapshot.tokens.reserved).toBe(0);
    expect(snapshot.costUsd.reserved).toBe(0);
    expect(snapshot.concurrent.used).toBe(0);
    expect(snapshot.executions.reserved).toBe(0);
    expect(snapshot.tokens.used).toBe((29 * 30) / 2);
    expect(snapshot.costUsd.used).toBeCloseTo(0.03, 9);
  });

  // Node keeps the emptied list of every length an unref'd timer used until that length has
  // elapsed: a timer per run, each a few ms shorter than the last, grew the heap until the deadline.
  it("arms one timer per wall-time deadline, not one per run, however many runs the scope's deadline spans", async () => {
    const { agentmeter } = setup({ limits: { maxWallTimeMs: 86_400_000 } });
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    try {
      for (let index = 0; index < 20; index++) {
        // Each run in a later millisecond than the last: a per-run timer would have a new length each time.
        const start = Date.now();
        await agentmeter.run('w', () => new Promise<void>((resolve) => setImmediate(resolve)));
        while (Date.now() === start) await new Promise((resolve) => setImmediate(resolve));
      }
      const long = setTimeoutSpy.mock.calls.filter(([, delay]) => typeof delay === 'number' && delay > 1_000_000);
      expect(long).toHaveLength(1);
    } finally {
      setTimeoutSpy.mockRestore();
    }
  });

  it('10,000 concurrent runs against maxExecutions 1000 admit exactly 1000', async () => {
    const { agentmeter, quota } = setup({ limits: { maxExecutions: 1000 } });
    const { admitted } = await settle(Array.from({ length: 10_000 }, () => agentmeter.run('w', async () => delay(0))));
    expect(admitted).toBe(1000);
    expect(quota.snapshot().executions).toEqual({ limit: 1000, used: 1000, reserved: 0, remaining: 0 });
  });
});
