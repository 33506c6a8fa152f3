import { Agent } from '@mastra/core/agent';
import { MockMemory } from '@mastra/core/memory';
import { createTool } from '@mastra/core/tools';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { MockLanguageModelV3, convertArrayToReadableStream } from 'ai6/test';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { instrumentMastra } from '../../src/adapters/mastra/index.js';
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

// The AI SDK 6 mock model (LanguageModelV3), which Mastra 1.x runs as it runs a provider's model.
/** One `doGenerate` result of the mock model. */
type Reply = object;
const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});
const say = (text: string, input: number, output: number): Reply => ({
  content: [{ type: 'text', text }],
  finishReason: { unified: 'stop', raw: 'stop' },
  usage: usage(input, output),
  warnings: [],
});
const call = (tools: Array<[name: string, id: string]>, input: number, output: number): Reply => ({
  content: tools.map(([toolName, toolCallId]) => ({ type: 'tool-call', toolCallId, toolName, input: JSON.stringify({ prompt: `task for ${toolName}` }) })),
  finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
  usage: usage(input, output),
  warnings: [],
});
/** A model that gives `replies` in turn, after `before` (when given) for each call. */
const model = (replies: Reply[], before?: () => Promise<void>) => {
  let next = 0;
  return new MockLanguageModelV3({
    doGenerate: async () => {
      await before?.();
      const reply = replies[next++];
      if (reply === undefined) throw new Error('the mock model has no more replies');
      return reply as never;
    },
  });
};
const agent = (id: string, replies: Reply[] | MockLanguageModelV3, more: Partial<ConstructorParameters<typeof Agent>[0]> = {}) =>
  new Agent({ id, name: id, description: id, instructions: `you are ${id}`, model: Array.isArray(replies) ? model(replies) : replies, ...more });

/** What Mastra reports for each delegated agent (its `onDelegationComplete` usage) and for the top-level agent (its `totalUsage`). */
function collectUsage() {
  const totals = { input: 0, output: 0 };
  const add = (reported: { inputTokens?: number; outputTokens?: number } | undefined) => {
    totals.input += reported?.inputTokens ?? 0;
    totals.output += reported?.outputTokens ?? 0;
  };
  return { totals, add };
}

const outcomeOf = (spans: ReturnType<ReturnType<typeof createAdapterPipeline>['agentSpans']>, name: string) =>
  spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)?.attributes[ATTR_SUBAGENT_OUTCOME];

