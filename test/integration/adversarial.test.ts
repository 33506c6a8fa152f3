// Driven through the public API as a careless or hostile app would (issue 16); each test failed
// before its fix.
import { getEventListeners } from 'node:events';
import { format } from 'node:util';
import { Agent, Runner, Usage, setTraceProcessors, setTracingDisabled } from '@openai/agents';
import { ScriptedModel, assistantMessage, modelResponse } from '@openai/agents/testing';
import { DiagLogLevel, SpanStatusCode, diag } from '@opentelemetry/api';
import { generateText } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { afterEach, describe, expect, it } from 'vitest';
import { createAiSdkIntegration } from '../../src/adapters/ai-sdk/index.js';
import { instrumentOpenAIAgents } from '../../src/adapters/openai-agents/index.js';
import { AgentMeter, QuotaExceededError } from '../../src/index.js';
import { MemoryQuotaStore, type MemoryLease, type MemoryNode, type QuotaStore } from '../../src/quota-store/index.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_QUOTA_LIMIT,
  ATTR_QUOTA_REQUESTED,
  ATTR_QUOTA_RESOURCE,
  ATTR_QUOTA_SCOPE,
  ATTR_QUOTA_USED,
  ATTR_SUBAGENT_OUTCOME,
  EVENT_QUOTA_DENIED,
  MAX_AGENT_NAME_LENGTH,
  METRIC_EXECUTIONS,
  OTHER,
} from '../../src/semconv.js';
import { createAdapterPipeline } from '../adapters/pipeline.js';
import { captureDiagAndRejections } from '../helpers/diag.js';
import { createPipeline, delay, untilAborted } from '../helpers/otel.js';

function createMeter(options: ConstructorParameters<typeof AgentMeter>[0] = {}) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, ...options });
  return { pipeline, agentmeter };
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** Runs `body` and returns the MaxListenersExceededWarnings Node printed meanwhile. */
async function leakWarnings(body: () => Promise<unknown>): Promise<Error[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await body();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  return warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning');
}

