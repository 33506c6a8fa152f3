// What agentmetry/mastra adds to one Mastra call: agent.generate of an orchestrator that delegates
// once to a second agent (its `agents`, the agent-<key> tool), on the AI SDK's MockLanguageModelV4
// (offline), with the adapter installed against the same call without it (Mastra's observability
// not configured on both sides, its default). A and B rounds alternate in one process.
// Usage: node bench/adapters/mastra.mjs [--quick]   (imports the built package: npm run build first)
// Prints one JSON line: {"framework", "call", "baselineUsPerCall", "adapterUsPerCall", "ratio", "note"}.
import { instrumentMastra } from '../../dist/adapters/mastra/index.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Agent } from '@mastra/core/agent';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { MockLanguageModelV4 } from 'ai/test';
import { AgentMeter } from '../../dist/index.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 15;
const CALLS = quick ? 50 : 60;

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

const usage = { inputTokens: { total: 20, noCache: 20, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };
const say = (text) => ({ content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] });
const delegate = {
  content: [{ type: 'tool-call', toolCallId: 'call_1', toolName: 'agent-helper', input: JSON.stringify({ prompt: 'look it up' }) }],
  finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
  usage,
  warnings: [],
};

/** The framework call: an orchestrator that delegates to the helper agent, then answers. */
function createCall() {
  let orchestratorCalls = 0;
  const helper = new Agent({
    id: 'helper',
    name: 'helper',
    description: 'facts',
    instructions: 'h',
    model: new MockLanguageModelV4({ doGenerate: async () => say('a fact') }),
  });
  const orchestrator = new Agent({
    id: 'orchestrator',
    name: 'orchestrator',
    instructions: 'o',
    model: new MockLanguageModelV4({ doGenerate: async () => (orchestratorCalls++ % 2 === 0 ? delegate : say('report')) }),
    agents: { helper },
  });
  return async () => {
    const result = await orchestrator.generate('go', { maxSteps: 3 });
    if (result.text !== 'report') throw new Error(`unexpected output ${result.text}`);
  };
}

const sides = {
  async baseline(calls) {
    const call = createCall();
    const start = process.hrtime.bigint();
    for (let index = 0; index < calls; index++) await call();
    return process.hrtime.bigint() - start;
  },
  async adapter(calls) {
    const { agentmeter, reader } = createAgentMeter();
    const uninstall = instrumentMastra(agentmeter);
    const call = createCall();
    const start = process.hrtime.bigint();
    for (let index = 0; index < calls; index++) await call();
    const elapsed = process.hrtime.bigint() - start;
    uninstall();
    await reader.collect();
    // Every call was recorded: the orchestrator's run and its delegated agent's.
    const recorded = agentmeter.totals().executions.ok;
    if (recorded !== 2 * calls) throw new Error(`the adapter recorded ${recorded} runs for ${calls} calls, expected ${2 * calls}`);
    return elapsed;
  },
};
const SIDES = ['baseline', 'adapter'];

/** Alternates the sides round by round (A B, B A, ...) after a warm-up of each; returns the total time of each. */
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
    framework: `Mastra ${frameworkVersion('@mastra/core')} (@mastra/core)`,
    call: 'agent.generate of an orchestrator that delegates once to a second agent (agent-<key> tool), MockLanguageModelV4',
    baselineUsPerCall: Number(baselineUsPerCall.toFixed(1)),
    adapterUsPerCall: Number(adapterUsPerCall.toFixed(1)),
    ratio: Number((adapterUsPerCall / baselineUsPerCall).toFixed(3)),
    note: `${ROUNDS} alternating rounds of ${CALLS} calls per side; Mastra's observability not configured on either side (its default)`,
  }),
);
