import { describe, expect, it } from 'vitest';
import { AgentMeter, QuotaExceededError } from '../../src/index.js';
import { createPipeline, delay } from '../helpers/otel.js';

describe('what the quota enforces is what the meter exports', () => {
  it('a mixed workload (parallel, nested, failing, denied) exports executions, tokens and cost equal to the snapshot', async () => {
    const pipeline = createPipeline();
    const agentmeter = new AgentMeter({
      tracerProvider: pipeline.tracerProvider,
      meterProvider: pipeline.meterProvider,
      quota: { limits: { maxExecutions: 30, maxTokens: 40_000, maxCostUsd: 1 } },
    });
    const outcomes = await agentmeter.run('planner', async (planner) => {
      planner.recordUsage({ inputTokens: 500, outputTokens: 120, costUsd: 0.0123 });
      return agentmeter.runParallel(
        Array.from({ length: 40 }, (_, index) => ({
          subagent: { name: index % 2 ? 'researcher' : 'writer', estimate: { tokens: 300, costUsd: 0.001 } },
          fn: async (run) => {
            run.recordTurn(1 + (index % 4));
            run.recordUsage({ inputTokens: 100 + index, outputTokens: 7 * index, costUsd: 0.000_333 * (index + 1) });
            await delay(index % 3);
            if (index % 5 === 0) await agentmeter.run('helper', async (helper) => helper.recordUsage({ inputTokens: 11, outputTokens: 3, costUsd: 0.000_001 }));
            if (index % 7 === 0) throw new Error('flaky tool');
            return index;
          },
        })),
      );
    });
    const denied = outcomes.filter((outcome) => outcome.status === 'rejected' && QuotaExceededError.isInstance(outcome.reason)).length;
    expect(denied).toBeGreaterThan(0);

    const snapshot = agentmeter.quota!.snapshot();
    const executions = await pipeline.points('subagent.executions');
    const exportedAdmitted = executions
      .filter((point) => point.attributes['subagent.outcome'] !== 'denied')
      .reduce((sum, point) => sum + (point.value as number), 0);
    const exportedDenied = executions
      .filter((point) => point.attributes['subagent.outcome'] === 'denied')
      .reduce((sum, point) => sum + (point.value as number), 0);
    expect(exportedAdmitted).toBe(snapshot.executions.used);
    expect(snapshot.executions.used).toBe(30);
    expect(exportedDenied).toBeGreaterThanOrEqual(denied);
    expect((await pipeline.histogram('subagent.tokens')).sum).toBe(snapshot.tokens.used);
    expect(Math.abs((await pipeline.sum('subagent.cost')) - snapshot.costUsd.used)).toBeLessThan(1e-9);
    expect(await pipeline.sum('subagent.quota.used', { 'quota.resource': 'executions' })).toBe(snapshot.executions.used);
    expect(await pipeline.sum('subagent.quota.used', { 'quota.resource': 'tokens' })).toBe(snapshot.tokens.used);
    expect(snapshot.tokens.reserved).toBe(0);
  });
});
