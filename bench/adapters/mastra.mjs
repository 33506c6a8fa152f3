// What agentmetry/mastra adds to one Mastra call: agent.generate of an orchestrator that delegates
// once to a second agent (its `agents`, the agent-<key> tool), on the AI SDK's MockLanguageModelV4
// (offline), with the adapter installed against the same call without it (Mastra's observability
// not configured on both sides, its default). A and B rounds alternate in one process.
// Usage: node bench/adapters/mastra.mjs [--quick]   (imports the built package: npm run build first)
// Prints one JSON line: {"framework", "call", "baselineUsPerCall", "adapterUsPerCall", "ratio", "note"}.
import { instrumentMastra } from '../../dist/adapters/mastra/index.js';
import { Agent } from '@mastra/core/agent';
import { MockLanguageModelV4 } from 'ai/test';
import { adapterSides, frameworkVersion, measure, printResult, quick } from '../harness.mjs';

const ROUNDS = quick ? 5 : 15;
const CALLS = quick ? 50 : 60;

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

// The adapter's side checks that every call was recorded: the orchestrator's run and its delegated agent's.
const sides = adapterSides(createCall, instrumentMastra);

const perCall = await measure(sides, { rounds: ROUNDS, calls: CALLS });
printResult({
  framework: `Mastra ${frameworkVersion('@mastra/core')} (@mastra/core)`,
  call: 'agent.generate of an orchestrator that delegates once to a second agent (agent-<key> tool), MockLanguageModelV4',
  baselineUsPerCall: perCall.baseline,
  adapterUsPerCall: perCall.adapter,
  note: `${ROUNDS} alternating rounds of ${CALLS} calls per side; Mastra's observability not configured on either side (its default)`,
});
