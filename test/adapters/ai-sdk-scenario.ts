import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { instrumentAiSdk } from '../../src/adapters/ai-sdk/index.js';
import { QuotaExceededError } from '../../src/index.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_SUBAGENT_DEPTH,
  ATTR_SUBAGENT_OUTCOME,
  ATTR_SUBAGENT_TURNS,
  METRIC_EXECUTIONS,
  METRIC_TOKENS,
  METRIC_TOOL_DURATION,
  METRIC_TURNS,
} from '../../src/semconv.js';
import { createAdapterPipeline, parentOf, rendezvous } from './pipeline.js';

/** A mock model's scripted answer, in the shape of the major's own mock model. */
export type MockResult = object;
export interface MockModel {
  readonly doGenerateCalls: Array<{ prompt: unknown }>;
}
interface Usage {
  inputTokens?: number;
  outputTokens?: number;
}
interface GenerateResult {
  text: string;
  totalUsage: Usage;
  steps: Array<{ content: Array<{ type: string; error?: unknown }> }>;
}
interface Agent {
  generate(options: { prompt: string; abortSignal?: AbortSignal }): Promise<GenerateResult>;
  /** A promise in AI SDK 6 and 7, the result itself in 5. */
  stream(options: { prompt: string }): { text: PromiseLike<string> } | Promise<{ text: PromiseLike<string> }>;
}

/** One AI SDK major, as the shared scenario drives it: its module, agent class, tool helper and mock model. */
export interface AiSdkMajor {
  label: string;
  /** The `ai` module, passed to `instrumentAiSdk` as `options.ai`. */
  module: object;
  createAgent(settings: { model: MockModel; tools?: Record<string, unknown>; maxSteps?: number; functionId: string; maxOutputTokens?: number }): Agent;
  tool(definition: {
    description: string;
    inputSchema: z.ZodType;
    execute: (input: never, options: { abortSignal?: AbortSignal }) => Promise<unknown>;
  }): unknown;
  /** A mock model that plays `results` in order, or calls `generate` for each request. */
  mockModel(results: MockResult[] | (() => Promise<MockResult>)): MockModel;
  text(value: string, input: number, output: number): MockResult;
  calls(list: Array<{ tool: string; input: unknown; id: string }>, input: number, output: number): MockResult;
  /** A mock model that streams `value` in one text part, then finishes with this usage. */
  streamingModel(value: string, input: number, output: number): MockModel;
}

/** Usage and steps as the AI SDK itself reports them, per agent call. */
interface Reported {
  name: string;
  usage: Usage;
  steps: number;
}

/**
 * The scenario, the same for every major: an orchestrator agent whose `research` tool
 * runs a researcher agent (twice in one step, so the two run in parallel); the `deep` researcher
 * calls `helper`, which runs a helper agent one level deeper. Every agent has its own mock model.
 */
function buildWorkload(major: AiSdkMajor, reported: Reported[], options: { failingTopic?: string; together?: { arrive(): Promise<void> } } = {}) {
  const models = new Map<string, MockModel>();
  /** A mock model that plays `results` in order; its first answer waits for `options.together`. */
  const scripted = (results: MockResult[]) => {
    let index = 0;
    return major.mockModel(async () => {
      if (index === 0) await options.together?.arrive();
      return results[index++]!;
    });
  };
  const helper = major.tool({
    description: 'looks one fact up',
    inputSchema: z.object({ fact: z.string() }),
    execute: async ({ fact }: { fact: string }, { abortSignal }) => {
      const agent = major.createAgent({ model: major.mockModel([major.text(`fact ${fact}`, 7, 3)]), functionId: 'helper' });
      const result = await agent.generate({ prompt: fact, abortSignal });
      reported.push({ name: 'helper', usage: result.totalUsage, steps: result.steps.length });
      return result.text;
    },
  });
  const research = major.tool({
    description: 'researches a topic',
    inputSchema: z.object({ topic: z.string() }),
    execute: async ({ topic }: { topic: string }, { abortSignal }) => {
      const model =
        topic === options.failingTopic
          ? major.mockModel(() => Promise.reject(new Error('model unavailable')))
          : topic === 'deep'
            ? scripted([major.calls([{ tool: 'helper', input: { fact: 'f1' }, id: 'h1' }], 40, 8), major.text('deep findings', 60, 20)])
            : scripted([major.text(`${topic} findings`, 30, 12)]);
      models.set(topic, model);
      const agent = major.createAgent({ model, tools: { helper }, maxSteps: 5, functionId: 'research' });
      const result = await agent.generate({ prompt: topic, abortSignal });
      reported.push({ name: 'research', usage: result.totalUsage, steps: result.steps.length });
      return result.text;
    },
  });
  return { research, models };
}

