import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentMeter, QuotaExceededError, type AgentMeterOptions, type Run } from '../../src/index.js';
import { createPipeline, delay } from '../helpers/otel.js';

function setup(quota: AgentMeterOptions['quota']) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, quota });
  return { pipeline, agentmeter, quota: agentmeter.quota };
}

/** A fake model call: declares its worst case, "runs", and settles to what it used. */
async function modelCall(run: Run, worst: { input: number; maxOutput: number }, used: number, onCall: () => void = () => undefined) {
  const call = await run.reserveCall({ inputTokens: worst.input, maxOutputTokens: worst.maxOutput });
  onCall();
  await delay(0);
  call.settle({ inputTokens: worst.input, outputTokens: used - worst.input });
}

describe('run.reserveCall: the worst case of each model call is held before the call', () => {
  it('holds the worst case while the call runs, then keeps what was used and frees the rest', async () => {
    const { agentmeter, quota } = setup({ limits: { maxTokens: 10_000, maxCostUsd: 1 } });
    await agentmeter.run('writer', async (run) => {
      const call = await run.reserveCall({ inputTokens: 1_000, maxOutputTokens: 4_000, costUsd: 0.05 });
      expect(quota!.snapshot().tokens).toMatchObject({ used: 0, reserved: 5_000 });
      expect(quota!.snapshot().costUsd).toMatchObject({ reserved: 0.05 });
      call.settle({ inputTokens: 1_000, outputTokens: 600, costUsd: 0.01 });
      call.settle({ inputTokens: 1_000, outputTokens: 600, costUsd: 0.01 });
      expect(quota!.snapshot().tokens).toMatchObject({ used: 1_600, reserved: 0 });
      expect(quota!.snapshot().costUsd).toMatchObject({ used: 0.01, reserved: 0 });
      expect(run.outputTokens).toBe(600);
    });
  });

  it('refuses a call whose worst case does not fit before it reaches the model; the run ends incomplete and its parent sees the refusal', async () => {
    const { agentmeter, pipeline } = setup({ limits: { maxTokens: 1_000 } });
    let modelCalls = 0;
    let seenByParent: unknown;
    await agentmeter.run('orchestrator', async () => {
      try {
        await agentmeter.run('researcher', async (run) => {
          await modelCall(run, { input: 300, maxOutput: 300 }, 400, () => (modelCalls += 1));
          await modelCall(run, { input: 300, maxOutput: 400 }, 500, () => (modelCalls += 1));
        });
      } catch (error) {
        seenByParent = error;
      }
    });
    expect(modelCalls).toBe(1);
    expect(seenByParent).toBeInstanceOf(QuotaExceededError);
    expect(seenByParent).toMatchObject({ resource: 'tokens', limit: 1_000, used: 400, requested: 700 });
    const researcher = pipeline.finishedSpans().find((span) => span.name === 'invoke_agent researcher')!;
    expect(researcher.attributes['subagent.outcome']).toBe('incomplete');
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.resource': 'tokens' })).toBe(1);
  });

  it('refuses every call once the run was stopped', async () => {
    const { agentmeter } = setup({ limits: { maxTokens: 100 } });
    await agentmeter
      .run('a', async (run) => {
        await expect(run.reserveCall({ inputTokens: 90, maxOutputTokens: 20 })).rejects.toBeInstanceOf(QuotaExceededError);
        await expect(run.reserveCall({ inputTokens: 1, maxOutputTokens: 1 })).rejects.toBeInstanceOf(QuotaExceededError);
      })
      .catch(() => undefined);
  });

  it('names the field of an invalid worst case', async () => {
    const { agentmeter } = setup({ limits: { maxTokens: 100 } });
    await agentmeter.run('a', async (run) => {
      await expect(run.reserveCall({ inputTokens: -1, maxOutputTokens: 1 })).rejects.toThrow('reserveCall: inputTokens must be a non-negative integer, got -1');
      await expect(run.reserveCall({ inputTokens: 1, maxOutputTokens: 1.5 })).rejects.toThrow(
        'reserveCall: maxOutputTokens must be a non-negative integer, got 1.5',
      );
      await expect(run.reserveCall({ inputTokens: 1, maxOutputTokens: 1, costUsd: Number.NaN })).rejects.toThrow(
        'reserveCall: costUsd must be a number from 0',
      );
    });
  });

  it('in observe mode holds the call anyway and counts the would-be refusal', async () => {
    const { agentmeter, pipeline, quota } = setup({ mode: 'observe', limits: { maxTokens: 100 } });
    await agentmeter.run('a', async (run) => {
      const call = await run.reserveCall({ inputTokens: 100, maxOutputTokens: 100 });
      expect(quota!.snapshot().tokens.reserved).toBe(200);
      call.settle({ inputTokens: 100, outputTokens: 10 });
    });
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.mode': 'observe', 'quota.resource': 'tokens' })).toBe(1);
    expect(quota!.snapshot().tokens).toMatchObject({ used: 110, reserved: 0 });
  });

  it('without quotas resolves at once and settle records the usage', async () => {
    const { agentmeter } = setup(undefined);
    const tokens = await agentmeter.run('a', async (run) => {
      const call = await run.reserveCall({ inputTokens: 10, maxOutputTokens: 10 });
      call.settle({ inputTokens: 10, outputTokens: 3 });
      return run.inputTokens + run.outputTokens;
    });
    expect(tokens).toBe(13);
  });

  it('counts in the day window of the run, and a nested budget', async () => {
    const { agentmeter, quota } = setup({ windows: [{ per: 'day', maxTokens: 500 }] });
    await agentmeter.run('a', async () => {
      await agentmeter
        .run({ name: 'b', budget: { maxTokens: 200 } }, async (run) => {
          await expect(run.reserveCall({ inputTokens: 100, maxOutputTokens: 101 })).rejects.toMatchObject({ resource: 'tokens', limit: 200 });
        })
        .catch(() => undefined);
      await agentmeter.run('c', async (run) => {
        const call = await run.reserveCall({ inputTokens: 100, maxOutputTokens: 400 });
        expect(quota!.snapshot().windows[0]!.tokens.reserved).toBe(500);
        await expect(run.reserveCall({ inputTokens: 1, maxOutputTokens: 0 })).rejects.toMatchObject({ window: 'day' });
        call.settle({ inputTokens: 100, outputTokens: 50 });
      });
    });
    expect(quota!.snapshot().windows[0]!.tokens).toMatchObject({ used: 150, reserved: 0 });
  });

  it('an overrun charged after the fact is one denial, however many charges pass the limit', async () => {
    const { agentmeter, pipeline } = setup({ limits: { maxTokens: 100 } });
    await agentmeter
      .run('a', (run) => {
        run.recordUsage({ inputTokens: 150 });
        run.recordUsage({ inputTokens: 10 });
      })
      .catch(() => undefined);
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.resource': 'tokens' })).toBe(1);
  });

  it('property: with every model call declaring its maximum, used never exceeds the limit, over random parallel and nested workloads', async () => {
    const call = fc.record({
      input: fc.integer({ min: 0, max: 400 }),
      maxOutput: fc.integer({ min: 0, max: 600 }),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    interface Agent {
      calls: Array<{ input: number; maxOutput: number; fraction: number }>;
      children: Agent[];
    }
    // Three levels deep at most: an orchestrator, its subagents and theirs.
    const level = (children: fc.Arbitrary<Agent[]>): fc.Arbitrary<Agent> => fc.record({ calls: fc.array(call, { maxLength: 4 }), children });
    const agent = level(fc.array(level(fc.array(level(fc.constant([])), { maxLength: 3 })), { maxLength: 3 }));
    await fc.assert(
      fc.asyncProperty(fc.array(agent, { minLength: 1, maxLength: 6 }), fc.integer({ min: 200, max: 5_000 }), async (roots, limit) => {
        const { agentmeter, quota } = setup({ limits: { maxTokens: limit } });
        const work = async (node: Agent, name: string): Promise<void> =>
          agentmeter
            .run(name, async (run) => {
              // Every child is waited for, so that nothing is still in flight when the workload ends.
              const results = await Promise.allSettled([
                (async () => {
                  for (const step of node.calls) {
                    const used = step.input + Math.floor(step.maxOutput * step.fraction);
                    await modelCall(run, step, used);
                  }
                })(),
                ...node.children.map((child, index) => work(child, `${name}.${index}`)),
              ]);
              const failed = results.find((result) => result.status === 'rejected');
              if (failed !== undefined) throw failed.reason;
            })
            .catch((error: unknown) => {
              if (!QuotaExceededError.isInstance(error)) throw error;
            });
        await Promise.all(roots.map((root, index) => work(root, `agent${index}`)));
        const tokens = quota!.snapshot().tokens;
        expect(tokens.used).toBeLessThanOrEqual(limit);
        expect(tokens.reserved).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});
