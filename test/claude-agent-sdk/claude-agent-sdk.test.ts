import { spawn } from 'node:child_process';
import * as sdk from '@anthropic-ai/claude-agent-sdk';
import { propagation } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { QuotaExceededError } from '../../src/index.js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { createSubagentHooks, instrumentClaudeAgentSdk } from '../../src/adapters/claude-agent-sdk/index.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_SUBAGENT_COST,
  ATTR_SUBAGENT_DEPTH,
  ATTR_SUBAGENT_OUTCOME,
  ATTR_SUBAGENT_TURNS,
  METRIC_EXECUTIONS,
  METRIC_TOKENS,
} from '../../src/semconv.js';
import { createAdapterPipeline, parentOf, rendezvous } from '../adapters/pipeline.js';
import { expectToolCalls } from '../adapters/tool-calls.js';
import { startFakeAnthropic, type Answer, type FakeAnthropic, type MessagesRequest } from './fake-anthropic.js';
import { agent, agentCall, drain, offlineOptions, reportedTokens, text } from './harness.js';

const AGENTS = {
  deep: agent('AGENT_DEEP', ['Agent']),
  wide: agent('AGENT_WIDE'),
  helper: agent('AGENT_HELPER'),
  broken: agent('AGENT_BROKEN'),
  reader: agent('AGENT_READER', ['Glob']),
};

const usage = (input: number, output: number) => ({ input_tokens: input, output_tokens: output });
const tokens = (span: ReadableSpan) => [span.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS], span.attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]];

/**
 * The scripted models: the orchestrator spawns `deep` and `wide` in parallel (or what `spawn`
 * says), `deep` spawns `helper` and then answers, the others answer at once.
 */
function scenario(options: { spawn?: Answer; beforeSubagents?: (request: MessagesRequest) => Promise<void> } = {}) {
  return async (request: MessagesRequest): Promise<Answer> => {
    const answered = request.toolResults.length;
    if (request.system.includes('AGENT_HELPER')) return { content: [text('helper fact')], usage: usage(7, 3) };
    if (request.system.includes('AGENT_DEEP')) {
      if (answered > 0) return { content: [text('deep findings')], usage: usage(60, 20) };
      await options.beforeSubagents?.(request);
      return { content: [agentCall('toolu_helper', 'helper')], usage: usage(40, 8) };
    }
    if (request.system.includes('AGENT_WIDE')) {
      await options.beforeSubagents?.(request);
      return { content: [text('wide findings')], usage: usage(30, 12) };
    }
    if (request.system.includes('AGENT_BROKEN')) return { status: 400, error: 'broken on purpose' };
    if (request.tools.includes('Agent')) {
      if (answered > 0) return { content: [text('report')], usage: usage(200, 50) };
      return options.spawn ?? { content: [agentCall('toolu_deep', 'deep'), agentCall('toolu_wide', 'wide')], usage: usage(100, 20) };
    }
    return { content: [text('ok')], usage: usage(1, 1) };
  };
}

