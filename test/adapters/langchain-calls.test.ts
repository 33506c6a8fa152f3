// First, as agentmetry/register does: the adapter gives LangChain its process-wide storage before LangChain makes one.
import { instrumentLangChain, type LangChainInstrumentationOptions, type LangChainModelCallInfo } from '../../src/adapters/langchain/index.js';
import { AIMessage, createAgent, tool } from 'langchain';
import { fakeModel, type FakeBuiltModel } from '@langchain/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { declaredOutputCap, inputTokenBound } from '../../src/adapters/langchain/call-limits.js';
import { CALL_TOKEN_ALLOWANCE, MESSAGE_TOKEN_ALLOWANCE, TOOLS_TOKEN_ALLOWANCE } from '../../src/adapters/shared/call-limits.js';
import type { AgentMeterOptions } from '../../src/index.js';
import { ATTR_GEN_AI_AGENT_NAME, ATTR_SUBAGENT_OUTCOME, METRIC_TOKENS } from '../../src/semconv.js';
import { captureDiag, createAdapterPipeline } from './pipeline.js';

const usage = (input: number, output: number) => ({ input_tokens: input, output_tokens: output, total_tokens: input + output });
const say = (text: string, input: number, output: number) => new AIMessage({ content: text, usage_metadata: usage(input, output) });
const call = (tools: Array<[name: string, id: string]>, input: number, output: number) =>
  new AIMessage({
    content: '',
    tool_calls: tools.map(([name, id]) => ({ name, args: { task: `task for ${name}` }, id, type: 'tool_call' as const })),
    usage_metadata: usage(input, output),
  });
const ask = (content: string) => ({ messages: [{ role: 'user', content }] });
const schema = z.object({ task: z.string() });

/**
 * Makes a fake model declare an output cap, as real chat models do in their invocation params
 * (ChatAnthropic's and ChatOpenAI's `max_tokens`); `fakeModel()` declares none. Also on the model
 * that `bindTools` makes, which `createAgent` calls for an agent with tools.
 */
function capped(model: FakeBuiltModel, maxTokens: number): FakeBuiltModel {
  model.invocationParams = () => ({ max_tokens: maxTokens });
  const bindTools = model.bindTools.bind(model);
  model.bindTools = (tools) => {
    const binding = bindTools(tools) as unknown as { bound: FakeBuiltModel };
    capped(binding.bound, maxTokens);
    return binding as never;
  };
  return model;
}

/** A tool whose body runs `agent` on the task. */
function agentTool(name: string, agent: { invoke(input: ReturnType<typeof ask>): Promise<{ messages: readonly unknown[] }> }) {
  return tool(
    async ({ task }) => {
      const result = await agent.invoke(ask(task));
      return String((result.messages.at(-1) as { content?: unknown }).content);
    },
    { name, description: name, schema },
  );
}

const lookup = tool(async () => 'looked up', { name: 'lookup', description: 'lookup', schema });

/** What the framework reports: each fake model's calls (a refused call never reaches it), each using `perCall` tokens. */
function reportedTokens(models: Array<[model: FakeBuiltModel, perCall: number]>): number {
  return models.reduce((total, [model, perCall]) => total + model.calls.length * perCall, 0);
}

