// What agentmetry/langchain adds to one LangChain.js call: invoke of a createAgent orchestrator whose
// tool runs a second createAgent agent (fakeModel, offline), with the adapter installed against the
// same call without it (LangSmith tracing off on both sides). A and B rounds alternate in one process.
// Usage: node bench/adapters/langchain.mjs [--quick]   (imports the built package: npm run build first)
// Prints one JSON line: {"framework", "call", "baselineUsPerCall", "adapterUsPerCall", "ratio", "note"}.
// First, as agentmetry/register does: the adapter gives LangChain its process-wide storage before LangChain makes one.
import { instrumentLangChain } from '../../dist/adapters/langchain/index.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fakeModel } from '@langchain/core/testing';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AIMessage, createAgent, tool } from 'langchain';
import { z } from 'zod';
import { AgentMeter } from '../../dist/index.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 15;
const CALLS = quick ? 50 : 60;

// LangSmith's tracing (the framework's own telemetry) stays off on both sides.
delete process.env.LANGSMITH_TRACING;
delete process.env.LANGCHAIN_TRACING_V2;

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

const usage = { input_tokens: 20, output_tokens: 5, total_tokens: 25 };
const ask = (content) => ({ messages: [{ role: 'user', content }] });

/** The framework call: an orchestrator whose `helper` tool runs the helper agent. Each call queues its models' answers. */
function createCall() {
  const helperModel = fakeModel();
  const helper = createAgent({ name: 'helper', model: helperModel, tools: [] });
  const helperTool = tool(
    async ({ task }) => {
      const result = await helper.invoke(ask(task));
      return String(result.messages.at(-1).content);
    },
    { name: 'helper', description: 'facts', schema: z.object({ task: z.string() }) },
  );
  const orchestratorModel = fakeModel();
  const orchestrator = createAgent({ name: 'orchestrator', model: orchestratorModel, tools: [helperTool] });
  return async () => {
    orchestratorModel
      .respond(
        new AIMessage({ content: '', tool_calls: [{ name: 'helper', args: { task: 'look it up' }, id: 'call_1', type: 'tool_call' }], usage_metadata: usage }),
      )
      .respond(new AIMessage({ content: 'report', usage_metadata: usage }));
    helperModel.respond(new AIMessage({ content: 'a fact', usage_metadata: usage }));
    const result = await orchestrator.invoke(ask('go'));
    if (result.messages.at(-1).content !== 'report') throw new Error(`unexpected output ${String(result.messages.at(-1).content)}`);
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
    const uninstall = instrumentLangChain(agentmeter);
    const call = createCall();
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
    framework: `LangChain.js ${frameworkVersion('langchain')} (@langchain/core ${frameworkVersion('@langchain/core')}, @langchain/langgraph ${frameworkVersion('@langchain/langgraph')})`,
    call: 'createAgent invoke: an orchestrator whose tool invokes a second agent, fakeModel',
    baselineUsPerCall: Number(baselineUsPerCall.toFixed(1)),
    adapterUsPerCall: Number(adapterUsPerCall.toFixed(1)),
    ratio: Number((adapterUsPerCall / baselineUsPerCall).toFixed(3)),
    note: `${ROUNDS} alternating rounds of ${CALLS} calls per side; each install registers a LangChain configure hook that stays registered (its variable emptied) after uninstall, so later rounds of both sides pass over up to ${ROUNDS + 1} emptied hooks`,
  }),
);