describe('instrumentClaudeAgentSdk, against the real Claude Code CLI and a fake Messages API', () => {
  let pipeline: ReturnType<typeof createAdapterPipeline>;
  let fake: FakeAnthropic;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    await fake.close();
    await pipeline.shutdown();
  });

  const setUp = async (answer: (request: MessagesRequest) => Promise<Answer>, quota?: Parameters<typeof createAdapterPipeline>[0]) => {
    pipeline = createAdapterPipeline(quota);
    fake = await startFakeAnthropic(answer);
    const offline = offlineOptions(fake.url, { agents: AGENTS });
    cleanups.push(offline.cleanup);
    return offline.options;
  };
  const byName = (spans: ReadableSpan[], name: string) => spans.find((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] === name)!;

  it('records the query and its subagents as nested runs, two in parallel and one deeper, with the usage the SDK reports', async () => {
    // The two subagents' runs are open at the same time: neither model answers until both asked.
    const together = rendezvous(2);
    const options = await setUp(scenario({ beforeSubagents: () => together.arrive() }));
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);

    // The CLI is spawned inside the query's run: the SDK hands it that trace context.
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    let traceparent: string | undefined;
    const spawnClaudeCodeProcess: sdk.Options['spawnClaudeCodeProcess'] = ({ command, args, cwd, env, signal }) => {
      traceparent = env.TRACEPARENT;
      return spawn(command, args, { cwd, env, signal, stdio: ['pipe', 'pipe', 'pipe'] });
    };

    const { result } = await drain(query({ prompt: 'write a report', options: { ...options, spawnClaudeCodeProcess } }));
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });

    const spans = pipeline.agentSpans();
    expect(spans.map((span) => span.name).sort()).toEqual(['invoke_agent claude-agent', 'invoke_agent deep', 'invoke_agent helper', 'invoke_agent wide']);
    const [top, deep, wide, helper] = ['claude-agent', 'deep', 'wide', 'helper'].map((name) => byName(spans, name));
    expect(top!.parentSpanContext).toBeUndefined();
    expect(traceparent).toBe(`00-${top!.spanContext().traceId}-${top!.spanContext().spanId}-01`);
    expect(parentOf(deep!, spans)).toBe(top);
    expect(parentOf(wide!, spans)).toBe(top);
    expect(parentOf(helper!, spans)).toBe(deep);
    expect(spans.map((span) => [span.attributes[ATTR_GEN_AI_AGENT_NAME], span.attributes[ATTR_SUBAGENT_DEPTH]]).sort()).toEqual([
      ['claude-agent', 0],
      ['deep', 1],
      ['helper', 2],
      ['wide', 1],
    ]);
    for (const span of spans) expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
    // Turns are model responses: each agent's own, as the fake answered them.
    expect([top, deep, wide, helper].map((span) => span!.attributes[ATTR_SUBAGENT_TURNS])).toEqual([2, 2, 1, 1]);

    // Input tokens are each run's own. Output tokens of a subagent are those of its last response
    // (the SDK reports no other per subagent); the rest of the query's usage is the query run's.
    expect(tokens(wide!)).toEqual([30, 12]);
    expect(tokens(helper!)).toEqual([7, 3]);
    expect(tokens(deep!)).toEqual([100, 20]);
    expect(tokens(top!)).toEqual([300, 78]);
    // Together they equal the query's usage as the SDK reports it, subagents included.
    const reported = reportedTokens(result);
    expect(reported).toEqual({ input: 437, output: 113 });
    expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'input' })).sum).toBe(reported.input);
    expect((await pipeline.histogram(METRIC_TOKENS, { 'gen_ai.token.type': 'output' })).sum).toBe(reported.output);
    // Without a costUsd option, the query's cost is the SDK's.
    expect(top!.attributes[ATTR_SUBAGENT_COST]).toBeCloseTo(result.total_cost_usd, 9);
    expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'ok' })).toBe(4);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    // Each run's tool calls are its own: an Agent tool call is the spawning run's.
    await expectToolCalls(pipeline, { 'claude-agent Agent': 2, 'deep Agent': 1 });
  });

  it('records every tool call on the run that made it, a failed one included', async () => {
    const options = await setUp(async (request) => {
      const answered = request.toolResults.length;
      if (request.system.includes('AGENT_READER')) {
        if (answered > 0) return { content: [text('listed')], usage: usage(5, 1) };
        return { content: [{ type: 'tool_use', id: 'toolu_glob_sub', name: 'Glob', input: { pattern: '*.md' } }], usage: usage(4, 1) };
      }
      if (answered > 0) return { content: [text('report')], usage: usage(20, 5) };
      return {
        content: [
          { type: 'tool_use', id: 'toolu_glob', name: 'Glob', input: { pattern: '*.txt' } },
          { type: 'tool_use', id: 'toolu_read', name: 'Read', input: { file_path: '/nonexistent/agentmetry/missing.txt' } },
          agentCall('toolu_reader', 'reader'),
        ],
        usage: usage(10, 2),
      };
    });
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);
    const { result } = await drain(query({ prompt: 'go', options: { ...options, allowedTools: ['Agent', 'Glob', 'Read'] } }));
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });
    const orchestrator = fake.requests.filter(({ request }) => !request.system.includes('AGENT_')).at(-1)!.request;
    expect(orchestrator.toolResults.find((entry) => entry.id === 'toolu_read')).toMatchObject({ isError: true });
    // The CLI reports a failure as a message: its error.type is _OTHER.
    await expectToolCalls(pipeline, {
      'claude-agent Glob': 1,
      'claude-agent Read': 1,
      'claude-agent Read _OTHER': 1,
      'claude-agent Agent': 1,
      'reader Glob': 1,
    });
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  // Hooks run as the CLI asks, messages as the app reads them: a slow reader must not move tokens between runs.
  it('splits the usage the same when the app reads the messages slowly', async () => {
    const options = await setUp(scenario());
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);
    let result: sdk.SDKResultMessage | undefined;
    for await (const message of query({ prompt: 'go', options })) {
      if (message.type === 'result') result = message;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const spans = pipeline.agentSpans();
    expect(['claude-agent', 'deep', 'wide', 'helper'].map((name) => tokens(byName(spans, name)))).toEqual([
      [300, 78],
      [100, 20],
      [30, 12],
      [7, 3],
    ]);
    expect(reportedTokens(result!)).toEqual({ input: 437, output: 113 });
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  // Each result carries the session's totals so far: the second one's cost was recorded whole again.
  it('records a session fed prompt by prompt once: its tokens and cost are the last result totals', async () => {
    pipeline = createAdapterPipeline();
    let answers = 0;
    fake = await startFakeAnthropic(async () => {
      answers += 1;
      return { content: [text(`answer ${answers}`)], usage: usage(10 * answers, answers) };
    });
    const offline = offlineOptions(fake.url);
    cleanups.push(offline.cleanup);
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);
    let second!: () => void;
    const firstAnswered = new Promise<void>((resolve) => (second = resolve));
    async function* prompts() {
      yield { type: 'user' as const, message: { role: 'user' as const, content: 'one' }, parent_tool_use_id: null };
      await firstAnswered;
      yield { type: 'user' as const, message: { role: 'user' as const, content: 'two' }, parent_tool_use_id: null };
    }
    const results: sdk.SDKResultMessage[] = [];
    const running = query({ prompt: prompts(), options: offline.options });
    for await (const message of running) {
      if (message.type !== 'result') continue;
      results.push(message);
      if (results.length === 1) second();
      else break;
    }
    expect(results).toHaveLength(2);
    const top = byName(pipeline.agentSpans(), 'claude-agent');
    expect(tokens(top)).toEqual([30, 3]);
    expect(reportedTokens(results[1]!)).toEqual({ input: 30, output: 3 });
    expect(top.attributes[ATTR_SUBAGENT_COST]).toBeCloseTo(results[1]!.total_cost_usd, 9);
    expect(top.attributes[ATTR_SUBAGENT_TURNS]).toBe(2);
  });

  it('records a failing subagent as an error; the parent model gets the failure and the query completes', async () => {
    const options = await setUp(scenario({ spawn: { content: [agentCall('toolu_broken', 'broken')], usage: usage(10, 2) } }));
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);

    const { result } = await drain(query({ prompt: 'go', options }));
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });
    const spans = pipeline.agentSpans();
    expect(byName(spans, 'broken').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('error');
    expect(byName(spans, 'broken').attributes[ATTR_ERROR_TYPE]).toBe('SubagentError');
    expect(byName(spans, 'claude-agent').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
    const orchestrator = fake.requests.filter(({ request }) => request.tools.includes('Agent') && !request.system.includes('AGENT_'));
    expect(orchestrator.at(-1)!.request.toolResults).toMatchObject([{ id: 'toolu_broken', isError: true }]);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    await expectToolCalls(pipeline, { 'claude-agent Agent': 1, 'claude-agent Agent SubagentError': 1 });
  });

  it('refuses a subagent over quota with a PreToolUse deny: it never starts, its parent model gets the refusal, the query completes', async () => {
    // The query, deep and wide fit; helper, spawned by deep, does not.
    const options = await setUp(scenario(), { quota: { limits: { maxExecutions: 3 } } });
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);

    const { result } = await drain(query({ prompt: 'go', options }));
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });
    expect(fake.requests.filter(({ request }) => request.system.includes('AGENT_HELPER'))).toHaveLength(0);
    const deepLast = fake.requests.filter(({ request }) => request.system.includes('AGENT_DEEP')).at(-1)!.request;
    expect(deepLast.toolResults).toMatchObject([{ id: 'toolu_helper', isError: true }]);
    expect(deepLast.toolResults[0]!.text).toContain('Quota exceeded: executions');
    expect(result.permission_denials).toMatchObject([{ tool_use_id: 'toolu_helper' }]);

    const spans = pipeline.agentSpans();
    expect(byName(spans, 'helper').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('denied');
    expect(['claude-agent', 'deep', 'wide'].map((name) => byName(spans, name).attributes[ATTR_SUBAGENT_OUTCOME])).toEqual(['ok', 'ok', 'ok']);
    expect(await pipeline.sum(METRIC_EXECUTIONS, { [ATTR_SUBAGENT_OUTCOME]: 'denied' })).toBe(1);
    expect(pipeline.agentmeter.quota!.snapshot().executions.used).toBe(3);
    expect(pipeline.agentmeter.totals().active).toBe(0);
    // The refused Agent tool call is deep's, failed with the refusal.
    await expectToolCalls(pipeline, { 'claude-agent Agent': 2, 'deep Agent': 1, 'deep Agent QuotaExceededError': 1 });
  });

  it('stops a subagent that a quota stops mid-run through the SDK, and the query still ends with its result', async () => {
    // Budgets are enforced by the AgentMeter's quota.
    const options = await setUp(scenario(), { quota: { limits: { maxExecutions: 100 } } });
    // deep may use 30 tokens: its first response (40 input tokens) crosses it.
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk, {
      spec: (info) => (info.subagentType === 'deep' ? { budget: { maxTokens: 30 } } : undefined),
    });
    cleanups.push(uninstall);

    const { result } = await drain(query({ prompt: 'go', options }));
    expect(result.type).toBe('result');
    const spans = pipeline.agentSpans();
    expect(byName(spans, 'deep').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('incomplete');
    // Stopped after its first response: no second one, and the helper it asked for never reached its model.
    expect(fake.requests.filter(({ request }) => request.system.includes('AGENT_DEEP'))).toHaveLength(1);
    expect(fake.requests.filter(({ request }) => request.system.includes('AGENT_HELPER'))).toHaveLength(0);
    expect(byName(spans, 'claude-agent').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('interrupts a query that a quota stops, and the query still ends with its result', async () => {
    // The orchestrator spawns wide, then wide again in its second turn, one past the limit.
    const options = await setUp(
      async (request) => {
        if (!request.tools.includes('Agent') || request.system.includes('AGENT_')) return scenario()(request);
        const answered = request.toolResults.length;
        if (answered < 2) return { content: [agentCall(`toolu_wide${answered + 1}`, 'wide')], usage: usage(100, 20) };
        return { content: [text('report')], usage: usage(200, 50) };
      },
      { quota: { limits: { maxTurnsPerRun: 1 } } },
    );
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);

    const messages: sdk.SDKMessage[] = [];
    const ended = await (async () => {
      for await (const message of query({ prompt: 'go', options })) messages.push(message);
    })().catch((error: unknown) => error);
    // The SDK ends an interrupted query with an error result, then throws, as for any error result.
    expect(messages.at(-1)).toMatchObject({ type: 'result', subtype: 'error_during_execution' });
    expect(String(ended)).toContain('Claude Code returned an error result');
    // Interrupted in its second turn: the second wide never reached its model, and no third turn followed.
    const orchestrator = fake.requests.filter(({ request }) => request.tools.includes('Agent') && !request.system.includes('AGENT_'));
    expect(orchestrator).toHaveLength(2);
    expect(fake.requests.filter(({ request }) => request.system.includes('AGENT_WIDE'))).toHaveLength(1);
    const spans = pipeline.agentSpans();
    expect(byName(spans, 'claude-agent').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('incomplete');
    expect(byName(spans, 'claude-agent').attributes[ATTR_ERROR_TYPE]).toBe('quota_exceeded');
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('closes background subagents with their task notification', async () => {
    pipeline = createAdapterPipeline();
    fake = await startFakeAnthropic(scenario({ spawn: { content: [agentCall('toolu_wide', 'wide', { run_in_background: true })], usage: usage(100, 20) } }));
    const offline = offlineOptions(fake.url, { agents: AGENTS, background: true });
    cleanups.push(offline.cleanup);
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);

    const { messages } = await drain(query({ prompt: 'go', options: offline.options }));
    expect(messages).toContainEqual(expect.objectContaining({ subtype: 'task_notification', tool_use_id: 'toolu_wide', status: 'completed' }));
    const wide = byName(pipeline.agentSpans(), 'wide');
    expect(wide.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('ok');
    expect(wide.attributes[ATTR_SUBAGENT_TURNS]).toBe(1);
    expect(wide.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]).toBe(30);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('ends the runs as aborted when the app interrupts the query while a subagent works', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let subagentAsked!: () => void;
    const asked = new Promise<void>((resolve) => (subagentAsked = resolve));
    const options = await setUp(
      scenario({
        spawn: { content: [agentCall('toolu_wide', 'wide')], usage: usage(100, 20) },
        beforeSubagents: () => {
          subagentAsked();
          return released;
        },
      }),
    );
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);

    const running = query({ prompt: 'go', options });
    const drained = drain(running).catch((error: unknown) => error);
    await asked;
    await running.interrupt();
    release();
    await drained;
    const outcomes = pipeline
      .agentSpans()
      .map((span) => `${String(span.attributes[ATTR_GEN_AI_AGENT_NAME])}:${String(span.attributes[ATTR_SUBAGENT_OUTCOME])}`);
    expect(outcomes.sort()).toEqual(['claude-agent:aborted', 'wide:aborted']);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('refuses a query over quota before the CLI starts: its iteration throws the QuotaExceededError', async () => {
    const options = await setUp(scenario(), { quota: { limits: { maxExecutions: 1 } } });
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);
    await pipeline.agentmeter.run('earlier', () => 'the only execution');

    const refused = await drain(query({ prompt: 'go', options })).catch((error: unknown) => error);
    expect(QuotaExceededError.isInstance(refused)).toBe(true);
    expect(fake.requests).toHaveLength(0);
    expect(byName(pipeline.agentSpans(), 'claude-agent').attributes[ATTR_SUBAGENT_OUTCOME]).toBe('denied');
  });

  it('runs the query unrecorded when the AgentMeter fails: the app gets its result all the same', async () => {
    const options = await setUp(scenario());
    const broken = {
      run: () => {
        throw new Error('broken meter');
      },
    };
    const { query, uninstall } = instrumentClaudeAgentSdk(broken, sdk);
    cleanups.push(uninstall);
    const { result } = await drain(query({ prompt: 'go', options }));
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });
    expect(fake.requests.filter(({ request }) => request.system.includes('AGENT_HELPER'))).toHaveLength(1);
  });

  // The query forwarded every property to the SDK's, `then` included: awaiting it rejected.
  it('returns a query that an async function can return: it is no thenable', async () => {
    const options = await setUp(scenario());
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    cleanups.push(uninstall);
    const start = async () => query({ prompt: 'go', options });
    const { result } = await drain(await start());
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });
    expect(pipeline.agentSpans()).toHaveLength(4);
  });

  it('stops recording after uninstall: the query runs as the SDK own', async () => {
    const options = await setUp(scenario());
    const { query, uninstall } = instrumentClaudeAgentSdk(pipeline.agentmeter, sdk);
    uninstall();
    const { result } = await drain(query({ prompt: 'go', options }));
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });
    expect(pipeline.agentSpans()).toHaveLength(0);
    await expectToolCalls(pipeline, {});
  });

  it('createSubagentHooks, spread into options.hooks of the SDK own query, records nested subagents and denies over quota', async () => {
    const options = await setUp(scenario(), { quota: { limits: { maxExecutions: 2 } } });
    const appHook = { hooks: [async () => ({})] };
    const { result } = await drain(
      sdk.query({ prompt: 'go', options: { ...options, hooks: { ...createSubagentHooks(pipeline.agentmeter), Stop: [appHook] } } }),
    );
    expect(result).toMatchObject({ subtype: 'success', result: 'report' });
    const spans = pipeline.agentSpans();
    // No query run: deep and wide fit in two executions, helper does not.
    expect(spans.map((span) => `${String(span.attributes[ATTR_GEN_AI_AGENT_NAME])}:${String(span.attributes[ATTR_SUBAGENT_OUTCOME])}`).sort()).toEqual([
      'deep:ok',
      'helper:denied',
      'wide:ok',
    ]);
    expect(byName(spans, 'deep').attributes[ATTR_SUBAGENT_DEPTH]).toBe(0);
    // Hooks alone see a subagent's last response only.
    expect(tokens(byName(spans, 'wide'))).toEqual([30, 12]);
    expect(tokens(byName(spans, 'deep'))).toEqual([60, 20]);
    expect(pipeline.agentmeter.totals().active).toBe(0);
  });

  it('refuses options that belong to the AgentMeter, and an SDK without query', () => {
    pipeline = createAdapterPipeline();
    fake = { url: '', requests: [], close: async () => {} };
    expect(() => instrumentClaudeAgentSdk(pipeline.agentmeter, sdk, { maxTokens: 100 } as never)).toThrow(
      'agentmetry: instrumentClaudeAgentSdk options.maxTokens is not a known option (expected one of topLevel, name, spec, costUsd, denialMessage)',
    );
    expect(() => instrumentClaudeAgentSdk(pipeline.agentmeter, {} as never)).toThrow(
      "agentmetry: instrumentClaudeAgentSdk expects the Claude Agent SDK module as its second argument (import * as sdk from '@anthropic-ai/claude-agent-sdk'), got an object without a query function",
    );
    expect(() => createSubagentHooks(pipeline.agentmeter, { topLevel: false } as never)).toThrow(
      'agentmetry: createSubagentHooks options.topLevel is not a known option (expected one of name, spec, costUsd, denialMessage)',
    );
  });
});

