// Whatever an app throws, from its function or from any hook it hands agentmetry, the caller
// gets exactly that (or the run goes on, as documented for hooks), and the run leaves nothing
// behind: no active run, no reservation, no unended span, no unhandled rejection (issue 16).
import { Agent, Runner, Usage, setTraceProcessors, setTracingDisabled } from '@openai/agents';
import { ScriptedModel, assistantMessage, modelResponse } from '@openai/agents/testing';
import fc from 'fast-check';
import { generateText } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAiSdkIntegration } from '../../src/adapters/ai-sdk/index.js';
import { instrumentOpenAIAgents } from '../../src/adapters/openai-agents/index.js';
import type { QuotaStore } from '../../src/index.js';
import { MemoryQuotaStore, type MemoryLease, type MemoryNode } from '../../src/quota-store/index.js';
import { ATTR_GEN_AI_AGENT_NAME } from '../../src/semconv.js';
import { createAdapterPipeline } from '../adapters/pipeline.js';
import { captureDiagAndRejections } from '../helpers/diag.js';

/** Values fast-check's `anything()` does not make, built fresh for each case. */
const SPECIAL_VALUES: Record<string, () => unknown> = {
  'a revoked Proxy': () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  },
  'a Proxy whose every trap throws': () =>
    new Proxy(new Error('x'), {
      get: () => {
        throw new Error('get');
      },
      has: () => {
        throw new Error('has');
      },
      getPrototypeOf: () => {
        throw new Error('getPrototypeOf');
      },
      ownKeys: () => {
        throw new Error('ownKeys');
      },
    }),
  'Object.create(null)': () => Object.create(null) as object,
  'a throwing name getter': () => ({
    get name(): string {
      throw new Error('name');
    },
  }),
  'a throwing toString': () => ({
    toString: () => {
      throw new Error('toString');
    },
  }),
  'a throwing Symbol.toPrimitive': () => ({
    [Symbol.toPrimitive]: () => {
      throw new Error('toPrimitive');
    },
  }),
  'a thenable': () => ({ then: (resolve: (value: unknown) => void) => resolve('resolved') }),
  'a thenable whose then getter throws': () => ({
    get then(): unknown {
      throw new Error('then');
    },
  }),
  'an Error whose message getter throws': () =>
    Object.defineProperty(new Error('m'), 'message', {
      get: () => {
        throw new Error('message');
      },
    }),
  'an Error with a 1 MB name': () => Object.assign(new Error('long'), { name: 'E'.repeat(1 << 20) }),
  'a frozen Error': () => Object.freeze(new Error('frozen')),
  'a Symbol': () => Symbol('thrown'),
  'a function': () => () => 'thrown',
  undefined: () => undefined,
  null: () => null,
  'an empty string': () => '',
};

/** What is thrown, described so that fast-check can print it (a revoked Proxy cannot be). */
type Thrown = { kind: 'anything'; value: unknown } | { kind: 'special'; name: string };
const thrownArbitrary: fc.Arbitrary<Thrown> = fc.oneof(
  fc
    .anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withTypedArray: true,
      withSparseArray: true,
    })
    .map((value) => ({ kind: 'anything' as const, value })),
  fc.constantFrom(...Object.keys(SPECIAL_VALUES)).map((name) => ({ kind: 'special' as const, name })),
);
const make = (thrown: Thrown): unknown => (thrown.kind === 'anything' ? thrown.value : SPECIAL_VALUES[thrown.name]!());

/** Where the value is thrown from. */
const SITES = [
  'fn throws',
  'fn rejects',
  'fn rejects later',
  'signal fired before the run',
  'signal fires during the run',
  'quota.scopeBy',
  'store.reserve throws',
  'store.reserve rejects',
  'store.charge',
  'store.settle',
  'spec.attributes getter',
  'ai-sdk costUsd',
  'ai-sdk name',
  'ai-sdk spec',
  'openai-agents costUsd',
] as const;
type Site = (typeof SITES)[number];

/** Sites where the value reaches the caller; at the others the run goes on as documented. */
const REACHES_CALLER = new Set<Site>(['fn throws', 'fn rejects', 'fn rejects later', 'store.reserve throws', 'store.reserve rejects']);

