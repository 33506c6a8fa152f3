import { Output, generateText, isStepCount, streamText, tool } from 'ai';
import { MockLanguageModelV4, convertArrayToReadableStream } from 'ai/test';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAiSdkIntegration, instrumentAiSdk, type AiSdkInstrumentationOptions, type AiSdkModelCallInfo } from '../../src/adapters/ai-sdk/index.js';
import { inputTokenBound } from '../../src/adapters/ai-sdk/call-limits.js';
import { CALL_TOKEN_ALLOWANCE, MESSAGE_TOKEN_ALLOWANCE, TOOLS_TOKEN_ALLOWANCE } from '../../src/adapters/shared/call-limits.js';
import type { AgentMeterOptions } from '../../src/index.js';
import { ATTR_GEN_AI_AGENT_NAME, ATTR_SUBAGENT_OUTCOME, METRIC_TOKENS } from '../../src/semconv.js';
import { captureDiag, createAdapterPipeline } from './pipeline.js';

// Mock model results in the LanguageModelV4 shape.
const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});
const say = (text: string, input: number, output: number) => ({
  content: [{ type: 'text' as const, text }],
  finishReason: { unified: 'stop' as const, raw: 'stop' },
  usage: usage(input, output),
  warnings: [],
});
const call = (tools: Array<[name: string, id: string]>, input: number, output: number) => ({
  content: tools.map(([name, id]) => ({ type: 'tool-call' as const, toolCallId: id, toolName: name, input: JSON.stringify({ task: id }) })),
  finishReason: { unified: 'tool-calls' as const, raw: 'tool_calls' },
  usage: usage(input, output),
  warnings: [],
});
type Result = ReturnType<typeof say> | ReturnType<typeof call>;

/** A mock model that plays `results` in order and counts the tokens it reported (a refused call never reaches it). */
function scripted(results: Result[], tally: { tokens: number; calls: number }) {
  let index = 0;
  return new MockLanguageModelV4({
    doGenerate: async () => {
      const result = results[Math.min(index++, results.length - 1)]!;
      tally.calls += 1;
      tally.tokens += result.usage.inputTokens.total + result.usage.outputTokens.total;
      return result;
    },
  });
}

const note = tool({ description: 'notes', inputSchema: z.object({ task: z.string() }), execute: async () => 'noted' });

