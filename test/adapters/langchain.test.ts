// First, as agentmetry/register does: the adapter gives LangChain its process-wide storage before LangChain makes one.
import { instrumentLangChain } from '../../src/adapters/langchain/index.js';
import { AsyncResource } from 'node:async_hooks';
import { AIMessage, ToolMessage, createAgent, tool } from 'langchain';
import { fakeModel } from '@langchain/core/testing';
import { Command, END, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
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
} from '../../src/semconv.js';
import { captureDiag, createAdapterPipeline, parentOf, rendezvous } from './pipeline.js';
import { expectToolCalls } from './tool-calls.js';

/** What the tests read of a message. */
interface Message {
  content?: unknown;
  usage_metadata?: { input_tokens: number; output_tokens: number };
}

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

/** What LangChain itself reports: the sum of the `usage_metadata` of an agent's messages. */
function reported(messages: readonly unknown[]): { input: number; output: number } {
  return (messages as Message[]).reduce(
    (total, message) => ({
      input: total.input + (message.usage_metadata?.input_tokens ?? 0),
      output: total.output + (message.usage_metadata?.output_tokens ?? 0),
    }),
    { input: 0, output: 0 },
  );
}

/** A tool whose body runs `agent` on the task (after `before`), adding what it reports to `totals`. */
function agentTool(
  name: string,
  agent: { invoke(input: ReturnType<typeof ask>, config?: never): Promise<{ messages: readonly unknown[] }> },
  totals: Array<{ input: number; output: number }>,
  options: { before?: () => Promise<void>; passConfig?: boolean } = {},
) {
  return tool(
    async ({ task }, config) => {
      await options.before?.();
      const result = await agent.invoke(ask(task), (options.passConfig ? config : undefined) as never);
      totals.push(reported(result.messages));
      const last = result.messages.at(-1) as Message;
      return String(last.content);
    },
    { name, description: name, schema },
  );
}

const outcomeOf = (spans: ReturnType<ReturnType<typeof createAdapterPipeline>['agentSpans']>, name: string) =>
  spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)?.attributes[ATTR_SUBAGENT_OUTCOME];

