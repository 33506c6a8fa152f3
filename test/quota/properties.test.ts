import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentMeter, type Run } from '../../src/index.js';
import { createPipeline } from '../helpers/otel.js';

interface Task {
  estimate: number;
  estimateCost: number;
  usage: Array<{ tokens: number; cost: number }>;
  throws: boolean;
  abortEarly: boolean;
  parallelChildren: boolean;
  budget: number | undefined;
  children: Task[];
}

const leaf = fc.record({
  estimate: fc.integer({ min: 0, max: 400 }),
  estimateCost: fc.integer({ min: 0, max: 5000 }).map((nanos) => nanos / 1e6),
  usage: fc.array(fc.record({ tokens: fc.integer({ min: 0, max: 300 }), cost: fc.integer({ min: 0, max: 3000 }).map((nanos) => nanos / 1e6) }), {
    maxLength: 3,
  }),
  throws: fc.boolean(),
  abortEarly: fc.boolean(),
  parallelChildren: fc.boolean(),
  budget: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
});

/** A task with up to `levels` levels of children below it. */
function taskOf(levels: number): fc.Arbitrary<Task> {
  if (levels === 0) return leaf.map((value) => ({ ...value, children: [] }));
  return fc.tuple(leaf, fc.array(taskOf(levels - 1), { maxLength: 2 })).map(([value, children]) => ({ ...value, children }));
}
const taskArbitrary = taskOf(2);

const limitsArbitrary = fc.record({
  maxExecutions: fc.integer({ min: 1, max: 40 }),
  maxTokens: fc.integer({ min: 100, max: 6000 }),
  maxConcurrent: fc.integer({ min: 1, max: 12 }),
  maxCostUsd: fc.integer({ min: 1000, max: 100_000 }).map((nanos) => nanos / 1e6),
});

describe('quota admission for any workload', () => {
  it('never admits more than the limits, leaks nothing, and exports exactly the ledger state', async () => {
    await fc.assert(
      fc.asyncProperty(limitsArbitrary, fc.array(taskArbitrary, { minLength: 1, maxLength: 25 }), async (limits, tasks) => {
        const pipeline = createPipeline();
        const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, quota: { limits } });
        let started = 0;
        let inFlight = 0;
        let peak = 0;
        let recordedTokens = 0;
        let recordedCostMicros = 0;
        const controller = new AbortController();

        const execute = (node: Task, index: number): Promise<unknown> =>
          agentmeter.run(
            {
              name: `agent-${index % 3}`,
              estimate: { tokens: node.estimate, costUsd: node.estimateCost },
              signal: node.abortEarly ? controller.signal : undefined,
              budget: node.budget === undefined ? undefined : { maxTokens: Math.min(node.budget, limits.maxTokens) },
            },
            async (run: Run) => {
              started += 1;
              inFlight += 1;
              peak = Math.max(peak, inFlight);
              try {
                for (const usage of node.usage) {
                  await Promise.resolve();
                  run.recordUsage({ inputTokens: usage.tokens, costUsd: usage.cost });
                  recordedTokens += usage.tokens;
                  recordedCostMicros += Math.round(usage.cost * 1e6);
                }
                const children = node.children.map((child, childIndex) => () => execute(child, childIndex));
                if (node.parallelChildren) await Promise.allSettled(children.map((start) => start()));
                else for (const start of children) await start().catch(() => undefined);
                if (node.throws) throw new Error('task failed');
              } finally {
                inFlight -= 1;
              }
            },
          );

        const all = Promise.allSettled(tasks.map((node, index) => execute(node, index)));
        setTimeout(() => controller.abort(), 0);
        await all;

        const snapshot = agentmeter.quota!.snapshot();
        expect(started).toBeLessThanOrEqual(limits.maxExecutions);
        expect(peak).toBeLessThanOrEqual(limits.maxConcurrent);
        expect(snapshot.executions).toMatchObject({ used: started, reserved: 0 });
        expect(snapshot.tokens).toMatchObject({ used: recordedTokens, reserved: 0 });
        expect(snapshot.costUsd.reserved).toBe(0);
        expect(snapshot.costUsd.used).toBeCloseTo(recordedCostMicros / 1e6, 9);
        expect(snapshot.concurrent.used).toBe(0);

        const exportedExecutions = (await pipeline.points('subagent.executions'))
          .filter((point) => point.attributes['subagent.outcome'] !== 'denied')
          .reduce((total, point) => total + (point.value as number), 0);
        expect(exportedExecutions).toBe(snapshot.executions.used);
        const exportedTokens = (await pipeline.histogram('subagent.tokens')).sum;
        expect(exportedTokens).toBe(snapshot.tokens.used);
        expect(Math.abs((await pipeline.sum('subagent.cost')) - snapshot.costUsd.used)).toBeLessThan(1e-9);
        expect(await pipeline.sum('subagent.active')).toBe(0);
        expect(await pipeline.sum('subagent.quota.used', { 'quota.resource': 'tokens', 'quota.scope': 'global' })).toBe(snapshot.tokens.used);
        expect(await pipeline.sum('subagent.quota.reserved', { 'quota.resource': 'executions' })).toBe(0);
      }),
      { numRuns: 80 },
    );
  });
});