describe('instrumentMastra', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  let uninstall: () => void = () => {};

  afterEach(async () => {
    uninstall();
    await pipeline.shutdown();
  });

  const setUp = (options: Parameters<typeof createAdapterPipeline>[0] = {}) => {
    pipeline = createAdapterPipeline(options);
    uninstall = instrumentMastra(pipeline.agentmeter);
  };

  it('records delegated agents as nested runs with the steps, tokens and tool calls Mastra reports', async () => {
    setUp();
    // The two researchers' runs are open at the same time: neither model answers until both are called.
    const together = rendezvous(2);
    const helper = agent('helper', [say('a fact', 7, 3)]);
    const lookup = createTool({ id: 'lookup', description: 'lookup', inputSchema: z.object({}), execute: async () => 'looked up' });
    const deepModel = model([call([['agent-helper', 'h1']], 40, 8), say('deep findings', 60, 20)], async () => {
      if (deepModel.doGenerateCalls.length === 1) await together.arrive();
    });
    const deep = agent('deep_researcher', deepModel, { agents: { helper } });
    const wideModel = model([call([['lookup', 'l1']], 30, 12), say('wide findings', 5, 1)], async () => {
      if (wideModel.doGenerateCalls.length === 1) await together.arrive();
    });
    const wide = agent('wide_researcher', wideModel, { tools: { lookup } });
    const orchestratorModel = model([
      call(
        [
          ['agent-deep', 'c1'],
          ['agent-wide', 'c2'],
        ],
        100,
        20,
      ),
      say('report', 200, 50),
    ]);
    const orchestrator = agent('orchestrator', orchestratorModel, { agents: { deep, wide } });

    const reported = collectUsage();
    const completed: string[] = [];
    const result = await orchestrator.generate('write a report', {
      maxSteps: 5,
      // The app's own hooks still run.
      delegation: {
        onDelegationComplete: (context) => {
          completed.push(context.primitiveId);
          reported.add(context.result.usage);
        },
      },
    });
    // The helper's delegation went through the deep researcher's hooks, not the orchestrator's.
    expect(completed.sort()).toEqual(['deep_researcher', 'wide_researcher']);
    const helperUsage = { inputTokens: 7, outputTokens: 3 };
    reported.add(helperUsage);
    reported.add(result.totalUsage);
    expect(result.text).toBe('report');

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

    // Each run's turns are its own steps (model calls); its tokens are its own, not its children's.
    const models = { orchestrator: orchestratorModel, deep_researcher: deepModel, wide_researcher: wideModel };
    for (const [name, mock] of Object.entries(models)) expect(byName(name).attributes[ATTR_SUBAGENT_TURNS]).toBe(mock.doGenerateCalls.length);
    expect(byName('orchestrator').attributes[ATTR_SUBAGENT_TURNS]).toBe(result.steps.length);
    const own = (name: string) => [byName(name).attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS], byName(name).attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]];
    expect(own('orchestrator')).toEqual([result.totalUsage.inputTokens, result.totalUsage.outputTokens]);
    expect(own('deep_researcher')).toEqual([100, 28]);
    expect(own('wide_researcher')).toEqual([35, 13]);
    expect(own('helper')).toEqual([helperUsage.inputTokens, helperUsage.outputTokens]);
    // Together they equal what Mastra reports.
    expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).sum).toBe(reported.totals.input);
    expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'output' })).sum).toBe(reported.totals.output);
    expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'ok' })).toBe(4);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    // Each run records its own tool calls: a delegation is a tool call of the delegating run.
    await expectToolCalls(pipeline, {
      'orchestrator agent-deep': 1,
      'orchestrator agent-wide': 1,
      'deep_researcher agent-helper': 1,
      'wide_researcher lookup': 1,
    });
  });

  it('records a delegated agent that throws as an error; the parent run completes', async () => {
    setUp();
    const brokenModel = new MockLanguageModelV3({
      doGenerate: () => Promise.reject(new Error('model unavailable')),
    });
    const broken = agent('broken', brokenModel);
    const orchestratorModel = model([call([['agent-broken', 'c1']], 10, 2), say('done anyway', 20, 4)]);
    const orchestrator = agent('orchestrator', orchestratorModel, { agents: { broken } });
    const result = await orchestrator.generate('go', { maxSteps: 5 });
    expect(result.text).toBe('done anyway');
    expect(JSON.stringify(orchestratorModel.doGenerateCalls[1]!.prompt)).toContain('Failed agent tool execution');

    const spans = pipeline.agentSpans();
    const failed = spans.find((span) => span.name === 'invoke_agent broken')!;
    expect(failed.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('error');
    expect(failed.attributes[ATTR_ERROR_TYPE]).toBeDefined();
    expect(outcomeOf(spans, 'orchestrator')).toBe('ok');
    expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'error' })).toBe(1);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    // Mastra fails the delegation with its MastraError, whose name is Error.
    await expectToolCalls(pipeline, { 'orchestrator agent-broken': 1, 'orchestrator agent-broken Error': 1 });
  });

  it('records a streamed run when its stream ends, with its delegations nested under it', async () => {
    pipeline = createAdapterPipeline();
    uninstall = instrumentMastra(pipeline.agentmeter, { costUsd: ({ inputTokens, outputTokens }) => (inputTokens + outputTokens) / 1000 });
    const stream = (parts: unknown[]) => ({ stream: convertArrayToReadableStream(parts as never[]) });
    const start = [{ type: 'stream-start', warnings: [] }];
    const finish = (reason: string, input: number, output: number) => ({
      type: 'finish',
      finishReason: { unified: reason, raw: reason },
      usage: usage(input, output),
    });
    const helperModel = new MockLanguageModelV3({
      doStream: async () =>
        stream([
          ...start,
          { type: 'text-start', id: 't' },
          { type: 'text-delta', id: 't', delta: 'sub' },
          { type: 'text-end', id: 't' },
          finish('stop', 100, 100),
        ]),
    });
    const helper = agent('helper', helperModel);
    let parentCalls = 0;
    const parentModel = new MockLanguageModelV3({
      doStream: async () =>
        parentCalls++ === 0
          ? stream([
              ...start,
              { type: 'tool-call', toolCallId: 'c1', toolName: 'agent-helper', input: JSON.stringify({ prompt: 'x' }) },
              finish('tool-calls', 200, 100),
            ])
          : stream([
              ...start,
              { type: 'text-start', id: 't' },
              { type: 'text-delta', id: 't', delta: 'streamed' },
              { type: 'text-end', id: 't' },
              finish('stop', 50, 50),
            ]),
    });
    const streamer = agent('streamer', parentModel, { agents: { helper } });
    const output = await streamer.stream('x', { maxSteps: 5 });
    const chunks: string[] = [];
    for await (const chunk of output.fullStream) chunks.push(chunk.type);
    expect(await output.text).toBe('streamed');
    const spans = pipeline.agentSpans();
    const byName = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!;
    expect(byName('streamer').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
    expect(byName('streamer').attributes[ATTR_SUBAGENT_TURNS]).toBe(2);
    expect(parentOf(byName('helper'), spans)).toBe(byName('streamer'));
    expect(byName('helper').attributes[ATTR_SUBAGENT_TURNS]).toBe(1);
    expect(pipeline.agentmeter.totals().costUsd).toBeCloseTo(0.6);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('ends a streamed run that fails as an error once its stream is read', async () => {
    setUp();
    const failing = new MockLanguageModelV3({ doStream: () => Promise.reject(new Error('stream unavailable')) });
    const output = await agent('streamer', failing).stream('x');
    for await (const chunk of output.fullStream) expect(chunk.type).not.toBe('text-delta');
    const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent streamer')!;
    expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('error');
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it("ends a streamed run when its call returns if its hooks could not be added (the app's default options failed once)", async () => {
    const logged = captureDiag();
    try {
      setUp();
      const stream = new MockLanguageModelV3({
        doStream: async () => ({
          stream: convertArrayToReadableStream([
            { type: 'stream-start', warnings: [] },
            { type: 'text-start', id: 't' },
            { type: 'text-delta', id: 't', delta: 'streamed' },
            { type: 'text-end', id: 't' },
            { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(4, 2) },
          ] as never[]),
        }),
      });
      // The adapter asks for the default options first: that call fails, Mastra's own succeeds.
      let asked = 0;
      const flaky = agent('streamer', stream, {
        defaultOptions: () => {
          if (asked++ === 0) throw new Error('options unavailable');
          return {};
        },
      });
      const output = await flaky.stream('x');
      expect(await output.text).toBe('streamed');
      const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent streamer')!;
      expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'ok' })).toBe(1);
      expect(pipeline.agentmeter.totals().active).toBe(0);
      expect(logged.messages.some((message) => message.includes("adding the hooks to agent 'streamer' failed"))).toBe(true);
    } finally {
      logged.stop();
    }
  });

  it('records an agent network as a run of its agent, with the agents its routing picks nested under it', async () => {
    setUp();
    const stream = (text: string) => ({
      stream: convertArrayToReadableStream([
        { type: 'stream-start', warnings: [] },
        { type: 'text-start', id: 't' },
        { type: 'text-delta', id: 't', delta: text },
        { type: 'text-end', id: 't' },
        { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(3, 2) },
      ] as never[]),
    });
    const helperModel = new MockLanguageModelV3({ doStream: async () => stream('helped') });
    const helper = agent('helper', helperModel);
    // The network's own model: a routing decision (generate), then the completion check (stream).
    const routingModel = new MockLanguageModelV3({
      doGenerate: async () =>
        say(JSON.stringify({ primitiveId: 'helper', primitiveType: 'agent', prompt: 'help', selectionReason: 'it helps' }), 20, 10) as never,
      doStream: async () => stream(JSON.stringify({ isComplete: true, completionReason: 'helped', finalResult: 'all done' })),
    });
    const boss = agent('boss', routingModel, { agents: { helper }, memory: new MockMemory() });
    const network = await boss.network('do the task', { maxSteps: 2, memory: { thread: 't1', resource: 'r1' } });
    for await (const chunk of network) expect(chunk.type).not.toBe('error');
    expect(await network.status).toBe('success');

    const spans = pipeline.agentSpans();
    const byName = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!;
    expect(spans.map((span) => span.name).sort()).toEqual(['invoke_agent boss', 'invoke_agent helper']);
    expect(parentOf(byName('helper'), spans)).toBe(byName('boss'));
    expect(byName('helper').attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
    // The network's turns are its routing model's calls; the helper's are its own.
    expect(byName('boss').attributes[ATTR_SUBAGENT_TURNS]).toBe(routingModel.doGenerateCalls.length + routingModel.doStreamCalls.length);
    expect(byName('helper').attributes[ATTR_SUBAGENT_TURNS]).toBe(helperModel.doStreamCalls.length);
    expect(byName('helper').attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(3);
    expect(['boss', 'helper'].map((name) => outcomeOf(spans, name))).toEqual(['ok', 'ok']);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('records a workflow an agent delegates to as a nested run, and refuses it with the delegation rejection', async () => {
    setUp({ quota: { limits: { maxExecutions: 2 } } });
    let ran = 0;
    const step = createStep({
      id: 'shout',
      inputSchema: z.object({ text: z.string() }),
      outputSchema: z.object({ text: z.string() }),
      execute: async ({ inputData }) => {
        ran += 1;
        return { text: inputData.text.toUpperCase() };
      },
    });
    const shout = createWorkflow({ id: 'shout', inputSchema: z.object({ text: z.string() }), outputSchema: z.object({ text: z.string() }) })
      .then(step)
      .commit();
    const input = JSON.stringify({ inputData: { text: 'hi' } });
    const workflowCall = (id: string): Reply => ({
      content: [{ type: 'tool-call', toolCallId: id, toolName: 'workflow-shout', input }],
      finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
      usage: usage(1, 1),
      warnings: [],
    });
    // The orchestrator and the first workflow run fit; the second workflow run does not.
    const orchestratorModel = model([workflowCall('w1'), workflowCall('w2'), say('done', 1, 1)]);
    const orchestrator = agent('orchestrator', orchestratorModel, { workflows: { shout } });
    const result = await orchestrator.generate('go', { maxSteps: 5 });
    expect(result.text).toBe('done');
    expect(ran).toBe(1);
    expect(JSON.stringify(orchestratorModel.doGenerateCalls[1]!.prompt)).toContain('HI');
    expect(JSON.stringify(orchestratorModel.doGenerateCalls[2]!.prompt)).toContain('[Delegation Rejected] Quota exceeded: executions');

    const spans = pipeline.agentSpans();
    const workflows = spans.filter((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === 'shout');
    expect(workflows.map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME]).sort()).toEqual(['denied', 'ok']);
    const admitted = workflows.find((span) => span.attributes[ATTR_SUBAGENT_OUTCOME] === 'ok')!;
    expect(parentOf(admitted, spans)?.name).toBe('invoke_agent orchestrator');
    expect(admitted.attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    await expectToolCalls(pipeline, { 'orchestrator workflow-shout': 2, 'orchestrator workflow-shout QuotaExceededError': 1 });
  });

  it('ends the runs as aborted, not failed, when the app cancels the call while a delegated agent works', async () => {
    setUp();
    const controller = new AbortController();
    const cancel = createTool({
      id: 'cancel',
      description: 'cancel',
      inputSchema: z.object({}),
      execute: async () => {
        controller.abort();
        return 'cancelled';
      },
    });
    const worker = agent('worker', [call([['cancel', 'x1']], 5, 1), say('never', 1, 1)], { tools: { cancel } });
    const orchestrator = agent('orchestrator', [call([['agent-worker', 'c1']], 10, 2), say('never', 1, 1)], { agents: { worker } });
    // Mastra resolves an aborted call or rejects it, by where the abort lands; the runs end aborted either way.
    await orchestrator.generate('go', { maxSteps: 5, abortSignal: controller.signal }).catch(() => undefined);
    expect(['orchestrator', 'worker'].map((name) => outcomeOf(pipeline.agentSpans(), name))).toEqual(['aborted', 'aborted']);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it("merges its hooks with the app's: the agent's default hooks and the call's own still run", async () => {
    setUp();
    const seen: string[] = [];
    const helper = agent('helper', [say('a fact', 1, 1)]);
    const orchestrator = agent('orchestrator', [call([['agent-helper', 'c1']], 1, 1), say('done', 1, 1)], {
      agents: { helper },
      defaultOptions: {
        delegation: { onDelegationStart: (context) => void seen.push(`default start ${context.primitiveId}`) },
        onStepFinish: () => void seen.push('default step'),
      },
      hooks: { afterToolCall: (context) => void seen.push(`agent after ${context.toolName}`) },
    });
    await orchestrator.generate('go', {
      maxSteps: 5,
      delegation: { onDelegationComplete: (context) => void seen.push(`call complete ${context.primitiveId}`) },
      onFinish: () => void seen.push('call finish'),
    });
    expect(seen).toEqual(['default start helper', 'call complete helper', 'agent after agent-helper', 'default step', 'default step', 'call finish']);
    expect(pipeline.agentSpans()).toHaveLength(2);
  });

  it("leaves an app's throwing onDelegationStart to Mastra's hookErrorStrategy, recording the delegation it lets through", async () => {
    setUp();
    const failing = () => {
      throw new Error('app hook failed');
    };
    // 'warn' (Mastra's default): the delegation goes on, and is recorded under its parent.
    const helperModel = model([say('a fact', 1, 1)]);
    const orchestrator = agent('orchestrator', [call([['agent-helper', 'c1']], 1, 1), say('done', 1, 1)], { agents: { helper: agent('helper', helperModel) } });
    await orchestrator.generate('go', { maxSteps: 5, delegation: { onDelegationStart: failing } });
    expect(helperModel.doGenerateCalls).toHaveLength(1);
    const spans = pipeline.agentSpans();
    const helper = spans.find((span) => span.name === 'invoke_agent helper')!;
    expect(parentOf(helper, spans)?.name).toBe('invoke_agent orchestrator');
    // 'throw': the delegation fails before the helper is called; nothing is left open.
    const blockedModel = model([say('never', 1, 1)]);
    const strict = agent('strict', [call([['agent-blocked', 'c1']], 1, 1), say('done', 1, 1)], { agents: { blocked: agent('blocked', blockedModel) } });
    const result = await strict.generate('go', { maxSteps: 5, delegation: { onDelegationStart: failing, hookErrorStrategy: 'throw' } });
    expect(result.text).toBe('done');
    expect(blockedModel.doGenerateCalls).toHaveLength(0);
    expect(pipeline.agentSpans().some((span) => span.name === 'invoke_agent blocked')).toBe(false);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('records delegations only with topLevel false', async () => {
    pipeline = createAdapterPipeline();
    uninstall = instrumentMastra(pipeline.agentmeter, { topLevel: false });
    const helper = agent('helper', [say('a fact', 7, 3)]);
    const orchestrator = agent('orchestrator', [call([['agent-helper', 'c1']], 10, 2), say('done', 20, 4)], { agents: { helper } });
    await orchestrator.generate('go', { maxSteps: 5 });
    const spans = pipeline.agentSpans();
    expect(spans.map((span) => span.name)).toEqual(['invoke_agent helper']);
    expect(spans[0]!.attributes[ATTR_SUBAGENT_DEPTH]).toBe(0);
  });

  it("nests a top-level run under the app's own agentmeter.run", async () => {
    setUp();
    const solo = agent('solo', [say('x', 1, 1)]);
    await pipeline.agentmeter.run('app', () => solo.generate('x'));
    const spans = pipeline.agentSpans();
    const span = spans.find((candidate) => candidate.name === 'invoke_agent solo')!;
    expect(parentOf(span, spans)?.name).toBe('invoke_agent app');
    expect(span.attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
  });

  it("runs the agent's call inside its run: the app's own runs and spans from a tool nest under it", async () => {
    setUp();
    const measure = createTool({
      id: 'measure',
      description: 'measure',
      inputSchema: z.object({}),
      execute: () => pipeline.agentmeter.run('measuring', async () => 'measured'),
    });
    await agent('solo', [call([['measure', 'm1']], 1, 1), say('done', 1, 1)], { tools: { measure } }).generate('x', { maxSteps: 3 });
    const spans = pipeline.agentSpans();
    const measuring = spans.find((span) => span.name === 'invoke_agent measuring')!;
    expect(parentOf(measuring, spans)?.name).toBe('invoke_agent solo');
    expect(measuring.attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
  });

  it('runs the agent as usual, with the default name, when an option callback throws', async () => {
    const logged = captureDiag();
    try {
      pipeline = createAdapterPipeline();
      uninstall = instrumentMastra(pipeline.agentmeter, {
        name: () => {
          throw new Error('bad name hook');
        },
        costUsd: () => {
          throw new Error('bad price hook');
        },
      });
      const result = await agent('solo', [say('fine', 3, 2)]).generate('x');
      expect(result.text).toBe('fine');
      const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent solo')!;
      expect(span.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(3);
      expect(logged.messages.some((message) => message.includes('options.name threw'))).toBe(true);
      expect(logged.messages.some((message) => message.includes('options.costUsd threw'))).toBe(true);
    } finally {
      logged.stop();
    }
  });

  it('stops recording after uninstall, and restores the methods it wrapped', async () => {
    const generate: unknown = Reflect.get(Agent.prototype, 'generate');
    const stream: unknown = Reflect.get(Agent.prototype, 'stream');
    setUp();
    expect(Reflect.get(Agent.prototype, 'generate')).not.toBe(generate);
    uninstall();
    expect(Reflect.get(Agent.prototype, 'generate')).toBe(generate);
    expect(Reflect.get(Agent.prototype, 'stream')).toBe(stream);
    await agent('solo', [say('x', 1, 1)]).generate('x');
    expect(pipeline.agentSpans()).toHaveLength(0);
  });

  it('refuses, when installed, an option that belongs to the AgentMeter and an option of the wrong type', () => {
    pipeline = createAdapterPipeline();
    expect(() => instrumentMastra(pipeline.agentmeter, { maxTokens: 100 } as never)).toThrow(
      new TypeError(
        'agentmetry: instrumentMastra options.maxTokens is not a known option (expected one of topLevel, name, spec, costUsd, denialMessage); quotas are set on the AgentMeter (new AgentMeter({ quota })), and a per-call budget or estimate is returned by options.spec',
      ),
    );
    expect(() => instrumentMastra(pipeline.agentmeter, { topLevel: 'no' } as never)).toThrow(
      new TypeError("agentmetry: instrumentMastra options.topLevel must be a boolean, got 'no'"),
    );
  });

  describe('with a quota', () => {
    it('denies the third delegation in onDelegationStart; its model is never called, the parent completes and its model sees the denial', async () => {
      // The orchestrator and two delegated agents fit; the third does not.
      setUp({ quota: { limits: { maxExecutions: 3 } } });
      const researchers = ['alpha', 'beta', 'gamma'].map((name) => {
        const mock = model([say(`${name} findings`, 10, 5)]);
        return { name, mock, agent: agent(name, mock) };
      });
      const orchestratorModel = model([
        call([['agent-alpha', 'c1']], 10, 1),
        call([['agent-beta', 'c2']], 20, 1),
        call([['agent-gamma', 'c3']], 30, 1),
        say('report from two of three', 40, 9),
      ]);
      const orchestrator = agent('orchestrator', orchestratorModel, {
        agents: Object.fromEntries(researchers.map(({ name, agent: researcher }) => [name, researcher])),
      });

      const result = await orchestrator.generate('go', { maxSteps: 6 });
      expect(result.text).toBe('report from two of three');
      expect(researchers.map(({ mock }) => mock.doGenerateCalls.length)).toEqual([1, 1, 0]);
      // The orchestrator's model received the denial as the result of its third tool call.
      expect(JSON.stringify(orchestratorModel.doGenerateCalls[3]!.prompt)).toContain('[Delegation Rejected] Quota exceeded: executions');

      const spans = pipeline.agentSpans();
      expect(['orchestrator', 'alpha', 'beta', 'gamma'].map((name) => outcomeOf(spans, name))).toEqual(['ok', 'ok', 'ok', 'denied']);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'denied' })).toBe(1);
      expect(pipeline.agentmeter.quota!.snapshot().executions.used).toBe(3);
      expect(pipeline.agentmeter.totals().active).toBe(0);
      // The refused delegation's tool call failed with the refusal.
      await expectToolCalls(pipeline, {
        'orchestrator agent-alpha': 1,
        'orchestrator agent-beta': 1,
        'orchestrator agent-gamma': 1,
        'orchestrator agent-gamma QuotaExceededError': 1,
      });
    });

    it('stops a run once a step goes past maxTurnsPerRun: no later step reaches the model, the run ends incomplete', async () => {
      setUp({ quota: { limits: { maxTurnsPerRun: 1 } } });
      const lookup = createTool({ id: 'lookup', description: 'lookup', inputSchema: z.object({}), execute: async () => 'looked up' });
      const mock = model([call([['lookup', 'l1']], 10, 2), call([['lookup', 'l2']], 10, 2), say('never', 1, 1)]);
      await agent('solo', mock, { tools: { lookup } })
        .generate('x', { maxSteps: 5 })
        .catch(() => undefined);
      // Turns are counted as steps finish: the second step ran, the third never started.
      expect(mock.doGenerateCalls).toHaveLength(2);
      const span = pipeline.agentSpans().find((candidate) => candidate.name === 'invoke_agent solo')!;
      expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('incomplete');
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it("refuses an agent a network's routing picks by failing its call: its model is never called, the network fails", async () => {
      // The network's run fits; the agent its routing picks does not. Mastra has no delegation hook for networks.
      setUp({ quota: { limits: { maxExecutions: 1 } } });
      const stream = (text: string) => ({
        stream: convertArrayToReadableStream([
          { type: 'stream-start', warnings: [] },
          { type: 'text-start', id: 't' },
          { type: 'text-delta', id: 't', delta: text },
          { type: 'text-end', id: 't' },
          { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(3, 2) },
        ] as never[]),
      });
      const helperModel = new MockLanguageModelV3({ doStream: async () => stream('helped') });
      const routingModel = new MockLanguageModelV3({
        doGenerate: async () =>
          say(JSON.stringify({ primitiveId: 'helper', primitiveType: 'agent', prompt: 'help', selectionReason: 'it helps' }), 20, 10) as never,
      });
      const boss = agent('boss', routingModel, { agents: { helper: agent('helper', helperModel) }, memory: new MockMemory() });
      const network = await boss.network('do the task', { maxSteps: 2, memory: { thread: 't1', resource: 'r1' } });
      for await (const chunk of network) expect(chunk.type).toBeDefined();
      expect(await network.status).toBe('failed');
      expect(helperModel.doStreamCalls).toHaveLength(0);
      const spans = pipeline.agentSpans();
      expect(['boss', 'helper'].map((name) => outcomeOf(spans, name))).toEqual(['error', 'denied']);
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it("lets the app's own onDelegationStart deny first: the adapter admits nothing", async () => {
      setUp({ quota: { limits: { maxExecutions: 5 } } });
      const helperModel = model([say('never', 1, 1)]);
      const orchestratorModel = model([call([['agent-helper', 'c1']], 1, 1), say('done', 1, 1)]);
      const orchestrator = agent('orchestrator', orchestratorModel, { agents: { helper: agent('helper', helperModel) } });
      await orchestrator.generate('go', { maxSteps: 5, delegation: { onDelegationStart: () => ({ proceed: false, rejectionReason: 'not today' }) } });
      expect(helperModel.doGenerateCalls).toHaveLength(0);
      expect(JSON.stringify(orchestratorModel.doGenerateCalls[1]!.prompt)).toContain('[Delegation Rejected] not today');
      expect(pipeline.agentSpans().map((span) => span.name)).toEqual(['invoke_agent orchestrator']);
      expect(pipeline.agentmeter.quota!.snapshot().executions.used).toBe(1);
    });

    it('makes a refused top-level call reject with the QuotaExceededError before its model is called', async () => {
      setUp({ quota: { limits: { maxExecutions: 0 } } });
      const mock = model([say('never', 1, 1)]);
      await expect(agent('solo', mock).generate('x')).rejects.toMatchObject({ name: 'QuotaExceededError', resource: 'executions' });
      expect(mock.doGenerateCalls).toHaveLength(0);
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });
  });
});
