// One test per bug found in review; each failed before its fix.
import { describe, expect, it } from 'vitest';
import { AgentMeter, QuotaStoreUnavailableError, type QuotaStore } from '../../src/index.js';
import { MemoryQuotaStore, type MemoryLease, type MemoryNode } from '../../src/quota-store/index.js';
import { createPipeline, delay } from '../helpers/otel.js';

describe('regressions', () => {
  it('a maxWallTimeMs beyond setTimeout range (31 days) does not stop runs at once', async () => {
    const agentmeter = new AgentMeter({ quota: { limits: { maxWallTimeMs: 31 * 24 * 3_600_000 } } });
    const aborted = await agentmeter.run('a', async (run) => {
      await delay(20);
      return run.signal.aborted;
    });
    expect(aborted).toBe(false);
    expect(agentmeter.totals().executions.ok).toBe(1);
  });

  it('a maxDurationMsPerRun of 2^31 ms does not stop runs at once', async () => {
    const agentmeter = new AgentMeter({ quota: { limits: { maxDurationMsPerRun: 2 ** 31 } } });
    expect(
      await agentmeter.run('a', async (run) => {
        await delay(20);
        return run.signal.aborted;
      }),
    ).toBe(false);
  });

  it('two AgentMeters on one meter provider export the sum of their executions', async () => {
    const pipeline = createPipeline();
    const first = new AgentMeter({ meterProvider: pipeline.meterProvider });
    const second = new AgentMeter({ meterProvider: pipeline.meterProvider });
    await first.run('researcher', async () => 1);
    await second.run('researcher', async () => 1);
    await second.run('researcher', async () => 1);
    expect(await pipeline.sum('subagent.executions')).toBe(3);
    expect(await pipeline.sum('subagent.active')).toBe(0);
  });

  it("a run nested in another AgentMeter's run is held to its own meter's limits", async () => {
    const outer = new AgentMeter({ quota: { limits: { maxExecutions: 1000 } } });
    const inner = new AgentMeter({ quota: { limits: { maxExecutions: 1 } } });
    await outer.run('outer', () => inner.run('nested', async () => 1));
    await expect(inner.run('top', async () => 1)).rejects.toMatchObject({ resource: 'executions', limit: 1 });
  });

  it('a denied run with a budget leaves no budget node behind in the memory store', async () => {
    const store = new MemoryQuotaStore();
    const agentmeter = new AgentMeter({ quota: { limits: { maxExecutions: 1 }, store } });
    await agentmeter.run('first', async () => 1);
    await expect(agentmeter.run({ name: 'child', budget: { maxTokens: 10 } }, async () => 1)).rejects.toThrow('Quota exceeded');
    expect(store.read('global/child#1')).toBeUndefined();
  });

  it('observe mode counts one would-be turn-limit stop per run, as enforce mode would stop it once', async () => {
    const pipeline = createPipeline();
    const agentmeter = new AgentMeter({ meterProvider: pipeline.meterProvider, quota: { mode: 'observe', limits: { maxTurnsPerRun: 2 } } });
    await agentmeter.run('a', async (run) => {
      for (let turn = 0; turn < 6; turn++) run.recordTurn();
    });
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.resource': 'turns' })).toBe(1);
  });

  it('a store whose read() throws neither leaks the slot nor throws into recordUsage', async () => {
    const inner = new MemoryQuotaStore();
    let failReads = true;
    const store: QuotaStore<MemoryLease, MemoryNode> = {
      name: 'custom',
      createNode: (node) => inner.createNode(node),
      reserve: (request) => inner.reserve(request),
      charge: (lease, usage) => inner.charge(lease, usage),
      settle: (lease) => inner.settle(lease),
      read: (key) => {
        if (failReads) throw new Error('read failed');
        return inner.read(key);
      },
      scopes: () => inner.scopes(),
    };
    const agentmeter = new AgentMeter({ quota: { limits: { maxConcurrent: 1, maxTokens: 1000 }, warnAt: [0.5], store } });
    await expect(
      agentmeter.run('a', async (run) => {
        run.recordUsage({ inputTokens: 10 });
        return 'ran';
      }),
    ).resolves.toBe('ran');
    failReads = false;
    expect(inner.read('global')?.reserved.concurrent).toBe(0);
  });

  it('children denied because their parent was stopped count in subagent.quota.denials', async () => {
    const pipeline = createPipeline();
    const agentmeter = new AgentMeter({ meterProvider: pipeline.meterProvider, quota: { limits: { maxTurnsPerRun: 1 } } });
    await agentmeter.run('parent', async (run) => {
      run.recordTurn(2);
      await agentmeter.run('child', async () => 1).catch(() => undefined);
    });
    expect(await pipeline.sum('subagent.executions', { 'subagent.outcome': 'denied' })).toBe(1);
    expect(await pipeline.sum('subagent.quota.denials')).toBe(2);
  });

  it('a run refused because the quota store is unavailable shows up as denied in executions and errors', async () => {
    const pipeline = createPipeline();
    const store: QuotaStore = {
      name: 'down',
      reserve: async () => {
        throw new QuotaStoreUnavailableError('down', new Error('connection refused'));
      },
      charge: () => undefined,
      settle: () => undefined,
      read: () => undefined,
      scopes: () => [],
    };
    const agentmeter = new AgentMeter({ meterProvider: pipeline.meterProvider, quota: { limits: { maxExecutions: 5 }, store } });
    await expect(agentmeter.run('a', async () => 1)).rejects.toThrow('down');
    expect(await pipeline.sum('subagent.errors', { 'error.type': 'QuotaStoreUnavailableError' })).toBe(1);
    expect(await pipeline.sum('subagent.executions', { 'subagent.outcome': 'denied' })).toBe(1);
  });

  it("a child started after its parent ended stays inside the parent's budget", async () => {
    const agentmeter = new AgentMeter({ quota: { limits: {} } });
    let late: Promise<unknown> | undefined;
    await agentmeter.run({ name: 'parent', budget: { maxTokens: 100 } }, async (run) => {
      run.recordUsage({ inputTokens: 100 });
      late = delay(5).then(() => agentmeter.run('late', async () => 'admitted'));
    });
    await expect(late).rejects.toMatchObject({ resource: 'tokens' });
  });

  it('an orchestrator with 20 parallel subagents makes Node print no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const agentmeter = new AgentMeter();
      await agentmeter.run('orchestrator', () => Promise.all(Array.from({ length: 20 }, (_, index) => agentmeter.run(`sub-${index}`, () => delay(1)))));
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
