import { generateText, streamText, tool, isStepCount, type LanguageModelUsage } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAiSdkIntegration, instrumentAiSdk } from '../../src/adapters/ai-sdk/index.js';
import { QuotaExceededError } from '../../src/index.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_SUBAGENT_DEPTH,
  ATTR_SUBAGENT_OUTCOME,
  ATTR_SUBAGENT_TURNS,
  METRIC_EXECUTIONS,
  METRIC_TOKENS,
  METRIC_TURNS,
} from '../../src/semconv.js';
import { captureDiag, createAdapterPipeline, parentOf, rendezvous } from './pipeline.js';

// Mock model results in the LanguageModelV4 shape.
const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});
const text = (value: string, input: number, output: number) => ({
  content: [{ type: 'text' as const, text: value }],
  finishReason: { unified: 'stop' as const, raw: 'stop' },
  usage: usage(input, output),
  warnings: [],
});
const calls = (list: Array<{ tool: string; input: unknown; id: string }>, input: number, output: number) => ({
  content: list.map((call) => ({ type: 'tool-call' as const, toolCallId: call.id, toolName: call.tool, input: JSON.stringify(call.input) })),
  finishReason: { unified: 'tool-calls' as const, raw: 'tool_calls' },
  usage: usage(input, output),
  warnings: [],
});

/** Usage and steps as the AI SDK itself reports them, per subagent call. */
interface Reported {
  name: string;
  usage: LanguageModelUsage;
  steps: number;
}

/**
 * An orchestrator that calls `research` twice in one step (the two run in parallel); the
 * `deep` researcher calls `helper`, one level deeper. Every agent has its own mock model.
 */
function buildWorkload(reported: Reported[], options: { failingTopic?: string; together?: { arrive(): Promise<void> } } = {}) {
  /** A mock model that plays `results` in order; its first answer waits for `options.together`. */
  const scripted = (results: Array<ReturnType<typeof text> | ReturnType<typeof calls>>) => {
    let index = 0;
    return new MockLanguageModelV4({
      doGenerate: async () => {
        if (index === 0) await options.together?.arrive();
        return results[index++]!;
      },
    });
  };
  const helper = tool({
    description: 'looks one fact up',
    inputSchema: z.object({ fact: z.string() }),
    execute: async ({ fact }, { abortSignal }) => {
      const result = await generateText({ model: new MockLanguageModelV4({ doGenerate: [text(`fact ${fact}`, 7, 3)] }), prompt: fact, abortSignal });
      reported.push({ name: 'helper', usage: result.usage, steps: result.steps.length });
      return result.text;
    },
  });
  const research = tool({
    description: 'researches a topic',
    inputSchema: z.object({ topic: z.string() }),
    execute: async ({ topic }, { abortSignal }) => {
      const model =
        topic === options.failingTopic
          ? new MockLanguageModelV4({
              doGenerate: async () => {
                throw new Error('model unavailable');
              },
            })
          : topic === 'deep'
            ? scripted([calls([{ tool: 'helper', input: { fact: 'f1' }, id: 'h1' }], 40, 8), text('deep findings', 60, 20)])
            : scripted([text(`${topic} findings`, 30, 12)]);
      const result = await generateText({ model, prompt: topic, tools: { helper }, stopWhen: isStepCount(5), abortSignal });
      reported.push({ name: 'research', usage: result.usage, steps: result.steps.length });
      return result.text;
    },
  });
  return { research, helper };
}