/** Hook throws armed for one synchronous stretch (admission runs synchronously inside `run()`). */
let armed: { site: Site; value: unknown } | undefined;
function take(site: Site): { value: unknown } | undefined {
  if (armed?.site !== site) return undefined;
  const { value } = armed;
  armed = undefined;
  return { value };
}
/** Adapter hooks receive the model id (AI SDK) or the token count (OpenAI Agents): the case's key. */
const byKey = new Map<string | number, { site: Site; value: unknown }>();
function hookThrow(key: string | number, site: Site): void {
  const entry = byKey.get(key);
  if (entry?.site === site) throw entry.value;
}

/** A memory store that throws where it is armed to (charge and settle after doing their work). */
function createHostileStore(): QuotaStore<MemoryLease, MemoryNode> {
  const inner = new MemoryQuotaStore();
  const settleThrows = new WeakMap<MemoryLease, unknown>();
  return {
    name: 'hostile',
    createNode: (node) => inner.createNode(node),
    reserve: (request) => {
      const thrown = take('store.reserve throws');
      if (thrown !== undefined) throw thrown.value;
      const rejected = take('store.reserve rejects');
      if (rejected !== undefined) return Promise.reject(rejected.value);
      const result = inner.reserve(request);
      const settle = take('store.settle');
      if (settle !== undefined && result.admitted) settleThrows.set(result.lease, settle.value);
      return result;
    },
    charge: (lease, usage) => {
      const result = inner.charge(lease, usage);
      const thrown = take('store.charge');
      if (thrown !== undefined) throw thrown.value;
      return result;
    },
    settle: (lease) => {
      inner.settle(lease);
      if (settleThrows.has(lease)) throw settleThrows.get(lease);
    },
    read: (key) => inner.read(key),
    scopes: () => inner.scopes(),
  };
}