describe('instrumentLangChain: each model call holds its worst case before the call', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  let uninstall: () => void = () => {};

  afterEach(async () => {
    uninstall();
    await pipeline.shutdown();
  });

  const setUp = (quota: AgentMeterOptions['quota'], options: LangChainInstrumentationOptions = {}) => {
    pipeline = createAdapterPipeline({ quota });
    uninstall = instrumentLangChain(pipeline.agentmeter, options);
  };

  it("refuses a subagent's model call whose worst case does not fit before the model is called: the subagent ends incomplete, the parent's model sees the refusal", async () => {
    const seen: LangChainModelCallInfo[] = [];
    // The default applies: the hook only watches what the adapter bounds.
    setUp({ limits: { maxTokens: 15_000 } }, { callLimits: (info) => void seen.push(info) });
    // Its first call fits (about 300 + 10,000 of 15,000) and uses 6,050; its second (about 600 + 10,000) no longer does.
    const researcherModel = capped(fakeModel(), 10_000)
      .respond(call([['lookup', 'l1']], 50, 6_000))
      .respond(say('never', 1, 1));
    const researcher = createAgent({ name: 'researcher', model: researcherModel, tools: [lookup] });
    // The orchestrator's model declares no cap: its calls are charged after they return, as before.
    const orchestratorModel = fakeModel()
      .respond(call([['research', 'c1']], 10, 2))
      .respond(say('done without the research', 20, 4));
    const orchestrator = createAgent({ name: 'orchestrator', model: orchestratorModel, tools: [agentTool('research', researcher)] });

    const result = await orchestrator.invoke(ask('go'));
    expect(result.messages.at(-1)!.text).toBe('done without the research');
    expect(researcherModel.calls).toHaveLength(1);
    expect(JSON.stringify(orchestratorModel.calls[1]!.messages)).toContain('Quota exceeded: tokens');

    const spans = pipeline.agentSpans();
    const outcome = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)?.attributes[ATTR_SUBAGENT_OUTCOME];
    expect([outcome('orchestrator'), outcome('researcher')]).toEqual(['ok', 'incomplete']);
    // The researcher's two calls were bounded; the orchestrator's declared no cap.
    const researcherCalls = seen.filter((info) => info.maxOutputTokens === 10_000);
    expect(researcherCalls).toHaveLength(2);
    expect(seen.filter((info) => info.maxOutputTokens === undefined)).toHaveLength(2);
    const tokens = pipeline.agentmeter.quota!.snapshot().tokens;
    expect(6_062 + researcherCalls[1]!.inputTokens! + 10_000).toBeGreaterThan(15_000);
    // What was used is what the framework reported, counted once; nothing is held any more.
    expect(tokens).toMatchObject({ used: 10 + 2 + 50 + 6_000 + 20 + 4, reserved: 0 });
    expect((await pipeline.histogram(METRIC_TOKENS)).sum).toBe(tokens.used);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('keeps parallel subagents within a token limit, exactly, when every model call declares its cap', async () => {
    const limit = 20_000;
    setUp({ limits: { maxTokens: limit } });
    // Every call uses its whole cap: charged after the fact, the four researchers' second calls would overshoot.
    const researchers = ['a', 'b', 'c', 'd'].map((name) => {
      const model = capped(fakeModel(), 4_000)
        .respond(call([['lookup', `${name}1`]], 10, 4_000))
        .respond(say(`${name} findings`, 10, 4_000));
      return { name, model, agent: createAgent({ name: `researcher_${name}`, model, tools: [lookup] }) };
    });
    const orchestratorModel = capped(fakeModel(), 500)
      .respond(
        call(
          researchers.map(({ name }) => [name, `c_${name}`]),
          10,
          500,
        ),
      )
      .respond(say('report', 10, 500));
    const orchestrator = createAgent({
      name: 'orchestrator',
      model: orchestratorModel,
      tools: researchers.map(({ name, agent }) => agentTool(name, agent)),
    });

    await orchestrator.invoke(ask('go')).catch((error: unknown) => {
      // The orchestrator's own last call may be the one refused.
      expect(error).toMatchObject({ name: 'QuotaExceededError' });
    });

    const tokens = pipeline.agentmeter.quota!.snapshot().tokens;
    expect(tokens.used).toBeLessThanOrEqual(limit);
    expect(tokens.reserved).toBe(0);
    const reported = reportedTokens([[orchestratorModel, 510], ...researchers.map(({ model }) => [model, 4_010] as [FakeBuiltModel, number])]);
    expect(tokens.used).toBe(reported);
    expect((await pipeline.histogram(METRIC_TOKENS)).sum).toBe(reported);
    // The limit was reached: some researcher was stopped before a call.
    const outcomes = pipeline.agentSpans().map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME]);
    expect(outcomes).toContain('incomplete');
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('keeps nested subagents within a token limit, exactly: researchers in parallel, each asking a helper', async () => {
    const limit = 12_000;
    setUp({ limits: { maxTokens: limit } });
    const models: Array<[FakeBuiltModel, number]> = [];
    const researchers = ['a', 'b'].map((name) => {
      const helperModel = capped(fakeModel(), 2_000).respond(say(`${name} fact`, 10, 2_000));
      const helper = createAgent({ name: `helper_${name}`, model: helperModel, tools: [] });
      const model = capped(fakeModel(), 3_000)
        .respond(call([['helper', `h_${name}`]], 10, 3_000))
        .respond(say(`${name} findings`, 10, 3_000));
      models.push([helperModel, 2_010], [model, 3_010]);
      return { name, agent: createAgent({ name: `researcher_${name}`, model, tools: [agentTool('helper', helper)] }) };
    });
    const orchestratorModel = capped(fakeModel(), 500)
      .respond(
        call(
          researchers.map(({ name }) => [name, `c_${name}`]),
          10,
          500,
        ),
      )
      .respond(say('report', 10, 500));
    models.push([orchestratorModel, 510]);
    const orchestrator = createAgent({ name: 'orchestrator', model: orchestratorModel, tools: researchers.map(({ name, agent }) => agentTool(name, agent)) });

    await orchestrator.invoke(ask('go')).catch((error: unknown) => {
      expect(error).toMatchObject({ name: 'QuotaExceededError' });
    });

    const tokens = pipeline.agentmeter.quota!.snapshot().tokens;
    expect(tokens.used).toBeLessThanOrEqual(limit);
    expect(tokens.reserved).toBe(0);
    expect(tokens.used).toBe(reportedTokens(models));
    expect(pipeline.agentSpans().map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME])).toContain('incomplete');
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it("holds the worst case while the model runs: the bound and the cap, and the pricing hook's price of them", async () => {
    const seen: LangChainModelCallInfo[] = [];
    setUp(
      { limits: { maxTokens: 100_000, maxCostUsd: 100 } },
      { callLimits: (info) => void seen.push(info), costUsd: ({ inputTokens, outputTokens }) => (inputTokens + outputTokens) / 1_000 },
    );
    let during: ReturnType<NonNullable<typeof pipeline.agentmeter.quota>['snapshot']> | undefined;
    const model = capped(fakeModel(), 2_000).respond(() => {
      during = pipeline.agentmeter.quota!.snapshot();
      return say('x', 30, 70);
    });
    await createAgent({ name: 'solo', model, tools: [] }).invoke(ask('hello'));
    const bound = seen[0]!.inputTokens!;
    expect(during!.tokens).toMatchObject({ used: 0, reserved: bound + 2_000 });
    expect(during!.costUsd.reserved).toBeCloseTo((bound + 2_000) / 1_000, 9);
    const after = pipeline.agentmeter.quota!.snapshot();
    expect(after.tokens).toMatchObject({ used: 100, reserved: 0 });
    expect(after.costUsd.used).toBeCloseTo(0.1, 9);
    expect(after.costUsd.reserved).toBe(0);
  });

  it('holds what options.callLimits gives for a model without a cap, and falls back to the default on invalid limits', async () => {
    const logged = captureDiag();
    try {
      const reserved: number[] = [];
      let answer: unknown = { inputTokens: 100, maxOutputTokens: 400 };
      setUp({ limits: { maxTokens: 10_000 } }, { callLimits: () => answer as never });
      const model = fakeModel()
        .respond(() => {
          reserved.push(pipeline.agentmeter.quota!.snapshot().tokens.reserved);
          return say('x', 30, 70);
        })
        .respond(() => {
          reserved.push(pipeline.agentmeter.quota!.snapshot().tokens.reserved);
          return say('y', 30, 70);
        });
      const agent = createAgent({ name: 'solo', model, tools: [] });
      await agent.invoke(ask('x'));
      answer = { inputTokens: -1, maxOutputTokens: 400 };
      await agent.invoke(ask('y'));
      // The second call's default: no cap declared, nothing held, its usage charged after it.
      expect(reserved).toEqual([500, 0]);
      expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 200, reserved: 0 });
      expect(logged.messages.some((message) => message.includes('options.callLimits returned no valid limits'))).toBe(true);
    } finally {
      logged.stop();
    }
  });

  it('holds nothing for a model call outside any agent run', async () => {
    setUp({ limits: { maxTokens: 100 } }, { topLevel: false });
    // Its worst case (over 1,000) would not fit; unrecorded, the call runs.
    const model = capped(fakeModel(), 1_000).respond(say('fine', 5, 5));
    const result = await createAgent({ name: 'solo', model, tools: [] }).invoke(ask('x'));
    expect(result.messages.at(-1)!.text).toBe('fine');
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 0, reserved: 0 });
  });

  it('settles a failed call with nothing: its hold goes back', async () => {
    setUp({ limits: { maxTokens: 10_000 } });
    const model = capped(fakeModel(), 1_000).alwaysThrow(new Error('model unavailable'));
    await expect(createAgent({ name: 'solo', model, tools: [] }).invoke(ask('x'))).rejects.toThrow('model unavailable');
    expect(pipeline.agentmeter.quota!.snapshot().tokens).toMatchObject({ used: 0, reserved: 0 });
  });
});