describe('instrumentAiSdk', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  let uninstall: () => void;

  afterEach(async () => {
    uninstall();
    await pipeline.shutdown();
  });

  describe('without quotas', () => {
    beforeEach(() => {
      pipeline = createAdapterPipeline();
      uninstall = instrumentAiSdk(pipeline.agentmeter);
    });

    it('records the orchestrator and its subagents as nested runs with the SDK-reported steps and usage', async () => {
      const reported: Reported[] = [];
      // The two researchers' runs are open at the same time: neither model answers until both asked.
      const { research } = buildWorkload(reported, { together: rendezvous(2) });
      const orchestratorModel = new MockLanguageModelV4({
        doGenerate: [
          calls(
            [
              { tool: 'research', input: { topic: 'deep' }, id: 'r1' },
              { tool: 'research', input: { topic: 'wide' }, id: 'r2' },
            ],
            100,
            20,
          ),
          text('report', 200, 50),
        ],
      });
      const result = await generateText({
        model: orchestratorModel,
        prompt: 'write a report',
        tools: { research },
        stopWhen: isStepCount(5),
        telemetry: { functionId: 'orchestrator' },
      });
      expect(result.text).toBe('report');

      const spans = pipeline.agentSpans();
      expect(spans.map((span) => span.name).sort()).toEqual([
        'invoke_agent helper',
        'invoke_agent orchestrator',
        'invoke_agent research',
        'invoke_agent research',
      ]);
      const orchestrator = spans.find((span) => span.name === 'invoke_agent orchestrator')!;
      const researchers = spans.filter((span) => span.name === 'invoke_agent research');
      const helper = spans.find((span) => span.name === 'invoke_agent helper')!;
      expect(orchestrator.parentSpanContext).toBeUndefined();
      for (const span of researchers) expect(parentOf(span, spans)).toBe(orchestrator);
      const deep = parentOf(helper, spans)!;
      expect(researchers).toContain(deep);
      expect(orchestrator.attributes[ATTR_SUBAGENT_DEPTH]).toBe(0);
      expect(researchers.map((span) => span.attributes[ATTR_SUBAGENT_DEPTH])).toEqual([1, 1]);
      expect(helper.attributes[ATTR_SUBAGENT_DEPTH]).toBe(2);
      for (const span of spans) expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');

      // Turns and tokens equal what the AI SDK reported for each call.
      reported.push({ name: 'orchestrator', usage: result.usage, steps: result.steps.length });
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
    });

    it('records a failing subagent as an error while the orchestrator carries on', async () => {
      const reported: Reported[] = [];
      const { research } = buildWorkload(reported, { failingTopic: 'broken' });
      const orchestratorModel = new MockLanguageModelV4({
        doGenerate: [calls([{ tool: 'research', input: { topic: 'broken' }, id: 'r1' }], 100, 20), text('partial report', 150, 40)],
      });
      const result = await generateText({
        model: orchestratorModel,
        prompt: 'go',
        tools: { research },
        stopWhen: isStepCount(5),
        telemetry: { functionId: 'orchestrator' },
      });
      expect(result.text).toBe('partial report');
      const toolError = result.steps[0]!.content.find((part) => part.type === 'tool-error');
      expect(String((toolError as { error: unknown }).error)).toContain('model unavailable');

      const spans = pipeline.agentSpans();
      const failed = spans.find((span) => span.name === 'invoke_agent research')!;
      expect(failed.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('error');
      expect(failed.attributes[ATTR_ERROR_TYPE]).toBe('Error');
      expect(spans.find((span) => span.name === 'invoke_agent orchestrator')!.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'error' })).toBe(1);
    });

    it('records a streamed subagent once its stream is consumed', async () => {
      const { simulateReadableStream } = await import('ai');
      const writer = tool({
        description: 'writes',
        inputSchema: z.object({ subject: z.string() }),
        execute: async ({ subject }) => {
          const stream = streamText({
            model: new MockLanguageModelV4({
              doStream: async () => ({
                stream: simulateReadableStream({
                  chunks: [
                    { type: 'text-start' as const, id: 't' },
                    { type: 'text-delta' as const, id: 't', delta: `on ${subject}` },
                    { type: 'text-end' as const, id: 't' },
                    { type: 'finish' as const, finishReason: { unified: 'stop' as const, raw: 'stop' }, usage: usage(11, 4) },
                  ],
                }),
              }),
            }),
            prompt: subject,
          });
          return await stream.text;
        },
      });
      await generateText({
        model: new MockLanguageModelV4({ doGenerate: [calls([{ tool: 'writer', input: { subject: 'otel' }, id: 'w1' }], 5, 5), text('done', 5, 5)] }),
        prompt: 'go',
        tools: { writer },
        stopWhen: isStepCount(3),
      });
      const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent writer')!;
      expect(span.attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
      expect(span.attributes[ATTR_SUBAGENT_TURNS]).toBe(1);
      expect(span.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(11);
      expect(span.attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]).toBe(4);
      expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
    });

    it("nests under the app's active span, and a throwing option falls back to its default without touching the app's result", async () => {
      uninstall();
      uninstall = instrumentAiSdk(pipeline.agentmeter, {
        name: () => {
          throw new Error('bad naming callback');
        },
      });
      const tracer = trace.getTracer('app');
      const result = await tracer.startActiveSpan('POST /report', async (span) => {
        try {
          return await generateText({
            model: new MockLanguageModelV4({ doGenerate: [text('fine', 3, 2)] }),
            prompt: 'x',
            telemetry: { functionId: 'orchestrator' },
          });
        } finally {
          span.end();
        }
      });
      expect(result.text).toBe('fine');
      const [run] = pipeline.agentSpans();
      expect(run!.name).toBe('invoke_agent orchestrator');
      expect(run!.parentSpanContext?.spanId).toBe(
        pipeline
          .spans()
          .find((span) => span.name === 'POST /report')!
          .spanContext().spanId,
      );
    });

    it('ends every run as aborted when the app aborts the orchestrator while its subagents run', async () => {
      const controller = new AbortController();
      // The subagent's model cancels the whole call, then waits for the cancellation to reach it.
      const cancelling = () =>
        new MockLanguageModelV4({
          doGenerate: ({ abortSignal }) => {
            controller.abort();
            return new Promise((_, reject) => {
              if (abortSignal?.aborted) reject(abortSignal.reason);
              abortSignal?.addEventListener('abort', () => reject(abortSignal.reason), { once: true });
            });
          },
        });
      const research = tool({
        description: 'researches a topic',
        inputSchema: z.object({ topic: z.string() }),
        execute: async ({ topic }, { abortSignal }) => (await generateText({ model: cancelling(), prompt: topic, abortSignal })).text,
      });
      const orchestratorModel = new MockLanguageModelV4({
        doGenerate: [
          calls(
            [
              { tool: 'research', input: { topic: 'a' }, id: 'r1' },
              { tool: 'research', input: { topic: 'b' }, id: 'r2' },
            ],
            10,
            2,
          ),
          text('never', 1, 1),
        ],
      });
      const call = generateText({
        model: orchestratorModel,
        prompt: 'go',
        tools: { research },
        stopWhen: isStepCount(3),
        abortSignal: controller.signal,
        telemetry: { functionId: 'orchestrator' },
      });
      await expect(call).rejects.toMatchObject({ name: 'AbortError' });

      const outcomes = pipeline
        .agentSpans()
        .map((span) => `${String(span.attributes[ATTR_GEN_AI_AGENT_NAME])}:${String(span.attributes[ATTR_SUBAGENT_OUTCOME])}`);
      expect(outcomes.sort()).toEqual(['orchestrator:aborted', 'research:aborted', 'research:aborted']);
      expect(pipeline.agentmeter.totals().active).toBe(0);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'aborted' })).toBe(3);
    });

    it('runs a call unrecorded, instead of failing it, when the spec option is invalid', async () => {
      uninstall();
      uninstall = instrumentAiSdk(pipeline.agentmeter, { spec: () => ({ timeoutMs: -1 }) });
      const result = await generateText({ model: new MockLanguageModelV4({ doGenerate: [text('still fine', 3, 2)] }), prompt: 'x' });
      expect(result.text).toBe('still fine');
      expect(pipeline.agentSpans()).toHaveLength(0);
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it('runs a call unrecorded when a quota store throws a value that cannot be read', async () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      const hostile = createAdapterPipeline({
        quota: {
          store: {
            name: 'hostile',
            reserve: () => {
              throw proxy as unknown;
            },
            charge: () => undefined,
            settle: () => undefined,
            read: () => undefined,
            scopes: () => [],
          },
        },
      });
      uninstall();
      uninstall = instrumentAiSdk(hostile.agentmeter);
      const result = await generateText({ model: new MockLanguageModelV4({ doGenerate: [text('still fine', 3, 2)] }), prompt: 'x' });
      expect(result.text).toBe('still fine');
      expect(hostile.agentmeter.totals().active).toBe(0);
    });

    it('warns when a second install would record every run twice, and not once the first is removed', async () => {
      const logged = captureDiag();
      const doubled = () => logged.messages.filter((message) => message.includes('the Vercel AI SDK is already instrumented'));
      try {
        const second = instrumentAiSdk(pipeline.agentmeter);
        second();
        expect(doubled()).toHaveLength(1);
        uninstall();
        uninstall = instrumentAiSdk(pipeline.agentmeter);
        expect(doubled()).toHaveLength(1);
      } finally {
        logged.stop();
      }
    });

    it('stops recording after uninstall', async () => {
      uninstall();
      await generateText({ model: new MockLanguageModelV4({ doGenerate: [text('x', 1, 1)] }), prompt: 'x' });
      expect(pipeline.agentSpans()).toHaveLength(0);
    });
  });

  describe('with a quota', () => {
    beforeEach(() => {
      // The orchestrator and two researchers fit; the third researcher does not.
      pipeline = createAdapterPipeline({ quota: { limits: { maxExecutions: 3 } } });
      uninstall = instrumentAiSdk(pipeline.agentmeter);
    });

    it('denies the third subagent through its tool call; the orchestrator completes and its model sees the denial', async () => {
      const reported: Reported[] = [];
      const { research } = buildWorkload(reported);
      const orchestratorModel = new MockLanguageModelV4({
        doGenerate: [
          calls([{ tool: 'research', input: { topic: 'alpha' }, id: 'r1' }], 10, 2),
          calls([{ tool: 'research', input: { topic: 'beta' }, id: 'r2' }], 20, 2),
          calls([{ tool: 'research', input: { topic: 'gamma' }, id: 'r3' }], 30, 2),
          text('report from two of three', 40, 9),
        ],
      });
      const result = await generateText({
        model: orchestratorModel,
        prompt: 'go',
        tools: { research },
        stopWhen: isStepCount(6),
        telemetry: { functionId: 'orchestrator' },
      });

      expect(result.text).toBe('report from two of three');
      expect(reported.map((entry) => entry.name)).toEqual(['research', 'research']);
      const denial = result.steps[2]!.content.find((part) => part.type === 'tool-error') as { error: unknown } | undefined;
      expect(QuotaExceededError.isInstance(denial?.error)).toBe(true);
      expect((denial!.error as QuotaExceededError).resource).toBe('executions');
      // The orchestrator's model received the denial as the tool result of its third call.
      const lastPrompt = JSON.stringify(orchestratorModel.doGenerateCalls[3]!.prompt);
      expect(lastPrompt).toContain('Quota exceeded: executions');

      const spans = pipeline.agentSpans();
      const orchestrator = spans.find((span) => span.name === 'invoke_agent orchestrator')!;
      expect(orchestrator.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      expect(orchestrator.attributes[ATTR_SUBAGENT_TURNS]).toBe(4);
      const outcomes = spans.filter((span) => span.name === 'invoke_agent research').map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME]);
      expect(outcomes.sort()).toEqual(['denied', 'ok', 'ok']);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'denied' })).toBe(1);
      expect(pipeline.agentmeter.quota!.snapshot().executions.used).toBe(3);
    });

    // Quota settings given to the adapter instead of the AgentMeter were ignored in silence.
    it('refuses, when installed, an option that belongs to the AgentMeter and an option of the wrong type', () => {
      expect(() => instrumentAiSdk(pipeline.agentmeter, { quota: { limits: { maxTokens: 100 } } } as never)).toThrow(
        new TypeError(
          'agentmetry: instrumentAiSdk options.quota is not a known option (expected one of topLevel, name, spec, costUsd, callLimits, ai); quotas are set on the AgentMeter (new AgentMeter({ quota })), and a per-call budget or estimate is returned by options.spec',
        ),
      );
      expect(() => createAiSdkIntegration(pipeline.agentmeter, { budget: { maxTokens: 100 } } as never)).toThrow(
        /^agentmetry: createAiSdkIntegration options\.budget is not a known option/,
      );
      expect(() => instrumentAiSdk(pipeline.agentmeter, { topLevel: 'no' } as never)).toThrow(
        new TypeError("agentmetry: instrumentAiSdk options.topLevel must be a boolean, got 'no'"),
      );
      expect(() => instrumentAiSdk({ quota: { limits: { maxTokens: 100 } } } as never)).toThrow(
        new TypeError('agentmetry: instrumentAiSdk expects an AgentMeter as its first argument, got an object'),
      );
    });

    // It ran unrecorded, so outside every budget, with nothing printed.
    it('fails a call whose spec option gives an invalid budget or estimate, as agentmeter.run would, instead of running it unbudgeted', async () => {
      for (const [spec, message] of [
        [{ budget: { maxTokens: -1 } }, 'agentmetry: options.spec(info).budget.maxTokens must be a non-negative integer, got -1'],
        [{ estimate: { tokens: 1.5 } }, 'agentmetry: options.spec(info).estimate.tokens must be a non-negative integer, got 1.5'],
      ] as const) {
        uninstall();
        uninstall = instrumentAiSdk(pipeline.agentmeter, { spec: () => spec });
        const model = new MockLanguageModelV4({ doGenerate: [text('unbudgeted', 3, 2)] });
        await expect(generateText({ model, prompt: 'x' })).rejects.toThrow(message);
        expect(model.doGenerateCalls).toHaveLength(0);
      }
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });
  });
});
