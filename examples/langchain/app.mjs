// An orchestrator that calls two researcher agents from its tools (in parallel), each of which
// asks a helper agent from its own tool, on LangChain.js (createAgent), instrumented by agentmetry.
//
//   npm run build && node examples/langchain/app.mjs
//
// Offline: every agent runs on LangChain's fakeModel(), which answers from a script.
// agentmetry/langchain is imported before LangChain, so that its install reaches every run.
import { instrumentLangChain } from 'agentmetry/langchain';
import { AgentMeter } from 'agentmetry';
import { startTelemetry } from 'agentmetry/setup';
import { AIMessage, createAgent, tool } from 'langchain';
import { fakeModel } from '@langchain/core/testing';
import { z } from 'zod';

const telemetry = startTelemetry({ serviceName: 'langchain-example' });
const agentmeter = new AgentMeter({ quota: { limits: { maxExecutions: 10, maxTokens: 200_000 } } });
const uninstall = instrumentLangChain(agentmeter);

const usage = (input, output) => ({ input_tokens: input, output_tokens: output, total_tokens: input + output });
const say = (text, input, output) => new AIMessage({ content: text, usage_metadata: usage(input, output) });
const callTools = (calls, input, output) =>
  new AIMessage({
    content: '',
    tool_calls: calls.map(([name, args], index) => ({ name, args, id: `${name}-${index}`, type: 'tool_call' })),
    usage_metadata: usage(input, output),
  });
/** A tool whose body runs `agent` on its input: the agent is a subagent of the tool's caller. */
const agentTool = (name, description, agent) =>
  tool(async ({ input }) => (await agent.invoke({ messages: [{ role: 'user', content: input }] })).messages.at(-1).text, {
    name,
    description,
    schema: z.object({ input: z.string() }),
  });

const researcher = (name, topic) => {
  const helper = createAgent({ name: `${name}_helper`, model: fakeModel().respond(say('checked', 120, 30)), tools: [] });
  return createAgent({
    name,
    model: fakeModel()
      .respond(callTools([['check_fact', { input: `${topic} fact` }]], 400, 60))
      .respond(say(`notes on ${topic}`, 700, 180)),
    tools: [agentTool('check_fact', 'Checks one fact', helper)],
  });
};

const orchestrator = createAgent({
  name: 'orchestrator',
  model: fakeModel()
    .respond(
      callTools(
        [
          ['research_metrics', { input: 'go' }],
          ['research_quotas', { input: 'go' }],
        ],
        300,
        50,
      ),
    )
    .respond(say('Report: both topics covered.', 1500, 220)),
  tools: [
    agentTool('research_metrics', 'Researches OpenTelemetry metrics', researcher('metrics_researcher', 'OpenTelemetry metrics')),
    agentTool('research_quotas', 'Researches agent quotas', researcher('quota_researcher', 'agent quotas')),
  ],
});

const result = await orchestrator.invoke({ messages: [{ role: 'user', content: 'Write the report.' }] });
console.log(result.messages.at(-1).text);
console.log('quota:', JSON.stringify(agentmeter.quota.snapshot().tokens));
uninstall();
await telemetry.shutdown();
