import { Agent, Runner, Usage, defineToolInputGuardrail, run, setTraceProcessors, setTracingDisabled, tool, type Model } from '@openai/agents';
import { ScriptedModel, assistantMessage, functionCall, modelError, modelResponse } from '@openai/agents/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { instrumentOpenAIAgents } from '../../src/adapters/openai-agents/index.js';
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

const usage = (input: number, output: number) => new Usage({ requests: 1, input_tokens: input, output_tokens: output, total_tokens: input + output });
const say = (text: string, input: number, output: number) => modelResponse({ output: [assistantMessage(text)], usage: usage(input, output) });
const call = (tools: Array<[name: string, callId: string]>, input: number, output: number) =>
  modelResponse({ output: tools.map(([name, callId]) => functionCall(name, { input: `task for ${name}` }, { callId })), usage: usage(input, output) });

/** `model`, whose first answer waits for `together`. */
function meetFirst(model: ScriptedModel, together: { arrive(): Promise<void> }): Model {
  let first = true;
  return {
    getResponse: async (request) => {
      if (first) {
        first = false;
        await together.arrive();
      }
      return model.getResponse(request);
    },
    getStreamedResponse: (request) => model.getStreamedResponse(request),
  };
}

describe('instrumentOpenAIAgents', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  let uninstall: () => void;

  beforeEach(() => {
    // Vitest sets NODE_ENV=test, which turns the SDK's tracing (our source of turns and tokens) off.
    setTracingDisabled(false);
    setTraceProcessors([]); // no export to OpenAI's backend
  });

  afterEach(async () => {
    uninstall();
    await pipeline.shutdown();
  });

  describe('without quotas', () => {
    beforeEach(() => {
      pipeline = createAdapterPipeline();
      uninstall = instrumentOpenAIAgents(pipeline.agentmeter);
    });

    it('records agents used as tools as nested runs with the turns and tokens the SDK reports', async () => {
      const helperModel = new ScriptedModel([say('a fact', 7, 3)]);
      const helper = new Agent({ name: 'Helper', instructions: 'look things up', model: helperModel });
      // The two researchers' runs are open at the same time: neither model answers until both asked.
      const together = rendezvous(2);
      const deepModel = new ScriptedModel([call([['helper', 'h1']], 40, 8), say('deep findings', 60, 20)]);
      const deep = new Agent({
        name: 'DeepResearcher',
        instructions: 'dig',
        model: meetFirst(deepModel, together),
        tools: [helper.asTool({ toolName: 'helper', toolDescription: 'facts' })],
      });
      const wideModel = new ScriptedModel([say('wide findings', 30, 12)]);
      const wide = new Agent({ name: 'WideResearcher', instructions: 'survey', model: meetFirst(wideModel, together) });
      const orchestratorModel = new ScriptedModel([
        call(
          [
            ['deep', 'c1'],
            ['wide', 'c2'],
          ],
          100,
          20,
        ),
        say('report', 200, 50),
      ]);
      const orchestrator = new Agent({
        name: 'Orchestrator',
        instructions: 'delegate',
        model: orchestratorModel,
        tools: [deep.asTool({ toolName: 'deep', toolDescription: 'deep research' }), wide.asTool({ toolName: 'wide', toolDescription: 'wide research' })],
      });

      const result = await run(orchestrator, 'write a report');
      expect(result.finalOutput).toBe('report');

      const spans = pipeline.agentSpans();
      const byName = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!;
      expect(spans.map((span) => span.name).sort()).toEqual([
        'invoke_agent DeepResearcher',
        'invoke_agent Helper',
        'invoke_agent Orchestrator',
        'invoke_agent WideResearcher',
      ]);
      expect(byName('Orchestrator').parentSpanContext).toBeUndefined();
      expect(parentOf(byName('DeepResearcher'), spans)).toBe(byName('Orchestrator'));
      expect(parentOf(byName('WideResearcher'), spans)).toBe(byName('Orchestrator'));
      expect(parentOf(byName('Helper'), spans)).toBe(byName('DeepResearcher'));
      const depth = Object.fromEntries(spans.map((span) => [String(span.attributes[ATTR_GEN_AI_AGENT_NAME]), span.attributes[ATTR_SUBAGENT_DEPTH]]));
      expect(depth).toEqual({ Orchestrator: 0, DeepResearcher: 1, WideResearcher: 1, Helper: 2 });
      for (const span of spans) expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');

      // Each run's turns are its own model calls; its tokens are its own, not its children's.
      const models = { Orchestrator: orchestratorModel, DeepResearcher: deepModel, WideResearcher: wideModel, Helper: helperModel };
      for (const [name, model] of Object.entries(models)) expect(byName(name).attributes[ATTR_SUBAGENT_TURNS]).toBe(model.calls.length);
      const own = (name: string) => [byName(name).attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS], byName(name).attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]];
      expect(own('Orchestrator')).toEqual([300, 70]);
      expect(own('DeepResearcher')).toEqual([100, 28]);
      expect(own('WideResearcher')).toEqual([30, 12]);
      expect(own('Helper')).toEqual([7, 3]);
      // Together they equal the run's total usage as the SDK reports it (it rolls nested usage up).
      expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).sum).toBe(result.state.usage.inputTokens);
      expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'output' })).sum).toBe(result.state.usage.outputTokens);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'ok' })).toBe(4);
      // Each run's tool calls are its own: an agent tool is a call of the run whose model asked for it.
      await expectToolCalls(pipeline, { 'Orchestrator deep': 1, 'Orchestrator wide': 1, 'DeepResearcher helper': 1 });
    });

    it('records each function tool call by name; a failing one has error.type _OTHER, as the SDK keeps no error class', async () => {
      const lookup = tool({
        name: 'lookup',
        description: 'look up',
        parameters: z.object({ input: z.string() }),
        execute: ({ input }) => {
          if (input === 'missing') throw new RangeError('no such entry');
          return 'found';
        },
      });
      const model = new ScriptedModel([
        modelResponse({
          output: [functionCall('lookup', { input: 'present' }, { callId: 'l1' }), functionCall('lookup', { input: 'missing' }, { callId: 'l2' })],
          usage: usage(5, 1),
        }),
        say('one found', 6, 2),
      ]);
      const result = await run(new Agent({ name: 'Solo', instructions: 'look up', model, tools: [lookup] }), 'go');
      expect(result.finalOutput).toBe('one found');
      expect(pipeline.agentSpans()[0]!.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      await expectToolCalls(pipeline, { 'Solo lookup': 2, 'Solo lookup _OTHER': 1 });
    });

    it('records a subagent that throws as an error; the parent run completes', async () => {
      const broken = new Agent({ name: 'Broken', instructions: 'fail', model: new ScriptedModel([modelError(new Error('model unavailable'))]) });
      const orchestrator = new Agent({
        name: 'Orchestrator',
        instructions: 'delegate',
        model: new ScriptedModel([call([['broken', 'c1']], 10, 2), say('done anyway', 20, 4)]),
        tools: [broken.asTool({ toolName: 'broken', toolDescription: 'fails' })],
      });
      const result = await new Runner().run(orchestrator, 'go');
      expect(result.finalOutput).toBe('done anyway');

      const spans = pipeline.agentSpans();
      const failed = spans.find((span) => span.name === 'invoke_agent Broken')!;
      expect(failed.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('error');
      expect(failed.attributes[ATTR_ERROR_TYPE]).toBe('Error');
      expect(spans.find((span) => span.name === 'invoke_agent Orchestrator')!.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'error' })).toBe(1);
      // The SDK gives the parent model a generic error; the orchestrator's tool call failed with the subagent's.
      await expectToolCalls(pipeline, { 'Orchestrator broken': 1, 'Orchestrator broken Error': 1 });
    });

    it('ends the runs as aborted, not failed, when the app cancels the run while a subagent works', async () => {
      const controller = new AbortController();
      // The subagent's model cancels the app's run, then waits for the cancellation to reach it.
      const cancelling: Model = {
        getResponse: (request) => {
          controller.abort();
          return new Promise((_, reject) => {
            const signal = request.signal;
            if (signal?.aborted) reject(signal.reason);
            signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
          });
        },
        getStreamedResponse: () => {
          throw new Error('not used');
        },
      };
      const slow = new Agent({ name: 'Slow', instructions: 'work', model: cancelling });
      const orchestrator = new Agent({
        name: 'Orchestrator',
        instructions: 'delegate',
        model: new ScriptedModel([call([['slow', 'c1']], 10, 2), say('never', 1, 1)]),
        tools: [slow.asTool({ toolName: 'slow', toolDescription: 'slow work' })],
      });
      await expect(run(orchestrator, 'go', { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });

      const outcomes = pipeline
        .agentSpans()
        .map((span) => `${String(span.attributes[ATTR_GEN_AI_AGENT_NAME])}:${String(span.attributes[ATTR_SUBAGENT_OUTCOME])}`);
      expect(outcomes.sort()).toEqual(['Orchestrator:aborted', 'Slow:aborted']);
      expect(pipeline.agentmeter.totals().active).toBe(0);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'aborted' })).toBe(2);
    });

    it('ends a run its guardrail admitted when a later guardrail rejects the call, leaving nothing active', async () => {
      const helperModel = new ScriptedModel([say('never', 1, 1)]);
      const helper = new Agent({ name: 'Helper', instructions: 'help', model: helperModel });
      const helperTool = helper.asTool({ toolName: 'helper', toolDescription: 'helps' });
      // The app's own policy runs after agentmetry's guardrail and refuses the call.
      helperTool.inputGuardrails!.push(
        defineToolInputGuardrail({ name: 'policy', run: async () => ({ behavior: { type: 'rejectContent', message: 'not allowed' } }) }),
      );
      const orchestratorModel = new ScriptedModel([call([['helper', 'c1']], 10, 2), say('done without help', 20, 4)]);
      const orchestrator = new Agent({ name: 'Orchestrator', instructions: 'delegate', model: orchestratorModel, tools: [helperTool] });
      const result = await run(orchestrator, 'go');
      expect(result.finalOutput).toBe('done without help');
      expect(helperModel.calls).toHaveLength(0);
      expect(JSON.stringify(orchestratorModel.calls[1]!.request.input)).toContain('not allowed');

      // The admitted run is released once the tool call is over without an invocation.
      await new Promise((resolve) => setImmediate(resolve));
      expect(pipeline.agentmeter.totals().active).toBe(0);
      const helperSpan = pipeline.agentSpans().find((span) => span.name === 'invoke_agent Helper')!;
      expect(helperSpan.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('aborted');
      expect(helperSpan.attributes[ATTR_SUBAGENT_TURNS]).toBe(0);
    });

    it('runs agents unrecorded, instead of failing them, when the spec option is invalid', async () => {
      uninstall();
      uninstall = instrumentOpenAIAgents(pipeline.agentmeter, { spec: () => ({ timeoutMs: -1 }) });
      const helperModel = new ScriptedModel([say('a fact', 7, 3)]);
      const helper = new Agent({ name: 'Helper', instructions: 'help', model: helperModel });
      const orchestrator = new Agent({
        name: 'Orchestrator',
        instructions: 'delegate',
        model: new ScriptedModel([call([['helper', 'c1']], 10, 2), say('done', 20, 4)]),
        tools: [helper.asTool({ toolName: 'helper', toolDescription: 'helps' })],
      });
      const result = await run(orchestrator, 'go');
      expect(result.finalOutput).toBe('done');
      expect(helperModel.calls).toHaveLength(1);
      expect(pipeline.agentSpans()).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });

    it('keeps a handoff inside one run', async () => {
      const billing = new Agent({ name: 'Billing', instructions: 'bill', model: new ScriptedModel([say('refunded', 5, 5)]) });
      const triageModel = new ScriptedModel([modelResponse({ output: [functionCall('transfer_to_Billing', {}, { callId: 'x1' })], usage: usage(3, 1) })]);
      const triage = new Agent({ name: 'Triage', instructions: 'route', model: triageModel, handoffs: [billing] });
      const result = await run(triage, 'refund please');
      expect(result.finalOutput).toBe('refunded');
      const spans = pipeline.agentSpans();
      expect(spans.map((span) => span.name)).toEqual(['invoke_agent Triage']);
      expect(spans[0]!.attributes[ATTR_SUBAGENT_TURNS]).toBe(2);
      expect(spans[0]!.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(8);
    });

    it('warns when a second install would record every run twice, and not once the first is removed', async () => {
      const logged = captureDiag();
      const doubled = () => logged.messages.filter((message) => message.includes('the OpenAI Agents SDK is already instrumented'));
      try {
        const second = instrumentOpenAIAgents(pipeline.agentmeter);
        second();
        expect(doubled()).toHaveLength(1);
        uninstall();
        uninstall = instrumentOpenAIAgents(pipeline.agentmeter);
        expect(doubled()).toHaveLength(1);
      } finally {
        logged.stop();
      }
    });

    it('stops recording after uninstall', async () => {
      uninstall();
      const agent = new Agent({ name: 'Solo', instructions: 'x', model: new ScriptedModel([say('x', 1, 1)]) });
      await run(agent, 'x');
      expect(pipeline.agentSpans()).toHaveLength(0);
      await expectToolCalls(pipeline, {});
    });
  });

  describe('with a quota', () => {
    beforeEach(() => {
      // The orchestrator and two subagents fit; the third subagent does not.
      pipeline = createAdapterPipeline({ quota: { limits: { maxExecutions: 3 } } });
      uninstall = instrumentOpenAIAgents(pipeline.agentmeter);
    });

    it('denies the third subagent through its tool input guardrail; the parent completes and its model sees the denial', async () => {
      const researcher = (name: string) => {
        const model = new ScriptedModel([say(`${name} findings`, 10, 5)]);
        return { model, agent: new Agent({ name, instructions: 'research', model }) };
      };
      const alpha = researcher('Alpha');
      const beta = researcher('Beta');
      const gamma = researcher('Gamma');
      const orchestratorModel = new ScriptedModel([
        call([['alpha', 'c1']], 10, 1),
        call([['beta', 'c2']], 20, 1),
        call([['gamma', 'c3']], 30, 1),
        say('report from two of three', 40, 9),
      ]);
      const orchestrator = new Agent({
        name: 'Orchestrator',
        instructions: 'delegate',
        model: orchestratorModel,
        tools: [alpha, beta, gamma].map(({ agent }) => agent.asTool({ toolName: agent.name.toLowerCase(), toolDescription: 'research' })),
      });

      const result = await run(orchestrator, 'go');
      expect(result.finalOutput).toBe('report from two of three');
      expect([alpha.model.calls.length, beta.model.calls.length, gamma.model.calls.length]).toEqual([1, 1, 0]);
      const rejection = result.toolInputGuardrailResults.find((entry) => entry.output.behavior.type === 'rejectContent');
      expect(rejection?.guardrail.name).toBe('agentmeter.quota');
      expect(rejection?.output.outputInfo).toMatchObject({ resource: 'executions', limit: 3 });
      // The orchestrator's model received the denial as the output of its third tool call.
      expect(JSON.stringify(orchestratorModel.calls[3]!.request.input)).toContain('Quota exceeded: executions');

      const spans = pipeline.agentSpans();
      const outcome = (name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!.attributes[ATTR_SUBAGENT_OUTCOME];
      expect([outcome('Orchestrator'), outcome('Alpha'), outcome('Beta'), outcome('Gamma')]).toEqual(['ok', 'ok', 'ok', 'denied']);
      expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'denied' })).toBe(1);
      expect(pipeline.agentmeter.quota!.snapshot().executions.used).toBe(3);
      // The refused call is a tool call of the orchestrator that failed with the refusal.
      await expectToolCalls(pipeline, { 'Orchestrator alpha': 1, 'Orchestrator beta': 1, 'Orchestrator gamma': 1, 'Orchestrator gamma QuotaExceededError': 1 });
    });

    // Quota settings given to the adapter instead of the AgentMeter were ignored in silence.
    it('refuses, when installed, an option that belongs to the AgentMeter and an option of the wrong type', () => {
      expect(() => instrumentOpenAIAgents(pipeline.agentmeter, { maxTokens: 100 } as never)).toThrow(
        new TypeError(
          'agentmetry: instrumentOpenAIAgents options.maxTokens is not a known option (expected one of topLevel, name, spec, costUsd, denialMessage); quotas are set on the AgentMeter (new AgentMeter({ quota })), and a per-call budget or estimate is returned by options.spec',
        ),
      );
      expect(() => instrumentOpenAIAgents(pipeline.agentmeter, { spec: { budget: { maxTokens: 100 } } } as never)).toThrow(
        new TypeError('agentmetry: instrumentOpenAIAgents options.spec must be a function, got an object'),
      );
    });

    // It ran unrecorded, so outside every budget, with nothing printed.
    it('refuses a subagent, and fails a top-level run, whose spec option gives an invalid budget, instead of running them unbudgeted', async () => {
      uninstall();
      uninstall = instrumentOpenAIAgents(pipeline.agentmeter, { spec: (info) => (info.toolName === undefined ? {} : { budget: { maxCostUsd: -5 } }) });
      const message = 'agentmetry: options.spec(info).budget.maxCostUsd must be a non-negative finite number, got -5';
      const helperModel = new ScriptedModel([say('a fact', 7, 3)]);
      const helper = new Agent({ name: 'Helper', instructions: 'help', model: helperModel });
      const orchestratorModel = new ScriptedModel([call([['helper', 'c1']], 10, 2), say('done', 20, 4)]);
      const orchestrator = new Agent({
        name: 'Orchestrator',
        instructions: 'delegate',
        model: orchestratorModel,
        tools: [helper.asTool({ toolName: 'helper', toolDescription: 'helps' })],
      });
      const result = await run(orchestrator, 'go');
      expect(result.finalOutput).toBe('done');
      expect(helperModel.calls).toHaveLength(0);
      expect(JSON.stringify(orchestratorModel.calls[1]!.request.input)).toContain(message);

      uninstall();
      uninstall = instrumentOpenAIAgents(pipeline.agentmeter, { spec: () => ({ budget: { maxCostUsd: -5 } }) });
      const soloModel = new ScriptedModel([say('unbudgeted', 1, 1)]);
      await expect(run(new Agent({ name: 'Solo', instructions: 'x', model: soloModel }), 'x')).rejects.toThrow(message);
      expect(soloModel.calls).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(pipeline.agentmeter.totals().active).toBe(0);
    });
  });
});
