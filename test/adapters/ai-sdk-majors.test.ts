// The shared adapter scenario against AI SDK 5, 6 and 7, installed side by side (`ai5`, `ai6` and
// `ai` in devDependencies), each with its own mock model.
import * as ai5 from 'ai5';
import { MockLanguageModelV2 } from 'ai5/test';
import * as ai6 from 'ai6';
import { MockLanguageModelV3 } from 'ai6/test';
import * as ai7 from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { instrumentAiSdk } from '../../src/adapters/ai-sdk/index.js';
import { ATTR_SUBAGENT_DEPTH, ATTR_SUBAGENT_OUTCOME, ATTR_SUBAGENT_TURNS, METRIC_ACTIVE } from '../../src/semconv.js';
import { waitFor } from '../helpers/poll.js';
import { createAdapterPipeline } from './pipeline.js';
import { describeAiSdkScenario, type AiSdkMajor, type MockModel, type MockResult } from './ai-sdk-scenario.js';

type Settings = Parameters<AiSdkMajor['createAgent']>[0];
type Call = Parameters<AiSdkMajor['calls']>[0][number];
// The majors' own types differ in every generic; the scenario sees them through its loose interfaces.
type Loose = never;
const asAgent = (agent: unknown) => agent as ReturnType<AiSdkMajor['createAgent']>;

/** LanguageModelV3 (AI SDK 6) and LanguageModelV4 (AI SDK 7) results: usage and finish reason in their detailed form. */
const detailed = {
  text: (value: string, input: number, output: number) => ({
    content: [{ type: 'text', text: value }],
    finishReason: { unified: 'stop', raw: 'stop' },
    usage: { inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: output, text: output, reasoning: 0 } },
    warnings: [],
  }),
  calls: (list: Call[], input: number, output: number) => ({
    content: list.map((call) => ({ type: 'tool-call', toolCallId: call.id, toolName: call.tool, input: JSON.stringify(call.input) })),
    finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
    usage: { inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: output, text: output, reasoning: 0 } },
    warnings: [],
  }),
};

/** A streaming mock model of one major: its text parts, then a finish part in that major's shape. */
const streaming =
  (
    Model: new (options: { doStream: Loose }) => unknown,
    simulate: (options: { chunks: unknown[] }) => unknown,
    finish: (input: number, output: number) => object,
  ) =>
  (value: string, input: number, output: number) =>
    new Model({
      doStream: (async () => ({
        stream: simulate({
          chunks: [
            { type: 'text-start', id: 't' },
            { type: 'text-delta', id: 't', delta: value },
            { type: 'text-end', id: 't' },
            { type: 'finish', ...finish(input, output) },
          ],
        }),
      })) as Loose,
    }) as MockModel;
const detailedFinish = (input: number, output: number) => ({
  finishReason: { unified: 'stop', raw: 'stop' },
  usage: { inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: output, text: output, reasoning: 0 } },
});

const mock = (Model: new (options: { doGenerate: Loose }) => unknown) => (results: MockResult[] | (() => Promise<MockResult>)) =>
  new Model({ doGenerate: results as Loose }) as MockModel;

describeAiSdkScenario({
  label: 'AI SDK 5',
  module: ai5,
  createAgent: ({ model, tools, maxSteps, functionId, maxOutputTokens }: Settings) =>
    asAgent(
      new ai5.Experimental_Agent({ model, tools, stopWhen: ai5.stepCountIs(maxSteps ?? 1), experimental_telemetry: { functionId }, maxOutputTokens } as Loose),
    ),
  tool: (definition) => ai5.tool(definition as Loose),
  mockModel: mock(MockLanguageModelV2),
  streamingModel: streaming(MockLanguageModelV2, ai5.simulateReadableStream, (input, output) => ({
    finishReason: 'stop',
    usage: { inputTokens: input, outputTokens: output, totalTokens: input + output },
  })),
  // LanguageModelV2 results: flat usage, a plain finish reason.
  text: (value, input, output) => ({
    content: [{ type: 'text', text: value }],
    finishReason: 'stop',
    usage: { inputTokens: input, outputTokens: output, totalTokens: input + output },
    warnings: [],
  }),
  calls: (list, input, output) => ({
    content: list.map((call) => ({ type: 'tool-call', toolCallId: call.id, toolName: call.tool, input: JSON.stringify(call.input) })),
    finishReason: 'tool-calls',
    usage: { inputTokens: input, outputTokens: output, totalTokens: input + output },
    warnings: [],
  }),
});