describe('createSubagentHooks, called as the CLI calls them', () => {
  it('opens a run for an Agent or Task tool use only, whatever tool the matcher lets through', async () => {
    const pipeline = createAdapterPipeline();
    try {
      const hooks = createSubagentHooks(pipeline.agentmeter);
      const preToolUse = hooks.PreToolUse[0]!;
      // Every tool call reaches the hooks: each is recorded, those of Agent and Task also start a subagent.
      expect(preToolUse.matcher).toBeUndefined();
      const signal = new AbortController().signal;
      for (const [tool, id] of [
        ['TaskCreate', 'toolu_1'],
        ['Agent', 'toolu_2'],
        ['Task', 'toolu_3'],
      ] as const) {
        await preToolUse.hooks[0]!({ tool_name: tool, tool_use_id: id, tool_input: { subagent_type: 'researcher' } }, id, { signal });
      }
      expect(pipeline.agentmeter.totals().active).toBe(2);
      for (const id of ['toolu_2', 'toolu_3']) {
        await hooks.PostToolUse[0]!.hooks[0]!(
          { tool_name: 'Agent', tool_use_id: id, tool_response: { status: 'completed', usage: { input_tokens: 5, output_tokens: 1 } } },
          id,
          {
            signal,
          },
        );
      }
      expect(pipeline.agentmeter.totals().active).toBe(0);
      expect(pipeline.agentSpans().map((span) => [span.name, span.attributes[ATTR_SUBAGENT_TURNS], ...tokens(span)])).toEqual([
        ['invoke_agent researcher', 1, 5, 1],
        ['invoke_agent researcher', 1, 5, 1],
      ]);
    } finally {
      await pipeline.shutdown();
    }
  });

  it("records the main thread's tool calls on the app's active run, and a subagent's on the subagent's", async () => {
    const pipeline = createAdapterPipeline();
    try {
      const hooks = createSubagentHooks(pipeline.agentmeter);
      const signal = new AbortController().signal;
      const call = (event: 'PreToolUse' | 'PostToolUse' | 'PostToolUseFailure', input: Record<string, unknown>) =>
        hooks[event][0]!.hooks[0]!(input, input.tool_use_id as string, { signal });
      await pipeline.agentmeter.run('app', async () => {
        await call('PreToolUse', { tool_name: 'Read', tool_use_id: 'toolu_read' });
        await call('PostToolUseFailure', { tool_name: 'Read', tool_use_id: 'toolu_read', error: 'File does not exist.' });
        await call('PreToolUse', { tool_name: 'Agent', tool_use_id: 'toolu_agent', tool_input: { subagent_type: 'researcher' } });
        await hooks.SubagentStart[0]!.hooks[0]!({ agent_id: 'agent_1', agent_type: 'researcher' }, undefined, { signal });
        await call('PreToolUse', { tool_name: 'Grep', tool_use_id: 'toolu_grep', agent_id: 'agent_1' });
        await call('PostToolUse', { tool_name: 'Grep', tool_use_id: 'toolu_grep', agent_id: 'agent_1', tool_response: {} });
        await call('PreToolUse', { tool_name: 'Bash', tool_use_id: 'toolu_bash', agent_id: 'agent_1' });
        await call('PostToolUseFailure', { tool_name: 'Bash', tool_use_id: 'toolu_bash', agent_id: 'agent_1', error: 'interrupted', is_interrupt: true });
        await call('PostToolUse', { tool_name: 'Agent', tool_use_id: 'toolu_agent', tool_response: { status: 'completed' } });
      });
      await expectToolCalls(pipeline, {
        'app Read': 1,
        'app Read _OTHER': 1,
        'app Agent': 1,
        'researcher Grep': 1,
        'researcher Bash': 1,
        'researcher Bash AbortError': 1,
      });
      expect(pipeline.agentmeter.totals().active).toBe(0);
    } finally {
      await pipeline.shutdown();
    }
  });
});
