// What agentmetry/openai-agents adds to one OpenAI Agents SDK call: Runner.run of an orchestrator that
// calls one agent used as a tool (scripted models, offline), with the adapter installed against the
// same call with the SDK's own tracing off (and, as a third side, with that tracing on alone). The
// sides' rounds alternate in one process.
// Usage: node bench/adapters/openai-agents.mjs [--quick]   (imports the built package: npm run build first)
// Prints one JSON line: {"framework", "call", "baselineUsPerCall", "adapterUsPerCall", "ratio", "sdkTracingUsPerCall", "note"}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Agent, Runner, Usage, setTraceProcessors, setTracingDisabled } from '@openai/agents';
import { assistantMessage, functionCall } from '@openai/agents/testing';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AgentMeter } from '../../dist/index.js';
import { instrumentOpenAIAgents } from '../../dist/adapters/openai-agents/index.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 15;
const CALLS = quick ? 100 : 400;

class QuietReader extends MetricReader {
  async onShutdown() {}
  async onForceFlush() {}
}
const noopExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };

/** An AgentMeter as an app sets it up: an SDK tracer provider exporting nowhere, a meter provider with a reader. */
function createAgentMeter() {
  const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: noopExporter, maxQueueSize: 100_000 })] });
  const reader = new QuietReader();
  return { agentmeter: new AgentMeter({ tracerProvider, meterProvider: new MeterProvider({ readers: [reader] }) }), reader };
}

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
    const start = process.hrtime.bigint();
    for (let index = 0; index < calls; index++) await call();
    return process.hrtime.bigint() - start;
  },
  /** The adapter installed: it needs the SDK's tracing on (turns, tokens and tool calls come from it), with no exporter of the SDK's. */
  async adapter(calls) {
    setTracingDisabled(false);
    setTraceProcessors([]);
    const { agentmeter, reader } = createAgentMeter();
    const uninstall = instrumentOpenAIAgents(agentmeter);
    const call = createCall(false);
    const start = process.hrtime.bigint();
    for (let index = 0; index < calls; index++) await call();
    const elapsed = process.hrtime.bigint() - start;
    uninstall();
    await reader.collect();
    // Every call was recorded: the orchestrator's run and its subagent's.
    const recorded = agentmeter.totals().executions.ok;
    if (recorded !== 2 * calls) throw new Error(`the adapter recorded ${recorded} runs for ${calls} calls, expected ${2 * calls}`);
    return elapsed;
  },
  /** The SDK's own tracing on, without the adapter, feeding one processor that does nothing: the share of the adapter's cost that is the SDK's tracing. */
  async tracing(calls) {
    setTracingDisabled(false);
    setTraceProcessors([idleProcessor]);
    const call = createCall(false);
    const start = process.hrtime.bigint();
    for (let index = 0; index < calls; index++) await call();
    return process.hrtime.bigint() - start;
  },
};
const SIDES = ['baseline', 'adapter', 'tracing'];

/** Rotates the sides' order round by round after a warm-up of each; returns the total time of each. */
async function measure() {
  for (const side of SIDES) await sides[side](CALLS);
  const total = Object.fromEntries(SIDES.map((side) => [side, 0n]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let step = 0; step < SIDES.length; step++) {
      const side = SIDES[(round + step) % SIDES.length];
      total[side] += await sides[side](CALLS);
    }
  }
  return total;
}

function frameworkVersion(name) {
  const require = createRequire(import.meta.url);
  for (let directory = dirname(require.resolve(name)); directory !== dirname(directory); directory = dirname(directory)) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8'));
      if (manifest.name === name) return manifest.version;
    } catch {
      // not this directory
    }
  }
  return 'unknown';
}

const total = await measure();
const perCall = (nanos) => Number(nanos) / 1000 / (ROUNDS * CALLS);
const baselineUsPerCall = perCall(total.baseline);
const adapterUsPerCall = perCall(total.adapter);
console.log(
  JSON.stringify({
    framework: `OpenAI Agents SDK ${frameworkVersion('@openai/agents')}`,
    call: 'Runner.run: an orchestrator calling one agent tool (asTool), scripted models',
    baselineUsPerCall: Number(baselineUsPerCall.toFixed(1)),
    adapterUsPerCall: Number(adapterUsPerCall.toFixed(1)),
    ratio: Number((adapterUsPerCall / baselineUsPerCall).toFixed(3)),
    sdkTracingUsPerCall: Number(perCall(total.tracing).toFixed(1)),
    note: `${ROUNDS} rounds of ${CALLS} calls per side, the order rotating; the adapter needs the SDK's own tracing on (turns, tokens and tool calls come from it), so its side includes that tracing, measured alone (feeding a processor that does nothing) as sdkTracingUsPerCall`,
  }),
);
