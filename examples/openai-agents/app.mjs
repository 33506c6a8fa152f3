// An orchestrator that uses two researcher agents as tools (called in parallel), one of which
// uses a helper agent, on the OpenAI Agents SDK, instrumented by agentmetry.
//
//   npm run build && node examples/openai-agents/app.mjs
//
// Offline by default (the SDK's ScriptedModel). With OPENAI_API_KEY set the agents use the
// SDK's default OpenAI model.
import { Agent, Usage, run, setTraceProcessors } from '@openai/agents';
import { ScriptedModel, assistantMessage, functionCall, modelResponse } from '@openai/agents/testing';
import { AgentMeter } from 'agentmetry';
import { startTelemetry } from 'agentmetry/setup';
import { instrumentOpenAIAgents } from 'agentmetry/openai-agents';

const online = Boolean(process.env.OPENAI_API_KEY);
// Offline there is nowhere to send the SDK's own traces; agentmetry's processor is added below.
if (!online) setTraceProcessors([]);

const telemetry = startTelemetry({ serviceName: 'openai-agents-example' });
const agentmeter = new AgentMeter({ quota: { limits: { maxExecutions: 10, maxTokens: 200_000 } } });
const uninstall = instrumentOpenAIAgents(agentmeter);

const usage = (input, output) => new Usage({ requests: 1, input_tokens: input, output_tokens: output, total_tokens: input + output });
const say = (text, input, output) => modelResponse({ output: [assistantMessage(text)], usage: usage(input, output) });
const callTools = (calls, input, output) =>
  modelResponse({ output: calls.map(([name, args], index) => functionCall(name, args, { callId: `${name}-${index}` })), usage: usage(input, output) });
/** Offline: a scripted model; online: the SDK's default model. */
const model = (...steps) => (online ? {} : { model: new ScriptedModel(steps) });

const helper = new Agent({ name: 'Helper', instructions: 'Check the fact you are given; answer in one line.', ...model(say('checked', 120, 30)) });
const researcher = (name, topic) =>
  new Agent({
    name,
    instructions: `Research ${topic}. Use check_fact once, then answer in two lines.`,
    tools: [helper.asTool({ toolName: 'check_fact', toolDescription: 'Checks one fact' })],
    ...model(callTools([['check_fact', { input: `${topic} fact` }]], 400, 60), say(`notes on ${topic}`, 700, 180)),
  });
const metricsResearcher = researcher('MetricsResearcher', 'OpenTelemetry metrics');
const quotaResearcher = researcher('QuotaResearcher', 'agent quotas');

const orchestrator = new Agent({
  name: 'Orchestrator',
  instructions: 'Write a two-line report. Call both research tools, in parallel.',
  tools: [
    metricsResearcher.asTool({ toolName: 'research_metrics', toolDescription: 'Researches OpenTelemetry metrics' }),
    quotaResearcher.asTool({ toolName: 'research_quotas', toolDescription: 'Researches agent quotas' }),
  ],
  ...model(
    callTools(
      [
        ['research_metrics', { input: 'go' }],
        ['research_quotas', { input: 'go' }],
      ],
      300,
      50,
    ),
    say('Report: both topics covered.', 1500, 220),
  ),
});

const result = await run(orchestrator, 'Write the report.');
console.log(result.finalOutput);
console.log('SDK total usage (all agents):', result.state.usage.inputTokens, 'in /', result.state.usage.outputTokens, 'out');
console.log('quota:', JSON.stringify(agentmeter.quota.snapshot().tokens));
uninstall();
await telemetry.shutdown();