describeAiSdkScenario({
  label: 'AI SDK 6',
  module: ai6,
  createAgent: ({ model, tools, maxSteps, functionId, maxOutputTokens }: Settings) =>
    asAgent(
      new ai6.ToolLoopAgent({ model, tools, stopWhen: ai6.stepCountIs(maxSteps ?? 1), experimental_telemetry: { functionId }, maxOutputTokens } as Loose),
    ),
  tool: (definition) => ai6.tool(definition as Loose),
  mockModel: mock(MockLanguageModelV3),
  streamingModel: streaming(MockLanguageModelV3, ai6.simulateReadableStream, detailedFinish),
  ...detailed,
});

describeAiSdkScenario({
  label: 'AI SDK 7',
  module: ai7,
  createAgent: ({ model, tools, maxSteps, functionId, maxOutputTokens }: Settings) =>
    asAgent(new ai7.ToolLoopAgent({ model, tools, stopWhen: ai7.isStepCount(maxSteps ?? 1), telemetry: { functionId }, maxOutputTokens } as Loose)),
  tool: (definition) => ai7.tool(definition as Loose),
  mockModel: mock(MockLanguageModelV4),
  streamingModel: streaming(MockLanguageModelV4, ai7.simulateReadableStream, detailedFinish),
  ...detailed,
});

describe('instrumentAiSdk on AI SDK 5 and 6: the agent-class wrap', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  beforeEach(() => (pipeline = createAdapterPipeline()));
  afterEach(() => pipeline.shutdown());

  it('refuses, when installed, an options.ai that is not an AI SDK module', () => {
    expect(() => instrumentAiSdk(pipeline.agentmeter, { ai: {} })).toThrow(
      new TypeError(
        "agentmetry: instrumentAiSdk options.ai must be an AI SDK 5, 6 or 7 module (import * as ai from 'ai'), got an object without registerTelemetry, ToolLoopAgent or Experimental_Agent",
      ),
    );
    expect(() => instrumentAiSdk(pipeline.agentmeter, { ai: 'ai' as never })).toThrow(/options\.ai must be an AI SDK 5, 6 or 7 module .*, got string$/);
  });

  it('puts the original generate and stream back once every install is removed, in any order', () => {
    for (const agentClass of [ai5.Experimental_Agent, ai6.ToolLoopAgent]) {
      const methods = () => [Reflect.get(agentClass.prototype, 'generate'), Reflect.get(agentClass.prototype, 'stream')] as unknown[];
      const originals = methods();
      const module = agentClass === ai6.ToolLoopAgent ? ai6 : ai5;
      const first = instrumentAiSdk(pipeline.agentmeter, { ai: module });
      const second = instrumentAiSdk(pipeline.agentmeter, { ai: module });
      expect(methods()[0]).not.toBe(originals[0]);
      first();
      first();
      expect(methods()[0]).not.toBe(originals[0]);
      second();
      expect(methods()).toEqual(originals);
      expect(Object.keys(agentClass.prototype)).toEqual([]);
    }
  });

  // A run opened before the adapter failed to prepare the call's options stayed active forever.
  it('leaves no run open when it cannot prepare a call, and the call fails as it would without the adapter', async () => {
    const uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: ai6 });
    try {
      const tools = {
        get broken(): never {
          throw new Error('tool unavailable');
        },
      };
      const agent = new ai6.ToolLoopAgent({ model: new MockLanguageModelV3({ doGenerate: [] }), tools: tools as Loose });
      await expect(agent.generate({ prompt: 'go' })).rejects.toThrow('tool unavailable');
      expect(pipeline.agentmeter.totals().active).toBe(0);
    } finally {
      uninstall();
    }
  });

  it('records only subagents with topLevel: false, named by the agent id', async () => {
    const uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: ai6, topLevel: false });
    try {
      const usage = { inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 2, text: 2, reasoning: 0 } };
      const answer = (text: string) => ({ content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] });
      const critic = new ai6.ToolLoopAgent({ id: 'critic', model: new MockLanguageModelV3({ doGenerate: [answer('fine') as Loose] }) });
      const review = ai6.tool({
        description: 'reviews',
        inputSchema: z.object({ draft: z.string() }),
        execute: async ({ draft }) => (await critic.generate({ prompt: draft })).text,
      });
      const call = { type: 'tool-call', toolCallId: 'c1', toolName: 'review', input: JSON.stringify({ draft: 'x' }) };
      const orchestrator = new ai6.ToolLoopAgent({
        model: new MockLanguageModelV3({
          doGenerate: [{ content: [call], finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage, warnings: [] } as Loose, answer('done') as Loose],
        }),
        tools: { review },
      });
      expect((await orchestrator.generate({ prompt: 'go' })).text).toBe('done');
      expect(pipeline.agentSpans().map((span) => [span.name, span.attributes[ATTR_SUBAGENT_DEPTH]])).toEqual([['invoke_agent critic', 0]]);
    } finally {
      uninstall();
    }
  });
});

