// An orchestrator that delegates to two researcher agents (in parallel), one of which delegates to
// a helper, then to a critic that the quota refuses, on Mastra (@mastra/core), instrumented by agentmetry.
//
//   npm run build && node examples/mastra/app.mjs
//
// Offline: every agent runs on the AI SDK's MockLanguageModelV4, which answers from a script.
import { instrumentMastra } from 'agentmetry/mastra';
import { AgentMeter } from 'agentmetry';
import { startTelemetry } from 'agentmetry/setup';
import { Agent } from '@mastra/core/agent';
import { MockLanguageModelV4 } from 'ai/test';

const telemetry = startTelemetry({ serviceName: 'mastra-example' });
// Four runs fit: the orchestrator, the two researchers and the helper. The critic does not.
const agentmeter = new AgentMeter({ quota: { limits: { maxExecutions: 4, maxTokens: 200_000 } } });
const uninstall = instrumentMastra(agentmeter);

const usage = (input, output) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});
const say = (text, input, output) => ({
  content: [{ type: 'text', text }],
  finishReason: { unified: 'stop', raw: 'stop' },
  usage: usage(input, output),
  warnings: [],
});
/** A step that delegates: Mastra gives the model each of an agent's `agents` as an `agent-<key>` tool. */
const delegate = (keys, input, output) => ({
  content: keys.map((key) => ({
    type: 'tool-call',
    toolCallId: `call-${key}`,
    toolName: `agent-${key}`,
    input: JSON.stringify({ prompt: `Please handle: ${key}` }),
  })),
  finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
  usage: usage(input, output),
  warnings: [],
});
const model = (...replies) => new MockLanguageModelV4({ doGenerate: replies });
const agent = (id, description, doGenerate, agents) => new Agent({ id, name: id, description, instructions: description, model: doGenerate, agents });

const helper = agent('fact_checker', 'Checks one fact', model(say('checked', 120, 30)));
const metrics = agent('metrics_researcher', 'Researches OpenTelemetry metrics', model(delegate(['fact_checker'], 400, 60), say('notes on metrics', 700, 180)), {
  fact_checker: helper,
});
const quotas = agent('quota_researcher', 'Researches agent quotas', model(say('notes on quotas', 500, 120)));
const critic = agent('critic', 'Criticises the draft', model(say('never asked', 1, 1)));
const orchestrator = agent(
  'orchestrator',
  'Writes the report',
  model(delegate(['metrics_researcher', 'quota_researcher'], 300, 50), delegate(['critic'], 900, 40), say('Report: both topics covered.', 1500, 220)),
  { metrics_researcher: metrics, quota_researcher: quotas, critic },
);

const result = await orchestrator.generate('Write the report.', { maxSteps: 5 });
console.log(result.text);
const refusal = result.steps.flatMap((step) => step.toolResults).find((toolResult) => toolResult.payload.toolName === 'agent-critic');
console.log('critic:', refusal?.payload.result.text);
console.log('quota:', JSON.stringify(agentmeter.quota.snapshot().tokens));
uninstall();
await telemetry.shutdown();