describe('hostile input', () => {
  const { logged, unhandled } = captureDiagAndRejections();
  afterEach(() => expect(unhandled).toEqual([]));

  describe('an invalid cost drops the cost, never the tokens', () => {
    it('recordUsage keeps the tokens of a record whose cost is NaN or negative', async () => {
      const { pipeline, agentmeter } = createMeter({ quota: { limits: { maxTokens: 1000 } } });
      await agentmeter.run('priced', (run) => {
        run.recordUsage({ inputTokens: 500, outputTokens: 100, costUsd: Number.NaN, model: 'unpriced' });
        run.recordUsage({ inputTokens: 400, outputTokens: 200, costUsd: -1 });
        // Beyond what a ledger holds exactly (2^53 nano-dollars): dropped like a negative cost.
        run.recordUsage({ costUsd: 1e12 });
      });
      expect(agentmeter.quota!.snapshot().tokens.used).toBe(1200);
      expect(agentmeter.totals()).toMatchObject({ inputTokens: 900, outputTokens: 300, costUsd: 0 });
      const [span] = pipeline.finishedSpans();
      expect(span!.attributes).toMatchObject({ [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: 900, 'gen_ai.request.model': 'unpriced' });
      expect(logged.filter((message) => message.includes('costUsd must be a number from 0 to 9007199'))).toHaveLength(3);
      await expect(agentmeter.run('next', () => 1)).rejects.toBeInstanceOf(QuotaExceededError);
    });

    it('with strict: true, recordUsage throws for an invalid cost after recording the tokens', async () => {
      const { agentmeter } = createMeter({ strict: true, quota: { limits: { maxTokens: 1000 } } });
      let thrown: unknown;
      await agentmeter.run('priced', (run) => {
        try {
          run.recordUsage({ inputTokens: 700, outputTokens: 500, costUsd: Number.NaN });
        } catch (error) {
          thrown = error;
        }
      });
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toContain('costUsd must be a number from 0 to 9007199, got NaN');
      expect(agentmeter.quota!.snapshot().tokens.used).toBe(1200);
      expect(agentmeter.totals()).toMatchObject({ inputTokens: 700, outputTokens: 500 });
    });

    it('an AI SDK app whose costUsd hook returns NaN is held to maxTokens', async () => {
      for (const strict of [false, true]) {
        const { agentmeter } = createMeter({ strict, quota: { limits: { maxTokens: 1000 } } });
        const PRICES: Record<string, number> = { 'known-model': 1e-6 };
        const integration = createAiSdkIntegration(agentmeter, { costUsd: (usage) => usage.inputTokens * PRICES[usage.modelId ?? '']! });
        const model = () =>
          new MockLanguageModelV4({
            modelId: 'new-model',
            doGenerate: {
              content: [{ type: 'text', text: 'answer' }],
              finishReason: { unified: 'stop', raw: 'stop' },
              usage: { inputTokens: { total: 1000, noCache: 1000, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 200, text: 200, reasoning: 0 } },
              warnings: [],
            },
          });
        const results = [];
        for (let call = 0; call < 3; call++) {
          results.push(
            await generateText({ model: model(), prompt: 'go', telemetry: { integrations: [integration] } }).then(
              () => 'ok',
              (error: unknown) => error,
            ),
          );
        }
        expect(results[0]).toBe('ok');
        expect(QuotaExceededError.isInstance(results[1]) && QuotaExceededError.isInstance(results[2])).toBe(true);
        expect(agentmeter.quota!.snapshot().tokens.used).toBe(1200);
        expect(agentmeter.totals()).toMatchObject({ inputTokens: 1000, outputTokens: 200, costUsd: 0 });
        expect(logged.some((message) => message.includes('options.costUsd returned NaN'))).toBe(true);
      }
    });

    it('an OpenAI Agents app whose costUsd hook returns a negative number is held to maxTokens', async () => {
      setTracingDisabled(false);
      setTraceProcessors([]);
      const pipeline = createAdapterPipeline({ quota: { limits: { maxTokens: 1000 } } });
      const uninstall = instrumentOpenAIAgents(pipeline.agentmeter, { costUsd: () => -0.5 });
      try {
        const say = () =>
          modelResponse({
            output: [assistantMessage('answer')],
            usage: new Usage({ requests: 1, input_tokens: 1000, output_tokens: 200, total_tokens: 1200 }),
          });
        const agent = new Agent({ name: 'Writer', instructions: 'write', model: new ScriptedModel([say(), say(), say()]) });
        await new Runner().run(agent, 'go');
        expect(pipeline.agentmeter.quota!.snapshot().tokens.used).toBe(1200);
        expect(pipeline.agentmeter.totals()).toMatchObject({ inputTokens: 1000, outputTokens: 200, costUsd: 0 });
        expect(logged.some((message) => message.includes('options.costUsd returned -0.5'))).toBe(true);
        await expect(new Runner().run(agent, 'again')).rejects.toBeInstanceOf(QuotaExceededError);
      } finally {
        uninstall();
        await pipeline.shutdown();
      }
    });
  });

  describe('thrown values that cannot be read', () => {
    const unreadableName = () => ({
      get name(): string {
        throw new Error('name is not readable');
      },
    });

    it.each([
      ['a revoked Proxy', revokedProxy],
      ['an object whose name getter throws', unreadableName],
      [
        'a Proxy whose every trap throws',
        () =>
          new Proxy(new Error('x'), {
            get: () => {
              throw new Error('get');
            },
            getPrototypeOf: () => {
              throw new Error('proto');
            },
            has: () => {
              throw new Error('has');
            },
          }),
      ],
    ])('%s thrown by fn reaches the caller, and the run releases its slot and ends its span', async (_label, make) => {
      const { pipeline, agentmeter } = createMeter({ quota: { limits: { maxConcurrent: 1 } } });
      const thrown: unknown = make();
      // Caught, not returned from a then(): resolving a promise with a revoked Proxy reads its `then`.
      let caught: unknown;
      try {
        await agentmeter.run('a', () => Promise.reject(thrown));
      } catch (error) {
        caught = error;
      }
      expect(Object.is(caught, thrown)).toBe(true);
      expect(agentmeter.totals().active).toBe(0);
      expect(agentmeter.quota!.snapshot().concurrent.used).toBe(0);
      const [span] = pipeline.finishedSpans();
      expect(span!.attributes).toMatchObject({ [ATTR_SUBAGENT_OUTCOME]: 'error', [ATTR_ERROR_TYPE]: OTHER });
      expect(span!.status.code).toBe(SpanStatusCode.ERROR);
      await expect(agentmeter.run('b', () => 'admitted')).resolves.toBe('admitted');
    });

    it.each([
      ['Object.create(null)', () => Object.create(null) as object],
      [
        'an object whose toString throws',
        () => ({
          toString: () => {
            throw new Error('no string');
          },
        }),
      ],
      ['a revoked Proxy', revokedProxy],
    ])('%s thrown by fn is recorded on an ended span as an exception with status ERROR', async (_label, make) => {
      const { pipeline, agentmeter } = createMeter();
      const thrown: unknown = make();
      await expect(
        agentmeter.run('a', () => {
          throw thrown;
        }),
      ).rejects.toBe(thrown);
      const [span] = pipeline.finishedSpans();
      expect(span!.ended).toBe(true);
      expect(span!.status.code).toBe(SpanStatusCode.ERROR);
      expect(span!.events.filter((event) => event.name === 'exception')).toHaveLength(1);
      expect(logged).toEqual([]);
    });
  });

  it("a diag logger that cannot format a hook's error (as console's util.format cannot) does not break the run", async () => {
    const write = (...args: unknown[]) => void format(...args);
    diag.setLogger({ error: write, warn: write, info: write, debug: write, verbose: write }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    const unprintable = Object.defineProperty(new Error('m'), 'message', {
      get: () => {
        throw new Error('message is not readable');
      },
    });
    const agentmeter = new AgentMeter({
      quota: {
        scopeBy: () => {
          throw unprintable;
        },
      },
    });
    await expect(agentmeter.run('a', () => 'ran')).resolves.toBe('ran');
    expect(agentmeter.totals().active).toBe(0);
  });

  describe('a run whose signal has already fired', () => {
    it('is not admitted: no reservation, fn never runs, and maxExecutions is not used up', async () => {
      const { pipeline, agentmeter } = createMeter({ quota: { limits: { maxExecutions: 3 } } });
      const controller = new AbortController();
      const reason = new Error('cancelled by the user');
      controller.abort(reason);
      let called = 0;
      for (let attempt = 0; attempt < 3; attempt++) {
        await expect(agentmeter.run({ name: 'late', signal: controller.signal }, () => (called += 1))).rejects.toBe(reason);
      }
      expect(called).toBe(0);
      expect(agentmeter.quota!.snapshot().executions).toMatchObject({ used: 0, reserved: 0 });
      expect(agentmeter.totals()).toMatchObject({ active: 0, executions: { aborted: 3 } });
      expect(pipeline.finishedSpans().map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME])).toEqual(['aborted', 'aborted', 'aborted']);
      await expect(agentmeter.run('real', () => 'ran')).resolves.toBe('ran');
    });

    // With an asynchronous store (Redis), the signal may fire while the reservation is in flight.
    it('gives its reservation back whole when the signal fires while an asynchronous store reserves', async () => {
      const inner = new MemoryQuotaStore();
      let release = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const store: QuotaStore<MemoryLease, MemoryNode> = {
        name: 'async-memory',
        createNode: (node) => inner.createNode(node),
        reserve: async (request) => {
          await gate;
          return inner.reserve(request);
        },
        charge: (lease, usage) => inner.charge(lease, usage),
        settle: (lease) => inner.settle(lease),
        cancel: (lease) => inner.cancel(lease),
        read: (key) => inner.read(key),
        scopes: () => inner.scopes(),
      };
      const { agentmeter } = createMeter({ quota: { limits: { maxExecutions: 1, maxTokens: 100 }, store } });
      const controller = new AbortController();
      let called = false;
      const pending = agentmeter.run({ name: 'slow-admission', signal: controller.signal, estimate: { tokens: 40 } }, () => (called = true));
      controller.abort('gave up');
      release();
      await expect(pending).rejects.toBe('gave up');
      expect(called).toBe(false);
      expect(agentmeter.quota!.snapshot()).toMatchObject({ executions: { used: 0, reserved: 0 }, tokens: { reserved: 0 }, concurrent: { used: 0 } });
      await expect(agentmeter.run('next', () => 'ran')).resolves.toBe('ran');
    });

    it('is not admitted when its parent was already cancelled', async () => {
      const { agentmeter } = createMeter({ quota: { limits: { maxExecutions: 2 } } });
      const controller = new AbortController();
      let childCalled = false;
      await agentmeter.run({ name: 'parent', signal: controller.signal }, async (run) => {
        controller.abort('stop');
        // This parent ignores its signal and starts a child anyway.
        await expect(agentmeter.run('child', () => (childCalled = true))).rejects.toBe(run.signal.reason);
      });
      expect(childCalled).toBe(false);
      expect(agentmeter.quota!.snapshot().executions.used).toBe(1);
      await expect(agentmeter.run('next', () => 'ran')).resolves.toBe('ran');
    });
  });

  describe('wide fan-out', () => {
    it('50 runs sharing one caller signal make no MaxListenersExceededWarning, put one listener on it, and are all cancelled by it', async () => {
      const { agentmeter } = createMeter();
      const controller = new AbortController();
      let started = 0;
      let listeners = -1;
      const warnings = await leakWarnings(async () => {
        const runs = Array.from({ length: 50 }, (_, index) =>
          agentmeter.run({ name: `sub-${index}`, signal: controller.signal }, async (run) => {
            if (++started === 50) {
              listeners = getEventListeners(controller.signal, 'abort').length;
              controller.abort('enough');
            }
            await untilAborted(run.signal);
            throw run.signal.reason;
          }),
        );
        const results = await Promise.allSettled(runs);
        expect(results.every((result) => result.status === 'rejected' && result.reason === 'enough')).toBe(true);
      });
      expect(warnings).toEqual([]);
      expect(listeners).toBe(1);
      expect(agentmeter.totals().executions.aborted).toBe(50);
    });

    it("neither a shared caller signal nor a parent's signal keeps a listener once the runs following it ended", async () => {
      const { agentmeter } = createMeter();
      const controller = new AbortController();
      await Promise.all(Array.from({ length: 20 }, () => agentmeter.run({ name: 'sub', signal: controller.signal }, () => delay(1))));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      const left = await agentmeter.run('parent', async (parent) => {
        await Promise.all(Array.from({ length: 20 }, () => agentmeter.run('child', () => delay(1))));
        return getEventListeners(parent.signal, 'abort').length;
      });
      expect(left).toBe(0);
    });

    it("50 parallel children put one listener on their parent's signal, and cancelling the parent cancels them all", async () => {
      const { agentmeter } = createMeter();
      const controller = new AbortController();
      let parentListeners = -1;
      const warnings = await leakWarnings(() =>
        agentmeter
          .run({ name: 'orchestrator', signal: controller.signal }, async (parent) => {
            let started = 0;
            const children = Array.from({ length: 50 }, (_, index) =>
              agentmeter.run(`sub-${index}`, async (run) => {
                if (++started === 50) {
                  parentListeners = getEventListeners(parent.signal, 'abort').length;
                  controller.abort('enough');
                }
                await untilAborted(run.signal);
                throw run.signal.reason;
              }),
            );
            return Promise.allSettled(children);
          })
          .then((results) => expect(results.filter((result) => result.status === 'rejected')).toHaveLength(50)),
      );
      expect(warnings).toEqual([]);
      expect(parentListeners).toBe(1);
      // The orchestrator followed the same signal: it ends aborted too.
      expect(agentmeter.totals()).toMatchObject({ active: 0, executions: { aborted: 51 } });
    });
    it('a cancellation 5,000 runs deep reaches the deepest run (propagation takes no stack per level)', async () => {
      const { agentmeter } = createMeter();
      const controller = new AbortController();
      const nest = (level: number): Promise<unknown> =>
        agentmeter.run('nested', async (run) => {
          if (level === 5000) {
            controller.abort('stop');
            return run.signal.reason as unknown;
          }
          await Promise.resolve(); // nests asynchronously, as real agents do
          return nest(level + 1);
        });
      await expect(agentmeter.run({ name: 'root', signal: controller.signal }, () => nest(1))).resolves.toBe('stop');
      expect(agentmeter.totals()).toMatchObject({ active: 0, executions: { aborted: 5001 } });
    });
  });

  describe('agent names', () => {
    it('a 1 MB name is capped on metrics, span attributes and the span name; two long names stay distinct', async () => {
      const { pipeline, agentmeter } = createMeter();
      const long = 'n'.repeat(1_000_000);
      await agentmeter.run(`${long}-a`, () => 1);
      await agentmeter.run(`${long}-b`, () => 1);
      await agentmeter.run('short', () => 1);
      const names = pipeline.finishedSpans().map((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] as string);
      expect(names[2]).toBe('short');
      for (const name of names.slice(0, 2)) {
        expect(name.length).toBe(MAX_AGENT_NAME_LENGTH);
        expect(name.startsWith('nnnn')).toBe(true);
        expect(name).toContain('…');
      }
      expect(names[0]).not.toBe(names[1]);
      expect(pipeline.finishedSpans()[0]!.name).toBe(`invoke_agent ${names[0]}`);
      const metricNames = (await pipeline.points(METRIC_EXECUTIONS)).map((point) => point.attributes[ATTR_GEN_AI_AGENT_NAME]);
      expect(new Set(metricNames)).toEqual(new Set(names));
      // The same long name maps to the same capped value every time.
      await agentmeter.run(`${long}-a`, () => 1);
      expect(pipeline.finishedSpans()[3]!.attributes[ATTR_GEN_AI_AGENT_NAME]).toBe(names[0]);
    });
  });

  describe('run budgets', () => {
    it('a budget with a negative limit is rejected without a quota, naming the field', async () => {
      const agentmeter = new AgentMeter();
      let called = false;
      await expect(agentmeter.run({ name: 'a', budget: { maxTokens: -1 } }, () => (called = true))).rejects.toThrow(
        'budget.maxTokens must be a non-negative integer, got -1',
      );
      await expect(agentmeter.runParallel([{ subagent: { name: 'b', budget: { maxCostUsd: Number.NaN } }, fn: () => 1 }])).rejects.toThrow(
        'tasks[0].budget.maxCostUsd must be a non-negative finite number, got NaN',
      );
      expect(() => agentmeter.wrap({ name: 'c', budget: { maxExecution: 1 } as never }, () => 1)).toThrow('budget.maxExecution is not a known limit');
      expect(called).toBe(false);
    });
  });

  describe('denied runs on spans', () => {
    it.each(['enforce', 'observe'] as const)('in %s mode every denial adds a quota.denied event, and a denied span has usage 0', async (mode) => {
      const { pipeline, agentmeter } = createMeter({ quota: { mode, limits: { maxExecutions: 1 } } });
      await agentmeter.run('first', () => 1);
      await agentmeter.run({ name: 'second', estimate: { tokens: 5 } }, () => 2).catch(() => undefined);
      const span = pipeline.finishedSpans()[1]!;
      expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe(mode === 'enforce' ? 'denied' : 'ok');
      expect(span.attributes).toMatchObject({ [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: 0, [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: 0 });
      const events = span.events.filter((event) => event.name === EVENT_QUOTA_DENIED);
      expect(events.map((event) => event.attributes)).toEqual([
        { [ATTR_QUOTA_RESOURCE]: 'executions', [ATTR_QUOTA_SCOPE]: 'global', [ATTR_QUOTA_LIMIT]: 1, [ATTR_QUOTA_USED]: 1, [ATTR_QUOTA_REQUESTED]: 1 },
      ]);
    });
  });
});