describe('instrumentAiSdk on AI SDK 5 and 6: quotas while running', () => {
  it.each([
    ['AI SDK 5', ai5, 'v2'],
    ['AI SDK 6', ai6, 'v3'],
  ] as const)('%s: a run stopped by maxTurnsPerRun ends at its next step, before that model request, as incomplete', async (_label, module, shape) => {
    const pipeline = createAdapterPipeline({ quota: { limits: { maxTurnsPerRun: 1 } } });
    const uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: module });
    try {
      const usage =
        shape === 'v2'
          ? { inputTokens: 3, outputTokens: 2, totalTokens: 5 }
          : { inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 2, text: 2, reasoning: 0 } };
      const call = { type: 'tool-call', toolCallId: 'c1', toolName: 'noop', input: '{}' };
      const results = [
        { content: [call], finishReason: shape === 'v2' ? 'tool-calls' : { unified: 'tool-calls', raw: 'tool_calls' }, usage, warnings: [] },
        { content: [{ type: 'text', text: 'never' }], finishReason: shape === 'v2' ? 'stop' : { unified: 'stop', raw: 'stop' }, usage, warnings: [] },
      ];
      const model = shape === 'v2' ? new MockLanguageModelV2({ doGenerate: results as Loose }) : new MockLanguageModelV3({ doGenerate: results as Loose });
      const noop = { description: 'does nothing', inputSchema: z.object({}), execute: () => Promise.resolve('ok') };
      const settings = {
        model,
        tools: { noop },
        stopWhen: module.stepCountIs(5),
        experimental_telemetry: { functionId: 'looper' },
      };
      const agent = asAgent(module === ai5 ? new ai5.Experimental_Agent(settings as Loose) : new ai6.ToolLoopAgent(settings as Loose));
      await expect(agent.generate({ prompt: 'go' })).rejects.toMatchObject({ name: 'QuotaExceededError' });
      expect(model.doGenerateCalls).toHaveLength(1);
      const [span] = pipeline.agentSpans();
      expect(span!.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('incomplete');
      expect(pipeline.agentmeter.totals().active).toBe(0);
    } finally {
      uninstall();
      await pipeline.shutdown();
    }
  });
});