/** The shared adapter scenario of issue 12 against one AI SDK major. */
export function describeAiSdkScenario(major: AiSdkMajor): void {
  describe(`instrumentAiSdk on ${major.label}: the shared scenario`, () => {
    let pipeline: ReturnType<typeof createAdapterPipeline>;
    let uninstall: () => void = () => {};

    afterEach(async () => {
      uninstall();
      await pipeline.shutdown();
    });

    const install = (quota?: { limits: { maxExecutions: number } }) => {
      pipeline = createAdapterPipeline(quota ? { quota } : {});
      uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: major.module });
    };

    it('records the orchestrator and its parallel subagents as nested runs in one trace, with the SDK-reported steps, usage and tool calls', async () => {
      install();
      const reported: Reported[] = [];
      // The two researchers' runs are open at the same time: neither model answers until both asked.
      const { research } = buildWorkload(major, reported, { together: rendezvous(2) });
      const orchestrator = major.createAgent({
        model: major.mockModel([
          major.calls(
            [
              { tool: 'research', input: { topic: 'deep' }, id: 'r1' },
              { tool: 'research', input: { topic: 'wide' }, id: 'r2' },
            ],
            100,
            20,
          ),
          major.text('report', 200, 50),
        ]),
        tools: { research },
        maxSteps: 5,
        functionId: 'orchestrator',
      });
      const result = await orchestrator.generate({ prompt: 'write a report' });
      expect(result.text).toBe('report');
      reported.push({ name: 'orchestrator', usage: result.totalUsage, steps: result.steps.length });

      const spans = pipeline.agentSpans();
      expect(spans.map((span) => span.name).sort()).toEqual([
        'invoke_agent helper',
        'invoke_agent orchestrator',
        'invoke_agent research',
        'invoke_agent research',
      ]);
      const root = spans.find((span) => span.name === 'invoke_agent orchestrator')!;
      const researchers = spans.filter((span) => span.name === 'invoke_agent research');
      const helper = spans.find((span) => span.name === 'invoke_agent helper')!;
      expect(root.parentSpanContext).toBeUndefined();
      for (const span of researchers) expect(parentOf(span, spans)).toBe(root);
      const deep = parentOf(helper, spans)!;
      expect(researchers).toContain(deep);
      expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
      expect(root.attributes[ATTR_SUBAGENT_DEPTH]).toBe(0);
      expect(researchers.map((span) => span.attributes[ATTR_SUBAGENT_DEPTH])).toEqual([1, 1]);
      expect(helper.attributes[ATTR_SUBAGENT_DEPTH]).toBe(2);
      for (const span of spans) expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');

      // Turns and tokens equal what the AI SDK reported for each call.
      const expected = reported.map((entry) => [entry.name, entry.steps, entry.usage.inputTokens, entry.usage.outputTokens]).sort();
      const recorded = spans
        .map((span) => [
          span.attributes[ATTR_GEN_AI_AGENT_NAME],
          span.attributes[ATTR_SUBAGENT_TURNS],
          span.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS],
          span.attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS],
        ])
        .sort();
      expect(recorded).toEqual(expected);
      expect(deep.attributes[ATTR_SUBAGENT_TURNS]).toBe(2);
      expect(deep.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(100);

      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'ok' })).toBe(4);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_GEN_AI_AGENT_NAME]: 'research', [ATTR_SUBAGENT_DEPTH]: 1 })).toBe(2);
      const totalInput = reported.reduce((total, entry) => total + (entry.usage.inputTokens ?? 0), 0);
      const totalOutput = reported.reduce((total, entry) => total + (entry.usage.outputTokens ?? 0), 0);
      expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).sum).toBe(totalInput);
      expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'output' })).sum).toBe(totalOutput);
      expect(await pipeline.histogram(METRIC_TURNS)).toEqual({ sum: 2 + 2 + 1 + 1, count: 4 });

      // Each tool call counts for the run that made it: the orchestrator's two, the deep researcher's one.
      expect((await pipeline.histogram(METRIC_TOOL_DURATION, { [ATTR_GEN_AI_AGENT_NAME]: 'orchestrator', [ATTR_GEN_AI_TOOL_NAME]: 'research' })).count).toBe(2);
      expect((await pipeline.histogram(METRIC_TOOL_DURATION, { [ATTR_GEN_AI_AGENT_NAME]: 'research', [ATTR_GEN_AI_TOOL_NAME]: 'helper' })).count).toBe(1);
      expect((await pipeline.histogram(METRIC_TOOL_DURATION)).count).toBe(3);
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it('records a throwing subagent as an error, and its failed tool call, while the orchestrator completes', async () => {
      install();
      const { research } = buildWorkload(major, [], { failingTopic: 'broken' });
      const orchestrator = major.createAgent({
        model: major.mockModel([major.calls([{ tool: 'research', input: { topic: 'broken' }, id: 'r1' }], 100, 20), major.text('partial report', 150, 40)]),
        tools: { research },
        maxSteps: 5,
        functionId: 'orchestrator',
      });
      const result = await orchestrator.generate({ prompt: 'go' });
      expect(result.text).toBe('partial report');
      const toolError = result.steps[0]!.content.find((part) => part.type === 'tool-error');
      expect(String(toolError?.error)).toContain('model unavailable');

      const spans = pipeline.agentSpans();
      const failed = spans.find((span) => span.name === 'invoke_agent research')!;
      expect(failed.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('error');
      expect(failed.attributes[ATTR_ERROR_TYPE]).toBe('Error');
      expect(spans.find((span) => span.name === 'invoke_agent orchestrator')!.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'error' })).toBe(1);
      expect((await pipeline.histogram(METRIC_TOOL_DURATION, { [ATTR_GEN_AI_TOOL_NAME]: 'research', [ATTR_ERROR_TYPE]: 'Error' })).count).toBe(1);
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it('refuses the third subagent before its model is called; the orchestrator completes and its model sees the refusal', async () => {
      // The orchestrator and two researchers fit; the third researcher does not.
      install({ limits: { maxExecutions: 3 } });
      const reported: Reported[] = [];
      const { research, models } = buildWorkload(major, reported);
      const orchestratorModel = major.mockModel([
        major.calls([{ tool: 'research', input: { topic: 'alpha' }, id: 'r1' }], 10, 2),
        major.calls([{ tool: 'research', input: { topic: 'beta' }, id: 'r2' }], 20, 2),
        major.calls([{ tool: 'research', input: { topic: 'gamma' }, id: 'r3' }], 30, 2),
        major.text('report from two of three', 40, 9),
      ]);
      const orchestrator = major.createAgent({ model: orchestratorModel, tools: { research }, maxSteps: 6, functionId: 'orchestrator' });
      const result = await orchestrator.generate({ prompt: 'go' });

      expect(result.text).toBe('report from two of three');
      expect(reported.map((entry) => entry.name)).toEqual(['research', 'research']);
      expect(models.get('gamma')!.doGenerateCalls).toHaveLength(0);
      const denial = result.steps[2]!.content.find((part) => part.type === 'tool-error');
      expect(QuotaExceededError.isInstance(denial?.error)).toBe(true);
      expect((denial!.error as QuotaExceededError).resource).toBe('executions');
      // The orchestrator's model received the refusal as the tool result of its third call.
      expect(JSON.stringify(orchestratorModel.doGenerateCalls[3]!.prompt)).toContain('Quota exceeded: executions');

      const spans = pipeline.agentSpans();
      const root = spans.find((span) => span.name === 'invoke_agent orchestrator')!;
      expect(root.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      expect(root.attributes[ATTR_SUBAGENT_TURNS]).toBe(4);
      const outcomes = spans.filter((span) => span.name === 'invoke_agent research').map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME]);
      expect(outcomes.sort()).toEqual(['denied', 'ok', 'ok']);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'denied' })).toBe(1);
      expect(pipeline.agentmeter.quota!.snapshot().executions.used).toBe(3);
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    /**
     * An orchestrator that asks four researchers at once, every call using its whole output cap;
     * `capped`: every agent sets `maxOutputTokens` (the orchestrator 500, the researchers 2,000).
     * Returns the tokens the models reported (a refused call never reaches its model).
     */
    async function parallelResearchers(capped: boolean): Promise<number> {
      let reportedTokens = 0;
      const counted = (results: Array<[result: MockResult, tokens: number]>) => {
        let index = 0;
        return major.mockModel(async () => {
          const [result, tokens] = results[Math.min(index++, results.length - 1)]!;
          reportedTokens += tokens;
          return result;
        });
      };
      const research = major.tool({
        description: 'researches a topic',
        inputSchema: z.object({ topic: z.string() }),
        execute: async ({ topic }: { topic: string }, { abortSignal }) => {
          const model = counted([[major.text(`${topic} findings`, 10, 2_000), 2_010]]);
          const agent = major.createAgent({ model, functionId: 'research', ...(capped ? { maxOutputTokens: 2_000 } : {}) });
          return (await agent.generate({ prompt: topic, abortSignal })).text;
        },
      });
      const topics = ['a', 'b', 'c', 'd'];
      const orchestratorModel = counted([
        [
          major.calls(
            topics.map((topic) => ({ tool: 'research', input: { topic }, id: `r_${topic}` })),
            10,
            500,
          ),
          510,
        ],
        [major.text('report', 10, 500), 510],
      ]);
      const orchestrator = major.createAgent({
        model: orchestratorModel,
        tools: { research },
        maxSteps: 3,
        functionId: 'orchestrator',
        ...(capped ? { maxOutputTokens: 500 } : {}),
      });
      await orchestrator.generate({ prompt: 'go' }).catch((error: unknown) => {
        // The orchestrator's own last call may be the one refused.
        expect(QuotaExceededError.isInstance(error)).toBe(true);
      });
      return reportedTokens;
    }

    it('keeps parallel subagents within a token limit, exactly, when every model call sets maxOutputTokens', async () => {
      const limit = 9_000;
      pipeline = createAdapterPipeline({ quota: { limits: { maxTokens: limit } } });
      uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: major.module });
      const reportedTokens = await parallelResearchers(true);

      const tokens = pipeline.agentmeter.quota!.snapshot().tokens;
      expect(tokens.used).toBeLessThanOrEqual(limit);
      expect(tokens.used).toBe(reportedTokens);
      expect(tokens.reserved).toBe(0);
      expect((await pipeline.histogram(METRIC_TOKENS)).sum).toBe(reportedTokens);
      expect(pipeline.agentSpans().map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME])).toContain('incomplete');
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it('without maxOutputTokens holds nothing: the same workload ends over the limit', async () => {
      pipeline = createAdapterPipeline({ quota: { limits: { maxTokens: 9_000 } } });
      uninstall = instrumentAiSdk(pipeline.agentmeter, { ai: major.module });
      const reportedTokens = await parallelResearchers(false);
      expect(pipeline.agentmeter.quota!.snapshot().tokens.used).toBe(reportedTokens);
      expect(reportedTokens).toBeGreaterThan(9_000);
    });

    it('records a streamed agent call once its stream is read to the end', async () => {
      install();
      const writer = major.tool({
        description: 'writes',
        inputSchema: z.object({ subject: z.string() }),
        execute: async ({ subject }: { subject: string }) => {
          const agent = major.createAgent({ model: major.streamingModel(`on ${subject}`, 11, 4), functionId: 'writer' });
          return await (
            await agent.stream({ prompt: subject })
          ).text;
        },
      });
      const orchestrator = major.createAgent({
        model: major.mockModel([major.calls([{ tool: 'writer', input: { subject: 'otel' }, id: 'w1' }], 5, 5), major.text('done', 5, 5)]),
        tools: { writer },
        maxSteps: 3,
        functionId: 'orchestrator',
      });
      expect((await orchestrator.generate({ prompt: 'go' })).text).toBe('done');
      const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent writer')!;
      expect(span.attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
      expect(span.attributes[ATTR_SUBAGENT_TURNS]).toBe(1);
      expect(span.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(11);
      expect(span.attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]).toBe(4);
      expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it('stops recording after uninstall', async () => {
      install();
      uninstall();
      const agent = major.createAgent({ model: major.mockModel([major.text('x', 1, 1)]), functionId: 'orchestrator' });
      expect((await agent.generate({ prompt: 'x' })).text).toBe('x');
      expect(pipeline.agentSpans()).toHaveLength(0);
    });
  });
}
