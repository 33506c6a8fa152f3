// What agentmetry/openai-agents adds to one OpenAI Agents SDK call: Runner.run of an orchestrator that
// calls one agent used as a tool (scripted models, offline), with the adapter installed against the
// same call with the SDK's own tracing off (and, as a third side, with that tracing on alone). The
// sides' rounds alternate in one process.
// Usage: node bench/adapters/openai-agents.mjs [--quick]   (imports the built package: npm run build first)
// Prints one JSON line: {"framework", "call", "baselineUsPerCall", "adapterUsPerCall", "ratio", "sdkTracingUsPerCall", "note"}.
import { Agent, Runner, Usage, setTraceProcessors, setTracingDisabled } from '@openai/agents';
import { assistantMessage, functionCall } from '@openai/agents/testing';
import { instrumentOpenAIAgents } from '../../dist/adapters/openai-agents/index.js';
import { createAgentMeter, expectTwoRunsPerCall, frameworkVersion, measure, printResult, quick, timeCalls } from '../harness.mjs';

const ROUNDS = quick ? 5 : 15;
const CALLS = quick ? 100 : 400;

const idle = async () => {};
/** A trace processor that does nothing: with no processor at all, the SDK skips most of its tracing work. */
const idleProcessor = { onTraceStart: idle, onTraceEnd: idle, onSpanStart: idle, onSpanEnd: idle, shutdown: idle, forceFlush: idle };

const usage = () => new Usage({ requests: 1, input_tokens: 20, output_tokens: 5, total_tokens: 25 });
/** The orchestrator's model: calls the helper tool, then answers once the tool's result is in. */
const orchestratorModel = {
  async getResponse(request) {
    const answered = JSON.stringify(request.input).includes('function_call_result');
    return answered
      ? { output: [assistantMessage('report')], usage: usage() }
      : { output: [functionCall('helper', { input: 'look it up' }, { callId: 'call_1' })], usage: usage() };
  },
  getStreamedResponse() {
    throw new Error('not used');
  },
};
const helperModel = {
  async getResponse() {
    return { output: [assistantMessage('a fact')], usage: usage() };
  },
  getStreamedResponse() {
    throw new Error('not used');
  },
};

/** The framework call: agents are created per round, after an install, as an app creates them after start-up. */
function createCall(tracingDisabled) {
  const helper = new Agent({ name: 'Helper', instructions: 'look things up', model: helperModel });
  const orchestrator = new Agent({
    name: 'Orchestrator',
    instructions: 'delegate',
    model: orchestratorModel,
    tools: [helper.asTool({ toolName: 'helper', toolDescription: 'facts' })],
  });
  const runner = new Runner({ tracingDisabled });
  return async () => {
    const result = await runner.run(orchestrator, 'go');
    if (result.finalOutput !== 'report') throw new Error(`unexpected output ${String(result.finalOutput)}`);
  };
}

const sides = {
  /** The SDK's own tracing off: what the app runs without agentmetry. */
  async baseline(calls) {
    setTracingDisabled(true);
    const call = createCall(true);
    return timeCalls(call, calls);
  },
  /** The adapter installed: it needs the SDK's tracing on (turns, tokens and tool calls come from it), with no exporter of the SDK's. */
  async adapter(calls) {
    setTracingDisabled(false);
    setTraceProcessors([]);
    const { agentmeter, reader } = createAgentMeter();
    const uninstall = instrumentOpenAIAgents(agentmeter);
    const call = createCall(false);
    const elapsed = await timeCalls(call, calls);
    uninstall();
    // Every call was recorded: the orchestrator's run and its subagent's.
    await expectTwoRunsPerCall(agentmeter, reader, calls);
    return elapsed;
  },
  /** The SDK's own tracing on, without the adapter, feeding one processor that does nothing: the share of the adapter's cost that is the SDK's tracing. */
  async tracing(calls) {
    setTracingDisabled(false);
    setTraceProcessors([idleProcessor]);
    const call = createCall(false);
    return timeCalls(call, calls);
  },
};

const perCall = await measure(sides, { rounds: ROUNDS, calls: CALLS });
printResult({
  framework: `OpenAI Agents SDK ${frameworkVersion('@openai/agents')}`,
  call: 'Runner.run: an orchestrator calling one agent tool (asTool), scripted models',
  baselineUsPerCall: perCall.baseline,
  adapterUsPerCall: perCall.adapter,
  sdkTracingUsPerCall: Number(perCall.tracing.toFixed(1)),
  note: `${ROUNDS} rounds of ${CALLS} calls per side, the order rotating; the adapter needs the SDK's own tracing on (turns, tokens and tool calls come from it), so its side includes that tracing, measured alone (feeding a processor that does nothing) as sdkTracingUsPerCall`,
});