describe("instrumentAiSdk on AI SDK 5 and 6: the app's own callbacks", () => {
  it.each([
    ['AI SDK 5', 'v2'],
    ['AI SDK 6', 'v3'],
  ] as const)("%s: the agent settings' and the call's prepareStep and onStepFinish still run, as often as without the adapter", async (_label, shape) => {
    const pipeline = createAdapterPipeline();
    const uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: shape === 'v2' ? ai5 : ai6 });
    try {
      const usage =
        shape === 'v2'
          ? { inputTokens: 3, outputTokens: 2, totalTokens: 5 }
          : { inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 2, text: 2, reasoning: 0 } };
      const answer = { content: [{ type: 'text', text: 'ok' }], finishReason: shape === 'v2' ? 'stop' : { unified: 'stop', raw: 'stop' }, usage, warnings: [] };
      const model =
        shape === 'v2'
          ? new MockLanguageModelV2({ doGenerate: [answer, answer] as Loose })
          : new MockLanguageModelV3({ doGenerate: [answer, answer] as Loose });
      const seen: string[] = [];
      const settings = {
        model,
        prepareStep: () => void seen.push('settings.prepareStep'),
        onStepFinish: () => void seen.push('settings.onStepFinish'),
      };
      const agent = asAgent(shape === 'v2' ? new ai5.Experimental_Agent(settings as Loose) : new ai6.ToolLoopAgent(settings));
      await agent.generate({ prompt: 'go' });
      await agent.generate({ prompt: 'go', onStepFinish: () => void seen.push('call.onStepFinish') } as Loose);
      // AI SDK 5 lets a call's onStepFinish replace the settings'; AI SDK 6 runs both.
      expect(seen).toEqual(
        shape === 'v2'
          ? ['settings.prepareStep', 'settings.onStepFinish', 'settings.prepareStep', 'call.onStepFinish']
          : ['settings.prepareStep', 'settings.onStepFinish', 'settings.prepareStep', 'settings.onStepFinish', 'call.onStepFinish'],
      );
      expect(pipeline.agentSpans().map((span) => span.attributes[ATTR_SUBAGENT_TURNS])).toEqual([1, 1]);
    } finally {
      uninstall();
      await pipeline.shutdown();
    }
  });
});

describe('instrumentAiSdk on AI SDK 5 and 6: a call the SDK rejects before its first request', () => {
  // The run was admitted before the SDK's stream() threw (AI SDK 5) or rejected (AI SDK 6); no
  // callback ever fired, so the run, its reservation and its concurrency slot stayed open.
  it.each([
    ['AI SDK 5', 'v2'],
    ['AI SDK 6', 'v3'],
  ] as const)('%s: ends the run as an error, and the call fails as it would without the adapter', async (_label, shape) => {
    const pipeline = createAdapterPipeline({ quota: { limits: { maxExecutions: 10, maxConcurrent: 1 } } });
    const uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: shape === 'v2' ? ai5 : ai6 });
    try {
      // streamText and generateText check maxRetries before any request.
      const settings = { model: shape === 'v2' ? new MockLanguageModelV2({ doGenerate: [] }) : new MockLanguageModelV3({ doGenerate: [] }), maxRetries: -1 };
      const agent = asAgent(shape === 'v2' ? new ai5.Experimental_Agent(settings as Loose) : new ai6.ToolLoopAgent(settings));
      const rejected = { name: 'AI_InvalidArgumentError', message: expect.stringContaining('maxRetries must be >= 0') as unknown };
      const ended = async (count: number) => {
        await waitFor(`run ${count} to end`, () => (pipeline.agentSpans().length === count ? true : undefined), { timeoutMillis: 5_000, intervalMillis: 1 });
        expect(pipeline.agentSpans().map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME])).toEqual(Array(count).fill('error'));
        expect(pipeline.agentmeter.totals().active).toBe(0);
        expect(await pipeline.sum(METRIC_ACTIVE)).toBe(0);
        expect(pipeline.agentmeter.quota!.snapshot()).toMatchObject({ executions: { reserved: 0 }, concurrent: { used: 0 } });
      };
      if (shape === 'v2') expect(() => agent.stream({ prompt: 'go' })).toThrow('maxRetries must be >= 0');
      else await expect(agent.stream({ prompt: 'go' })).rejects.toMatchObject(rejected);
      await ended(1);
      // The next call gets the concurrency slot back.
      await expect(agent.generate({ prompt: 'go' })).rejects.toMatchObject(rejected);
      await ended(2);
    } finally {
      uninstall();
      await pipeline.shutdown();
    }
  });
});