describe('instrumentAiSdk (AI SDK 7): each model call holds its worst case before the call', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  let uninstall: () => void = () => {};

  afterEach(async () => {
    uninstall();
    await pipeline.shutdown();
  });

  const setUp = (quota: AgentMeterOptions['quota'], options: AiSdkInstrumentationOptions = {}) => {
    pipeline = createAdapterPipeline({ quota });
    uninstall = instrumentAiSdk(pipeline.agentmeter, options);
  };

  /**
   * An orchestrator that asks four researchers at once (one step, four tool calls); each researcher
   * takes a note, then answers, every call using its whole output cap. `capped`: every call sets
   * `maxOutputTokens` (the orchestrator 500, the researchers 4,000).
   */
  async function parallelResearchers(capped: boolean) {
    const tally = { tokens: 0, calls: 0 };
    const researcher = (name: string) =>
      tool({
        description: name,
        inputSchema: z.object({ task: z.string() }),
        execute: async ({ task }, { abortSignal }) => {
          const model = scripted([call([['note', `${name}-note`]], 10, 4_000), say(`${name} findings`, 10, 4_000)], tally);
          const result = await generateText({
            model,
            prompt: task,
            tools: { note },
            stopWhen: isStepCount(3),
            abortSignal,
            ...(capped ? { maxOutputTokens: 4_000 } : {}),
            telemetry: { functionId: 'researcher' },
          });
          return result.text;
        },
      });
    const names = ['a', 'b', 'c', 'd'];
    const orchestrator = scripted(
      [
        call(
          names.map((name) => [name, `c_${name}`]),
          10,
          500,
        ),
        say('report', 10, 500),
      ],
      tally,
    );
    await generateText({
      model: orchestrator,
      prompt: 'go',
      tools: Object.fromEntries(names.map((name) => [name, researcher(name)])),
      stopWhen: isStepCount(3),
      maxRetries: 0,
      ...(capped ? { maxOutputTokens: 500 } : {}),
      telemetry: { functionId: 'orchestrator' },
    }).catch((error: unknown) => {
      // The orchestrator's own last call may be the one refused.
      expect(error).toMatchObject({ name: 'QuotaExceededError' });
    });
    return tally;
  }

  it('keeps parallel subagents within a token limit, exactly, when every call sets maxOutputTokens', async () => {
    const limit = 20_000;
    setUp({ limits: { maxTokens: limit } });
    const tally = await parallelResearchers(true);

    const tokens = pipeline.agentmeter.quota!.snapshot().tokens;
    expect(tokens.used).toBeLessThanOrEqual(limit);
    expect(tokens.reserved).toBe(0);
    // What was used is what the models reported, counted once.
    expect(tokens.used).toBe(tally.tokens);
    expect((await pipeline.histogram(METRIC_TOKENS)).sum).toBe(tally.tokens);
    // The limit was reached: some researcher was stopped before a call.
    const outcomes = pipeline.agentSpans().map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME]);
    expect(outcomes).toContain('incomplete');
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('without maxOutputTokens nothing is held, and the same workload ends over the limit (charged after each call)', async () => {
    const limit = 20_000;
    setUp({ limits: { maxTokens: limit } });
    const tally = await parallelResearchers(false);
    const tokens = pipeline.agentmeter.quota!.snapshot().tokens;
    expect(tokens.used).toBe(tally.tokens);
    expect(tokens.used).toBeGreaterThan(limit);
  });

  it("refuses a subagent's call whose worst case does not fit before the model is called: the subagent ends incomplete, the parent's model sees the refusal", async () => {
    setUp({ limits: { maxTokens: 2_000 } });
    const tally = { tokens: 0, calls: 0 };
    const helperModel = scripted([say('fact', 10, 10)], tally);
    const helper = tool({
      description: 'helper',
      inputSchema: z.object({ task: z.string() }),
      execute: async ({ task }) => (await generateText({ model: helperModel, prompt: task, maxOutputTokens: 2_500, telemetry: { functionId: 'helper' } })).text,
    });
    const seen: unknown[] = [];
    const orchestrator = new MockLanguageModelV4({
      doGenerate: async ({ prompt }) => {
        seen.push(prompt);
        tally.calls += 1;
        return seen.length === 1 ? call([['helper', 'h1']], 10, 20) : say('done', 10, 20);
      },
    });
    await generateText({ model: orchestrator, prompt: 'go', tools: { helper }, stopWhen: isStepCount(3), telemetry: { functionId: 'orchestrator' } });

    // 2,500 output tokens and the helper's prompt do not fit in what the orchestrator left: the helper's model was never called.
    expect(helperModel.doGenerateCalls).toHaveLength(0);
    const helperSpan = pipeline.agentSpans().find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === 'helper')!;
    expect(helperSpan.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('incomplete');
    expect(JSON.stringify(seen[1])).toContain('Quota exceeded: tokens');
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 60, reserved: 0 });
  });

  it('holds the bound on the input and the cap while the model runs, priced by options.costUsd, and settles to the reported usage', async () => {
    const price = ({ inputTokens, outputTokens }: { inputTokens: number; outputTokens: number }) => (inputTokens + 2 * outputTokens) / 1_000_000;
    let info: AiSdkModelCallInfo | undefined;
    setUp({ limits: { maxTokens: 1_000_000, maxCostUsd: 100 } }, { costUsd: price, callLimits: (call) => void (info = call) });
    const during: Array<{ tokens: number; cost: number }> = [];
    const model = new MockLanguageModelV4({
      doGenerate: async () => {
        const snapshot = pipeline.agentmeter.quota!.snapshot();
        during.push({ tokens: snapshot.tokens.reserved, cost: snapshot.costUsd.reserved });
        return say('hello back', 12, 34);
      },
    });
    await generateText({ model, instructions: 'be brief', prompt: 'hello', maxOutputTokens: 300, telemetry: { functionId: 'agent' } });

    expect(info).toMatchObject({ maxOutputTokens: 300, modelId: 'mock-model-id' });
    const serialized = Buffer.byteLength(JSON.stringify(info!.messages)) + Buffer.byteLength(JSON.stringify(info!.instructions));
    expect(JSON.stringify(info!.messages)).toContain('hello');
    expect(info!.inputTokens).toBe(serialized + MESSAGE_TOKEN_ALLOWANCE * (info!.messages.length + 1) + CALL_TOKEN_ALLOWANCE);
    expect(during).toEqual([{ tokens: info!.inputTokens! + 300, cost: price({ inputTokens: info!.inputTokens!, outputTokens: 300 }) }]);
    const snapshot = pipeline.agentmeter.quota!.snapshot();
    expect(snapshot.tokens).toMatchObject({ used: 46, reserved: 0 });
    expect(snapshot.costUsd.used).toBeCloseTo(price({ inputTokens: 12, outputTokens: 34 }), 12);
    expect(snapshot.costUsd.reserved).toBeCloseTo(0, 12);
  });

  it('holds what options.callLimits gives for a call without maxOutputTokens, and warns and holds nothing on invalid limits', async () => {
    let limits: unknown = { inputTokens: 100, maxOutputTokens: 50 };
    setUp({ limits: { maxTokens: 1_000 } }, { callLimits: () => limits as never });
    const reserved: number[] = [];
    const model = new MockLanguageModelV4({
      doGenerate: async () => {
        reserved.push(pipeline.agentmeter.quota!.snapshot().tokens.reserved);
        return say('ok', 5, 5);
      },
    });
    await generateText({ model, prompt: 'a', telemetry: { functionId: 'agent' } });
    limits = { inputTokens: -1, maxOutputTokens: 50 };
    const diag = captureDiag();
    try {
      await generateText({ model, prompt: 'b', telemetry: { functionId: 'agent' } });
    } finally {
      diag.stop();
    }
    expect(reserved).toEqual([150, 0]);
    expect(diag.messages.join('\n')).toContain('options.callLimits returned no valid limits');
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 20, reserved: 0 });
  });

  it("settles a hold with the step's usage on an SDK that reports no model call's end", async () => {
    pipeline = createAdapterPipeline({ quota: { limits: { maxTokens: 10_000 } } });
    const { onLanguageModelCallEnd, ...integration } = createAiSdkIntegration(pipeline.agentmeter, {
      callLimits: () => ({ inputTokens: 100, maxOutputTokens: 300 }),
    });
    expect(onLanguageModelCallEnd).toBeTypeOf('function');
    const reserved: number[] = [];
    let step = 0;
    const model = new MockLanguageModelV4({
      doGenerate: async () => {
        reserved.push(pipeline.agentmeter.quota!.snapshot().tokens.reserved);
        return step++ === 0 ? call([['note', 'n1']], 11, 22) : say('ok', 33, 44);
      },
    });
    await generateText({ model, prompt: 'a', tools: { note }, stopWhen: isStepCount(3), telemetry: { functionId: 'agent', integrations: [integration] } });
    // The second call holds its own worst case only: the first one's was settled when its step ended.
    expect(reserved).toEqual([400, 400]);
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 110, reserved: 0 });
    expect((await pipeline.histogram(METRIC_TOKENS)).sum).toBe(110);
  });

  it('holds nothing by default when the call sets telemetry.recordInputs: false, which hides the request from integrations', async () => {
    setUp({ limits: { maxTokens: 1_000 } });
    const reserved: number[] = [];
    const model = new MockLanguageModelV4({
      doGenerate: async () => {
        reserved.push(pipeline.agentmeter.quota!.snapshot().tokens.reserved);
        return say('ok', 5, 5);
      },
    });
    // 5,000 bytes of prompt: with its inputs shown, this call would be refused before the model.
    const prompt = 'x'.repeat(5_000);
    await expect(generateText({ model, prompt, maxOutputTokens: 100, telemetry: { functionId: 'agent' } })).rejects.toMatchObject({
      name: 'QuotaExceededError',
    });
    await generateText({ model, prompt, maxOutputTokens: 100, telemetry: { functionId: 'agent', recordInputs: false } });
    expect(reserved).toEqual([0]);
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 10, reserved: 0 });
  });

  it('gives back the hold of a stream that broke off before its finish when the SDK retries it', async () => {
    setUp({ limits: { maxTokens: 1_000 } }, { callLimits: () => ({ inputTokens: 100, maxOutputTokens: 500 }) });
    const reserved: number[] = [];
    const model = new MockLanguageModelV4({
      doStream: async () => {
        reserved.push(pipeline.agentmeter.quota!.snapshot().tokens.reserved);
        const parts: object[] =
          reserved.length === 1
            ? [
                { type: 'text-start' as const, id: 't' },
                { type: 'text-delta' as const, id: 't', delta: 'par' },
                { type: 'error' as const, error: new Error('connection reset') },
              ]
            : [
                { type: 'text-start' as const, id: 't' },
                { type: 'text-delta' as const, id: 't', delta: 'full' },
                { type: 'text-end' as const, id: 't' },
                { type: 'finish' as const, finishReason: { unified: 'stop' as const, raw: 'stop' }, usage: usage(20, 10) },
              ];
        return { stream: convertArrayToReadableStream(parts) as never };
      },
    });
    const result = streamText({ model, prompt: 'a', streamRetries: 1, maxRetries: 0, onError: () => {}, telemetry: { functionId: 'agent' } });
    await result.consumeStream();
    // Each attempt holds its own 600; next to the first attempt's hold the retry would not fit (1,200 > 1,000).
    expect(reserved).toEqual([600, 600]);
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 30, reserved: 0 });
  });

  it("counts the output's response format and the provider options in the bound", async () => {
    const seen: number[] = [];
    setUp({ limits: { maxTokens: 1_000_000 } }, { callLimits: (call) => void seen.push(call.inputTokens!) });
    const model = new MockLanguageModelV4({ doGenerate: async () => say('{"a":"x"}', 5, 5) });
    const fields = Object.fromEntries(Array.from({ length: 40 }, (_, index) => [`field_${index}`, z.string().describe(`the field number ${index}`)]));
    const schema = z.object(fields);
    await generateText({ model, prompt: 'a', maxOutputTokens: 100, telemetry: { functionId: 'agent' } });
    await generateText({ model, prompt: 'a', maxOutputTokens: 100, output: Output.object({ schema }), telemetry: { functionId: 'agent' } }).catch(
      () => undefined,
    );
    await generateText({ model, prompt: 'a', maxOutputTokens: 100, providerOptions: { acme: { note: 'n'.repeat(500) } }, telemetry: { functionId: 'agent' } });
    const schemaBytes = Buffer.byteLength(JSON.stringify(z.toJSONSchema(schema)));
    expect(seen[1]! - seen[0]!).toBeGreaterThanOrEqual(schemaBytes);
    expect(seen[2]! - seen[0]!).toBeGreaterThan(500);
  });

  it('gives a failed call its hold back', async () => {
    setUp({ limits: { maxTokens: 1_000 } });
    const model = new MockLanguageModelV4({
      doGenerate: async () => {
        throw new Error('model unavailable');
      },
    });
    await expect(generateText({ model, prompt: 'a', maxOutputTokens: 200, maxRetries: 0, telemetry: { functionId: 'agent' } })).rejects.toThrow(
      'model unavailable',
    );
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 0, reserved: 0 });
  });

  it('holds a streamed call until its usage arrives with the finish, and counts that usage once', async () => {
    setUp({ limits: { maxTokens: 10_000 } });
    const reservedDuring: number[] = [];
    const model = new MockLanguageModelV4({
      doStream: async () => {
        reservedDuring.push(pipeline.agentmeter.quota!.snapshot().tokens.reserved);
        return {
          stream: convertArrayToReadableStream([
            { type: 'text-start' as const, id: 't' },
            { type: 'text-delta' as const, id: 't', delta: 'streamed' },
            { type: 'text-end' as const, id: 't' },
            { type: 'finish' as const, finishReason: { unified: 'stop' as const, raw: 'stop' }, usage: usage(21, 9) },
          ]),
        };
      },
    });
    const result = streamText({ model, prompt: 'a', maxOutputTokens: 400, telemetry: { functionId: 'agent' } });
    expect(await result.text).toBe('streamed');
    await result.consumeStream();
    expect(reservedDuring[0]).toBeGreaterThan(400);
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 30, reserved: 0 });
    expect((await pipeline.histogram(METRIC_TOKENS)).sum).toBe(30);
  });
});