describe('instrumentLangChain', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  let uninstall: () => void = () => {};

  afterEach(async () => {
    uninstall();
    await pipeline.shutdown();
  });

  // Each test installs in its own body: LangChain keeps the hook in the async context of the install.
  const setUp = (options: Parameters<typeof createAdapterPipeline>[0] = {}) => {
    pipeline = createAdapterPipeline(options);
    uninstall = instrumentLangChain(pipeline.agentmeter);
  };

  it('records agents started from tools as nested runs with the turns and tokens LangChain reports', async () => {
    setUp();
    const totals: Array<{ input: number; output: number }> = [];
    // The two researchers' runs are open at the same time: neither goes on until both are inside a tool.
    const together = rendezvous(2);
    const helperModel = fakeModel().respond(say('a fact', 7, 3));
    const helper = createAgent({ name: 'helper', model: helperModel, tools: [] });
    const deepModel = fakeModel()
      .respond(call([['helper', 'h1']], 40, 8))
      .respond(say('deep findings', 60, 20));
    // This tool passes its config on: the nested run inherits the parent's metadata (lc_agent_name) but is still its own run.
    const deep = createAgent({
      name: 'deep_researcher',
      model: deepModel,
      tools: [agentTool('helper', helper, totals, { before: () => together.arrive(), passConfig: true })],
    });
    const meet = tool(
      async () => {
        await together.arrive();
        return 'met';
      },
      { name: 'meet', description: 'meet', schema },
    );
    const wideModel = fakeModel()
      .respond(call([['meet', 'm1']], 30, 12))
      .respond(say('wide findings', 5, 1));
    const wide = createAgent({ name: 'wide_researcher', model: wideModel, tools: [meet] });
    const orchestratorModel = fakeModel()
      .respond(
        call(
          [
            ['deep', 'c1'],
            ['wide', 'c2'],
          ],
          100,
          20,
        ),
      )
      .respond(say('report', 200, 50));
    const orchestrator = createAgent({
      name: 'orchestrator',
      model: orchestratorModel,
      tools: [agentTool('deep', deep, totals), agentTool('wide', wide, totals)],
    });

    const result = await orchestrator.invoke(ask('write a report'));
    totals.push(reported(result.messages));
    expect(result.messages.at(-1)!.text).toBe('report');

    const spans = pipeline.agentSpans();
    const byName = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!;
    expect(spans.map((span) => span.name).sort()).toEqual([
      'invoke_agent deep_researcher',
      'invoke_agent helper',
      'invoke_agent orchestrator',
      'invoke_agent wide_researcher',
    ]);
    expect(byName('orchestrator').parentSpanContext).toBeUndefined();
    expect(parentOf(byName('deep_researcher'), spans)).toBe(byName('orchestrator'));
    expect(parentOf(byName('wide_researcher'), spans)).toBe(byName('orchestrator'));
    expect(parentOf(byName('helper'), spans)).toBe(byName('deep_researcher'));
    expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    const depth = Object.fromEntries(spans.map((span) => [String(span.attributes[ATTR_GEN_AI_AGENT_NAME]), span.attributes[ATTR_SUBAGENT_DEPTH]]));
    expect(depth).toEqual({ orchestrator: 0, deep_researcher: 1, wide_researcher: 1, helper: 2 });
    for (const span of spans) expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');

    // Each run's turns are its own model calls; its tokens are its own, not its children's.
    const models = { orchestrator: orchestratorModel, deep_researcher: deepModel, wide_researcher: wideModel, helper: helperModel };
    for (const [name, model] of Object.entries(models)) expect(byName(name).attributes[ATTR_SUBAGENT_TURNS]).toBe(model.calls.length);
    const own = (name: string) => [byName(name).attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS], byName(name).attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]];
    expect(own('orchestrator')).toEqual([300, 70]);
    expect(own('deep_researcher')).toEqual([100, 28]);
    expect(own('wide_researcher')).toEqual([35, 13]);
    expect(own('helper')).toEqual([7, 3]);
    // Together they equal what LangChain reports in the agents' messages.
    const sum = totals.reduce((total, next) => ({ input: total.input + next.input, output: total.output + next.output }));
    expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).sum).toBe(sum.input);
    expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'output' })).sum).toBe(sum.output);
    expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'ok' })).toBe(4);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    // Each run's tool calls are its own: a tool that runs a subagent is a call of the run whose model asked for it.
    await expectToolCalls(pipeline, { 'orchestrator deep': 1, 'orchestrator wide': 1, 'deep_researcher helper': 1, 'wide_researcher meet': 1 });
  });

  it('records a subagent that throws as an error; the parent run completes', async () => {
    setUp();
    const broken = createAgent({ name: 'broken', model: fakeModel().alwaysThrow(new Error('model unavailable')), tools: [] });
    const orchestratorModel = fakeModel()
      .respond(call([['broken', 'c1']], 10, 2))
      .respond(say('done anyway', 20, 4));
    const orchestrator = createAgent({ name: 'orchestrator', model: orchestratorModel, tools: [agentTool('broken', broken, [])] });
    const result = await orchestrator.invoke(ask('go'));
    expect(result.messages.at(-1)!.text).toBe('done anyway');
    expect(JSON.stringify(orchestratorModel.calls[1]!.messages)).toContain('model unavailable');

    const spans = pipeline.agentSpans();
    const failed = spans.find((span) => span.name === 'invoke_agent broken')!;
    expect(failed.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('error');
    expect(failed.attributes[ATTR_ERROR_TYPE]).toBe('Error');
    expect(outcomeOf(spans, 'orchestrator')).toBe('ok');
    expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'error' })).toBe(1);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    // The orchestrator's tool call failed with the subagent's error.
    await expectToolCalls(pipeline, { 'orchestrator broken': 1, 'orchestrator broken Error': 1 });
  });

  it('records each tool call with its name, and a failing one with its error class as error.type', async () => {
    setUp();
    class LookupError extends Error {
      override name = 'LookupError';
    }
    const lookup = tool(
      async ({ task }) => {
        if (task === 'missing') throw new LookupError('no such entry');
        return 'found';
      },
      { name: 'lookup', description: 'lookup', schema },
    );
    const model = fakeModel()
      .respond(
        new AIMessage({
          content: '',
          tool_calls: [
            { name: 'lookup', args: { task: 'present' }, id: 'l1', type: 'tool_call' as const },
            { name: 'lookup', args: { task: 'missing' }, id: 'l2', type: 'tool_call' as const },
          ],
        }),
      )
      .respond(say('one found, one missing', 5, 1));
    const agent = createAgent({ name: 'solo', model, tools: [lookup] });
    const result = await agent.invoke(ask('look both up'));
    expect(result.messages.at(-1)!.text).toBe('one found, one missing');
    // LangChain hands the failure to the model; the run itself completes.
    expect(JSON.stringify(model.calls[1]!.messages)).toContain('no such entry');
    expect(outcomeOf(pipeline.agentSpans(), 'solo')).toBe('ok');
    await expectToolCalls(pipeline, { 'solo lookup': 2, 'solo lookup LookupError': 1 });
  });

  it('records a compiled subgraph used as a node as a subagent of the graph', async () => {
    setUp();
    const researcherModel = fakeModel().respond(say('sub answer', 10, 5));
    const researcher = createAgent({ name: 'researcher', model: researcherModel, tools: [] });
    const graph = new StateGraph(MessagesAnnotation)
      .addNode('research', researcher.graph)
      .addEdge(START, 'research')
      .addEdge('research', END)
      .compile({ name: 'pipeline' });
    await graph.invoke(ask('go'));

    const spans = pipeline.agentSpans();
    const byName = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!;
    expect(spans.map((span) => span.name).sort()).toEqual(['invoke_agent pipeline', 'invoke_agent researcher']);
    expect(parentOf(byName('researcher'), spans)).toBe(byName('pipeline'));
    expect(byName('researcher').attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
    expect(byName('researcher').attributes[ATTR_SUBAGENT_TURNS]).toBe(1);
    expect(byName('pipeline').attributes[ATTR_SUBAGENT_TURNS]).toBe(0);
    expect(byName('researcher').attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(10);
  });

  it('records a handoff between the agents of a swarm graph as siblings, the one handing over ending ok', async () => {
    setUp();
    // The swarm's handoff: a tool that sends the parent graph to the other agent's node.
    const transfer = tool(
      (_args, config: { toolCall?: { id?: string } }) =>
        new Command({
          goto: 'bob',
          graph: Command.PARENT,
          update: { messages: [new ToolMessage({ content: 'to bob', tool_call_id: config.toolCall?.id ?? '' })] },
        }),
      { name: 'transfer_to_bob', description: 'hand over to bob', schema: z.object({}) },
    );
    const alice = createAgent({ name: 'alice', model: fakeModel().respond(call([['transfer_to_bob', 't1']], 10, 2)), tools: [transfer] });
    const bob = createAgent({ name: 'bob', model: fakeModel().respond(say('bob here', 20, 4)), tools: [] });
    const swarm = new StateGraph(MessagesAnnotation)
      .addNode('alice', alice.graph, { ends: ['bob'] })
      .addNode('bob', bob.graph)
      .addEdge(START, 'alice')
      .addEdge('bob', END)
      .compile({ name: 'swarm' });
    const result = await swarm.invoke(ask('hi'));
    expect(result.messages.at(-1)!.text).toBe('bob here');

    const spans = pipeline.agentSpans();
    const byName = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!;
    expect(spans.map((span) => span.name).sort()).toEqual(['invoke_agent alice', 'invoke_agent bob', 'invoke_agent swarm']);
    expect(parentOf(byName('alice'), spans)).toBe(byName('swarm'));
    expect(parentOf(byName('bob'), spans)).toBe(byName('swarm'));
    expect(['swarm', 'alice', 'bob'].map((name) => outcomeOf(spans, name))).toEqual(['ok', 'ok', 'ok']);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  // LangChain keeps its configure hooks in an AsyncLocalStorage context: an install made in an
  // async function or a preloaded module (agentmetry/register on Node 24) reached no context but its own.
  it('records runs started from an async context older than the install', async () => {
    const older = new AsyncResource('started before the install');
    setUp();
    const agent = createAgent({ name: 'solo', model: fakeModel().respond(say('x', 1, 1)), tools: [] });
    await older.runInAsyncScope(() => agent.invoke(ask('x')));
    expect(pipeline.agentSpans().map((span) => span.name)).toEqual(['invoke_agent solo']);
  });

  it('ends the runs as aborted, not failed, when the app cancels the run while a subagent works', async () => {
    setUp();
    const controller = new AbortController();
    const cancel = tool(
      () => {
        controller.abort();
        return 'cancelled';
      },
      { name: 'cancel', description: 'cancel', schema },
    );
    const worker = createAgent({
      name: 'worker',
      model: fakeModel()
        .respond(call([['cancel', 'x1']], 5, 1))
        .respond(say('never', 1, 1)),
      tools: [cancel],
    });
    const orchestrator = createAgent({
      name: 'orchestrator',
      model: fakeModel()
        .respond(call([['work', 'c1']], 10, 2))
        .respond(say('never', 1, 1)),
      tools: [agentTool('work', worker, [], { passConfig: true })],
    });
    await expect(orchestrator.invoke(ask('go'), { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(['orchestrator', 'worker'].map((name) => outcomeOf(pipeline.agentSpans(), name))).toEqual(['aborted', 'aborted']);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('records subagents only with topLevel false', async () => {
    pipeline = createAdapterPipeline();
    uninstall = instrumentLangChain(pipeline.agentmeter, { topLevel: false });
    const helper = createAgent({ name: 'helper', model: fakeModel().respond(say('a fact', 7, 3)), tools: [] });
    const orchestrator = createAgent({
      name: 'orchestrator',
      model: fakeModel()
        .respond(call([['helper', 'c1']], 10, 2))
        .respond(say('done', 20, 4)),
      tools: [agentTool('helper', helper, [])],
    });
    await orchestrator.invoke(ask('go'));
    const spans = pipeline.agentSpans();
    expect(spans.map((span) => span.name)).toEqual(['invoke_agent helper']);
    expect(spans[0]!.attributes[ATTR_SUBAGENT_DEPTH]).toBe(0);
  });

  it('records a streamed run when its stream ends, and prices each model call with costUsd', async () => {
    pipeline = createAdapterPipeline();
    uninstall = instrumentLangChain(pipeline.agentmeter, { costUsd: ({ inputTokens, outputTokens }) => (inputTokens + outputTokens) / 1000 });
    const agent = createAgent({ name: 'streamer', model: fakeModel().respond(say('streamed', 300, 200)), tools: [] });
    const chunks = [];
    for await (const chunk of await agent.stream(ask('x'))) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(0);
    const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent streamer')!;
    expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
    expect(span.attributes[ATTR_SUBAGENT_TURNS]).toBe(1);
    expect(pipeline.agentmeter.totals().costUsd).toBeCloseTo(0.5);
  });

  it("nests a top-level run under the app's own agentmeter.run", async () => {
    setUp();
    const agent = createAgent({ name: 'solo', model: fakeModel().respond(say('x', 1, 1)), tools: [] });
    await pipeline.agentmeter.run('app', () => agent.invoke(ask('x')));
    const spans = pipeline.agentSpans();
    const solo = spans.find((span) => span.name === 'invoke_agent solo')!;
    expect(parentOf(solo, spans)?.name).toBe('invoke_agent app');
    expect(solo.attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
  });

  it('runs the agent as usual, with the default name, when an option callback throws', async () => {
    const logged = captureDiag();
    try {
      pipeline = createAdapterPipeline();
      uninstall = instrumentLangChain(pipeline.agentmeter, {
        name: () => {
          throw new Error('bad name hook');
        },
        costUsd: () => {
          throw new Error('bad price hook');
        },
      });
      const agent = createAgent({ name: 'solo', model: fakeModel().respond(say('fine', 3, 2)), tools: [] });
      const result = await agent.invoke(ask('x'));
      expect(result.messages.at(-1)!.text).toBe('fine');
      const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent solo')!;
      expect(span.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(3);
      expect(logged.messages.some((message) => message.includes('options.name threw'))).toBe(true);
      expect(logged.messages.some((message) => message.includes('options.costUsd threw'))).toBe(true);
    } finally {
      logged.stop();
    }
  });

  it('stops recording after uninstall', async () => {
    setUp();
    uninstall();
    const agent = createAgent({ name: 'solo', model: fakeModel().respond(say('x', 1, 1)), tools: [] });
    await agent.invoke(ask('x'));
    expect(pipeline.agentSpans()).toHaveLength(0);
    await expectToolCalls(pipeline, {});
  });

  it('refuses, when installed, an option that belongs to the AgentMeter and an option of the wrong type', () => {
    pipeline = createAdapterPipeline();
    expect(() => instrumentLangChain(pipeline.agentmeter, { maxTokens: 100 } as never)).toThrow(
      new TypeError(
        'agentmetry: instrumentLangChain options.maxTokens is not a known option (expected one of topLevel, name, spec, costUsd, callLimits); quotas are set on the AgentMeter (new AgentMeter({ quota })), and a per-call budget or estimate is returned by options.spec',
      ),
    );
    expect(() => instrumentLangChain(pipeline.agentmeter, { topLevel: 'no' } as never)).toThrow(
      new TypeError("agentmetry: instrumentLangChain options.topLevel must be a boolean, got 'no'"),
    );
  });

  describe('with a quota', () => {
    it('denies the third subagent in its chain start; its model is never called, the parent completes and its model sees the denial', async () => {
      // The orchestrator and two subagents fit; the third subagent does not.
      setUp({ quota: { limits: { maxExecutions: 3 } } });
      const researcher = (name: string) => {
        const model = fakeModel().respond(say(`${name} findings`, 10, 5));
        return { model, agent: createAgent({ name, model, tools: [] }) };
      };
      const alpha = researcher('alpha');
      const beta = researcher('beta');
      const gamma = researcher('gamma');
      const orchestratorModel = fakeModel()
        .respond(call([['alpha', 'c1']], 10, 1))
        .respond(call([['beta', 'c2']], 20, 1))
        .respond(call([['gamma', 'c3']], 30, 1))
        .respond(say('report from two of three', 40, 9));
      const orchestrator = createAgent({
        name: 'orchestrator',
        model: orchestratorModel,
        tools: [alpha, beta, gamma].map(({ agent }, index) => agentTool(['alpha', 'beta', 'gamma'][index]!, agent, [])),
      });

      const result = await orchestrator.invoke(ask('go'));
      expect(result.messages.at(-1)!.text).toBe('report from two of three');
      expect([alpha.model.calls.length, beta.model.calls.length, gamma.model.calls.length]).toEqual([1, 1, 0]);
      // The orchestrator's model received the denial as the result of its third tool call.
      expect(JSON.stringify(orchestratorModel.calls[3]!.messages)).toContain('Quota exceeded: executions');

      const spans = pipeline.agentSpans();
      expect(['orchestrator', 'alpha', 'beta', 'gamma'].map((name) => outcomeOf(spans, name))).toEqual(['ok', 'ok', 'ok', 'denied']);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'denied' })).toBe(1);
      expect(pipeline.agentmeter.quota!.snapshot().executions.used).toBe(3);
      expect(pipeline.agentmeter.totals().active).toBe(0);
      // The refused subagent's tool call failed with the refusal.
      await expectToolCalls(pipeline, { 'orchestrator alpha': 1, 'orchestrator beta': 1, 'orchestrator gamma': 1, 'orchestrator gamma QuotaExceededError': 1 });
    });

    it('stops a run at the model call past maxTurnsPerRun: that call never reaches the model, the run ends incomplete', async () => {
      setUp({ quota: { limits: { maxTurnsPerRun: 1 } } });
      const lookup = tool(async () => 'looked up', { name: 'lookup', description: 'lookup', schema });
      const model = fakeModel()
        .respond(call([['lookup', 'l1']], 10, 2))
        .respond(say('never', 1, 1));
      const agent = createAgent({ name: 'solo', model, tools: [lookup] });
      await expect(agent.invoke(ask('x'))).rejects.toMatchObject({ name: 'QuotaExceededError', resource: 'turns' });
      expect(model.calls).toHaveLength(1);
      const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent solo')!;
      expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('incomplete');
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it('makes a refused top-level run reject with the QuotaExceededError before its model is called', async () => {
      setUp({ quota: { limits: { maxExecutions: 0 } } });
      const model = fakeModel().respond(say('never', 1, 1));
      const agent = createAgent({ name: 'solo', model, tools: [] });
      await expect(agent.invoke(ask('x'))).rejects.toMatchObject({ name: 'QuotaExceededError', resource: 'executions' });
      expect(model.calls).toHaveLength(0);
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });
  });
});
