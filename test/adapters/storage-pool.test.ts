import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent as MastraAgent } from '@mastra/core/agent';
import { Agent, Runner, Usage, setTraceProcessors, setTracingDisabled } from '@openai/agents';
import { ScriptedModel, assistantMessage, modelResponse } from '@openai/agents/testing';
import { MockLanguageModelV3 } from 'ai6/test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { instrumentMastra } from '../../src/adapters/mastra/index.js';
import { instrumentOpenAIAgents } from '../../src/adapters/openai-agents/index.js';
import { StoragePool } from '../../src/adapters/shared/storage-pool.js';
import { createAdapterPipeline } from './pipeline.js';

/**
 * On Node 20 every AsyncLocalStorage ever entered costs every promise in the process: an app or a
 * test suite that installs and uninstalls an adapter many times must not add a storage each time.
 */

/** The distinct storages entered while `work` runs. */
async function storagesEntered(work: () => Promise<void>): Promise<Set<AsyncLocalStorage<unknown>>> {
  const entered = new Set<AsyncLocalStorage<unknown>>();
  const prototype = AsyncLocalStorage.prototype as unknown as { run: (this: AsyncLocalStorage<unknown>, ...args: never[]) => unknown };
  const original = prototype.run;
  const spy = vi.spyOn(prototype, 'run').mockImplementation(function (this: AsyncLocalStorage<unknown>, ...args: never[]) {
    entered.add(this);
    return original.apply(this, args);
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return entered;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('adapters reuse their AsyncLocalStorage across installs', () => {
  it('StoragePool hands a given-back storage to the next taker, once', () => {
    const pool = new StoragePool<number>();
    const first = pool.take();
    pool.give(first);
    pool.give(first);
    expect(pool.take()).toBe(first);
    expect(pool.take()).not.toBe(first);
  });

  it('the OpenAI Agents adapter: five install/uninstall cycles enter no more storages than one', async () => {
    setTracingDisabled(false);
    setTraceProcessors([]);
    // One pipeline (its context manager has a storage of its own); the adapter comes and goes.
    const pipeline = createAdapterPipeline();
    const cycle = async () => {
      const uninstall = instrumentOpenAIAgents(pipeline.agentmeter);
      const model = new ScriptedModel([
        modelResponse({ output: [assistantMessage('ok')], usage: new Usage({ requests: 1, input_tokens: 1, output_tokens: 1, total_tokens: 2 }) }),
      ]);
      await new Runner().run(new Agent({ name: 'solo', model }), 'hi');
      uninstall();
    };
    const once = await storagesEntered(cycle);
    const five = await storagesEntered(async () => {
      for (let index = 0; index < 5; index++) await cycle();
    });
    expect(five.size).toBeLessThanOrEqual(once.size);
    await pipeline.shutdown();
  });

  it('the Mastra adapter: five install/uninstall cycles enter no more storages than one', async () => {
    const pipeline = createAdapterPipeline();
    const cycle = async () => {
      const uninstall = instrumentMastra(pipeline.agentmeter);
      const model = new MockLanguageModelV3({
        doGenerate: async () =>
          ({
            content: [{ type: 'text', text: 'ok' }],
            finishReason: { unified: 'stop', raw: 'stop' },
            usage: { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } },
            warnings: [],
          }) as never,
      });
      await new MastraAgent({ id: 'solo', name: 'solo', instructions: 'be brief', model }).generate('hi');
      uninstall();
    };
    const once = await storagesEntered(cycle);
    const five = await storagesEntered(async () => {
      for (let index = 0; index < 5; index++) await cycle();
    });
    expect(five.size).toBeLessThanOrEqual(once.size);
    await pipeline.shutdown();
  });
});
