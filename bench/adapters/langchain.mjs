// What agentmetry/langchain adds to one LangChain.js call: invoke of a createAgent orchestrator whose
// tool runs a second createAgent agent (fakeModel, offline), with the adapter installed against the
// same call without it (LangSmith tracing off on both sides). A and B rounds alternate in one process.
// Usage: node bench/adapters/langchain.mjs [--quick]   (imports the built package: npm run build first)
// Prints one JSON line: {"framework", "call", "baselineUsPerCall", "adapterUsPerCall", "ratio", "note"}.
// First, as agentmetry/register does: the adapter gives LangChain its process-wide storage before LangChain makes one.
import { instrumentLangChain } from '../../dist/adapters/langchain/index.js';
import { fakeModel } from '@langchain/core/testing';
import { AIMessage, createAgent, tool } from 'langchain';
import { z } from 'zod';
import { adapterSides, frameworkVersion, measure, printResult, quick } from '../harness.mjs';

const ROUNDS = quick ? 5 : 15;
const CALLS = quick ? 50 : 60;

// LangSmith's tracing (the framework's own telemetry) stays off on both sides.
delete process.env.LANGSMITH_TRACING;
delete process.env.LANGCHAIN_TRACING_V2;

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

// The adapter's side checks that every call was recorded: the orchestrator's run and its subagent's.
const sides = adapterSides(createCall, instrumentLangChain);

const perCall = await measure(sides, { rounds: ROUNDS, calls: CALLS });
printResult({
  framework: `LangChain.js ${frameworkVersion('langchain')} (@langchain/core ${frameworkVersion('@langchain/core')}, @langchain/langgraph ${frameworkVersion('@langchain/langgraph')})`,
  call: 'createAgent invoke: an orchestrator whose tool invokes a second agent, fakeModel',
  baselineUsPerCall: perCall.baseline,
  adapterUsPerCall: perCall.adapter,
  note: `${ROUNDS} alternating rounds of ${CALLS} calls per side; each install registers a LangChain configure hook that stays registered (its variable emptied) after uninstall, so later rounds of both sides pass over up to ${ROUNDS + 1} emptied hooks`,
});