describe('the worst case of a LangChain model call', () => {
  it('takes the output cap from the invocation params, where chat models put it', () => {
    expect(declaredOutputCap({ max_tokens: 1_024 })).toBe(1_024);
    expect(declaredOutputCap({ model: 'o3', max_completion_tokens: 2_048 })).toBe(2_048);
    expect(declaredOutputCap({ max_output_tokens: 300 })).toBe(300);
    expect(declaredOutputCap({ maxOutputTokens: 100 })).toBe(100);
    expect(declaredOutputCap({ generationConfig: { maxOutputTokens: 64 } })).toBe(64);
    expect(declaredOutputCap({ inferenceConfig: { maxTokens: 32 } })).toBe(32);
    expect(declaredOutputCap({ options: { num_predict: 16 } })).toBe(16);
    // ChatOpenAI's maxTokens -1 and a missing cap declare no maximum.
    expect(declaredOutputCap({ max_tokens: -1 })).toBeUndefined();
    expect(declaredOutputCap({ max_tokens: undefined, temperature: 0 })).toBeUndefined();
    expect(declaredOutputCap(undefined)).toBeUndefined();
  });

  it('bounds the input by its UTF-8 bytes plus the allowances, tools included, and not at all with a media part', () => {
    const text = 'héllo wörld 日本語';
    const messages = [[{ role: 'user', content: text }]];
    const bound = inputTokenBound(messages, { invocation_params: {} })!;
    expect(bound).toBe(Buffer.byteLength(JSON.stringify(messages.flat()), 'utf8') + 2 + MESSAGE_TOKEN_ALLOWANCE + CALL_TOKEN_ALLOWANCE);
    expect(bound).toBeGreaterThan(Buffer.byteLength(text, 'utf8'));
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
    const toolBytes = Buffer.byteLength(JSON.stringify(tools), 'utf8');
    // Tools in the invocation params, or in the call options when the params have none; with the tool-use allowance.
    expect(inputTokenBound(messages, { invocation_params: { tools } })).toBe(
      bound - 2 + Buffer.byteLength(JSON.stringify({ tools }), 'utf8') + TOOLS_TOKEN_ALLOWANCE,
    );
    expect(inputTokenBound(messages, { invocation_params: {}, options: { tools } })).toBe(bound + toolBytes + TOOLS_TOKEN_ALLOWANCE);
    const image = [
      [
        {
          role: 'user',
          content: [
            { type: 'text', text },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          ],
        },
      ],
    ];
    expect(inputTokenBound(image, {})).toBeUndefined();
    const nested = [[{ role: 'user', content: [{ type: 'tool_result', content: [{ type: 'image', source: { type: 'url', url: 'x' } }] }] }]];
    expect(inputTokenBound(nested, {})).toBeUndefined();
  });
});