describe('the AI SDK input bound', () => {
  const messages = [
    { role: 'user', content: [{ type: 'text', text: 'héllo' }] },
    { role: 'assistant', content: [{ type: 'text', text: 'hi' }] },
  ];

  it('is the UTF-8 bytes of the instructions, messages and tools plus the allowances', () => {
    const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');
    expect(inputTokenBound(undefined, messages, [])).toBe(bytes(messages) + 2 * MESSAGE_TOKEN_ALLOWANCE + CALL_TOKEN_ALLOWANCE);
    const tools = [{ type: 'function', name: 'note', inputSchema: { type: 'object' } }];
    expect(inputTokenBound('be brief', messages, tools)).toBe(
      bytes('be brief') + bytes(messages) + bytes(tools) + 3 * MESSAGE_TOKEN_ALLOWANCE + CALL_TOKEN_ALLOWANCE + TOOLS_TOKEN_ALLOWANCE,
    );
  });

  it('is unknown with a media part anywhere in a message, a tool result included', () => {
    expect(inputTokenBound(undefined, [{ role: 'user', content: [{ type: 'image', image: new Uint8Array(4) }] }], [])).toBeUndefined();
    const toolResult = { type: 'tool-result', toolCallId: 't', toolName: 'shot', output: { type: 'content', value: [{ type: 'file-data', data: 'AAAA' }] } };
    expect(inputTokenBound(undefined, [{ role: 'tool', content: [toolResult] }], [])).toBeUndefined();
    expect(inputTokenBound(undefined, [{ role: 'user', content: [{ type: 'custom', kind: 'x.server-side' }] }], [])).toBeUndefined();
  });

  it("is known for a tool result whose JSON merely mentions files: only the parts' own types count", () => {
    const listing = { type: 'tool-result', toolCallId: 't', toolName: 'ls', output: { type: 'json', value: [{ name: 'a.png', type: 'file' }] } };
    const messages = [{ role: 'tool', content: [listing] }];
    expect(inputTokenBound(undefined, messages, [])).toBe(Buffer.byteLength(JSON.stringify(messages)) + MESSAGE_TOKEN_ALLOWANCE + CALL_TOKEN_ALLOWANCE);
  });
});