describe('any thrown value', () => {
  const { unhandled } = captureDiagAndRejections();
  const pipeline = createAdapterPipeline({
    quota: {
      limits: { maxTokens: 1e12 },
      store: createHostileStore(),
      scopeBy: () => {
        const thrown = take('quota.scopeBy');
        if (thrown !== undefined) throw thrown.value;
        return 'global';
      },
    },
  });
  const { agentmeter } = pipeline;
  const aiSdk = createAiSdkIntegration(agentmeter, {
    name: (info) => (hookThrow(info.modelId, 'ai-sdk name'), undefined),
    spec: (info) => (hookThrow(info.modelId, 'ai-sdk spec'), undefined),
    costUsd: (usage) => (hookThrow(usage.modelId ?? '', 'ai-sdk costUsd'), 0.001),
  });
  let uninstallOpenAI: () => void;
  beforeAll(() => {
    setTracingDisabled(false); // vitest's NODE_ENV=test turns the SDK's tracing off
    setTraceProcessors([]);
    uninstallOpenAI = instrumentOpenAIAgents(agentmeter, { costUsd: (usage) => (hookThrow(usage.inputTokens, 'openai-agents costUsd'), 0.001) });
  });
  afterAll(async () => {
    uninstallOpenAI();
    await pipeline.shutdown();
  });

  let nextKey = 1;
  /** Runs one case; resolves with how `run()` (or the framework call) settled. */
  async function runCase(site: Site, value: unknown): Promise<{ settled: PromiseSettledResult<unknown>; expected: unknown }> {
    const key = nextKey++;
    const settle = (promise: Promise<unknown>) =>
      promise.then(
        (result): PromiseSettledResult<unknown> => ({ status: 'fulfilled', value: result }),
        (reason: unknown): PromiseSettledResult<unknown> => ({ status: 'rejected', reason }),
      );
    const arm = (start: () => Promise<unknown>) => {
      armed = { site, value };
      try {
        return start();
      } finally {
        armed = undefined;
      }
    };
    switch (site) {
      case 'fn throws':
        return {
          settled: await settle(
            agentmeter.run('case', () => {
              throw value;
            }),
          ),
          expected: value,
        };
      case 'fn rejects':
        return { settled: await settle(agentmeter.run('case', () => Promise.reject(value))), expected: value };
      case 'fn rejects later':
        return {
          settled: await settle(
            agentmeter.run('case', async () => {
              await new Promise((resolve) => setImmediate(resolve));
              throw value;
            }),
          ),
          expected: value,
        };
      case 'signal fired before the run': {
        const controller = new AbortController();
        controller.abort(value);
        let called = false;
        const settled = await settle(agentmeter.run({ name: 'case', signal: controller.signal }, () => (called = true)));
        expect(called).toBe(false);
        // abort(undefined) gives an AbortError: the caller gets the signal's reason.
        return { settled, expected: controller.signal.reason };
      }
      case 'signal fires during the run': {
        const controller = new AbortController();
        const settled = await settle(
          agentmeter.run({ name: 'case', signal: controller.signal }, (run) => {
            controller.abort(value);
            throw run.signal.reason;
          }),
        );
        return { settled, expected: controller.signal.reason };
      }
      case 'store.reserve throws':
      case 'store.reserve rejects': {
        let called = false;
        const settled = await settle(arm(() => agentmeter.run('case', () => (called = true))));
        expect(called).toBe(false);
        return { settled, expected: value };
      }
      case 'quota.scopeBy':
      case 'store.settle':
        return { settled: await settle(arm(() => agentmeter.run('case', () => 'ok'))), expected: 'ok' };
      case 'store.charge':
        return {
          settled: await settle(
            agentmeter.run('case', (run) => {
              armed = { site, value };
              run.recordUsage({ inputTokens: 3 });
              armed = undefined;
              return 'ok';
            }),
          ),
          expected: 'ok',
        };
      case 'spec.attributes getter': {
        const attributes = {
          get 'app.attribute'(): string {
            throw value;
          },
        };
        return { settled: await settle(agentmeter.run({ name: 'case', attributes }, () => 'ok')), expected: 'ok' };
      }
      case 'ai-sdk costUsd':
      case 'ai-sdk name':
      case 'ai-sdk spec': {
        const modelId = `model-${key}`;
        byKey.set(modelId, { site, value });
        const model = new MockLanguageModelV4({
          modelId,
          doGenerate: {
            content: [{ type: 'text', text: 'answer' }],
            finishReason: { unified: 'stop', raw: 'stop' },
            usage: { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 2, text: 2, reasoning: 0 } },
            warnings: [],
          },
        });
        const call = generateText({ model, prompt: 'go', telemetry: { integrations: [aiSdk] } }).then((result) => result.text);
        return { settled: await settle(call), expected: 'answer' };
      }
      case 'openai-agents costUsd': {
        byKey.set(key, { site, value });
        const response = modelResponse({
          output: [assistantMessage('answer')],
          usage: new Usage({ requests: 1, input_tokens: key, output_tokens: 1, total_tokens: key + 1 }),
        });
        const agent = new Agent({ name: 'case', instructions: 'answer', model: new ScriptedModel([response]) });
        const call = new Runner().run(agent, 'go').then((result) => result.finalOutput);
        return { settled: await settle(call), expected: 'answer' };
      }
    }
  }

  it('reaches the caller untouched (or lets the run go on), and leaves nothing active, reserved, unended or unhandled', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...SITES), thrownArbitrary), { minLength: 1, maxLength: 12 }), async (cases) => {
        const outcomes = await Promise.all(cases.map(([site, thrown]) => runCase(site, make(thrown))));
        runs += cases.length;
        outcomes.forEach(({ settled, expected }, index) => {
          const site = cases[index]![0];
          if (REACHES_CALLER.has(site) || site.startsWith('signal')) {
            expect(settled.status, site).toBe('rejected');
            expect(Object.is((settled as PromiseRejectedResult).reason, expected), site).toBe(true);
          } else {
            expect(settled, site).toEqual({ status: 'fulfilled', value: expected });
          }
        });
        await new Promise((resolve) => setImmediate(resolve));
        expect(agentmeter.totals().active).toBe(0);
        const snapshot = agentmeter.quota!.snapshot();
        expect([snapshot.executions.reserved, snapshot.tokens.reserved, snapshot.costUsd.reserved, snapshot.concurrent.used]).toEqual([0, 0, 0, 0]);
        // Every run's span ended: only ended spans reach the exporter.
        expect(pipeline.spans().filter((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] !== undefined)).toHaveLength(runs);
        expect(unhandled).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
