// An orchestrator that delegates to two researcher subagents (in parallel), one of which asks a
// helper, all on the Vercel AI SDK, instrumented by agentmetry.
//
//   npm run build && node examples/ai-sdk/app.mjs
//
// Offline by default (the AI SDK's mock model). With AI_GATEWAY_API_KEY set it calls a real
// model through the AI Gateway (AI_MODEL, default openai/gpt-4o-mini).
import { generateText, isStepCount, jsonSchema, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { AgentMeter } from 'agentmetry';
import { startTelemetry } from 'agentmetry/setup';
import { instrumentAiSdk } from 'agentmetry/ai-sdk';

const telemetry = startTelemetry({ serviceName: 'ai-sdk-example' });
const agentmeter = new AgentMeter({ quota: { limits: { maxExecutions: 10, maxTokens: 200_000 } } });
const uninstall = instrumentAiSdk(agentmeter);

const online = Boolean(process.env.AI_GATEWAY_API_KEY);
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
const callTools = (calls, input, output) => ({
  content: calls.map(([toolName, args], index) => ({ type: 'tool-call', toolCallId: `${toolName}-${index}`, toolName, input: JSON.stringify(args) })),
  finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
  usage: usage(input, output),
  warnings: [],
});
/** A real model, or a mock that plays the given responses in order. */
const model = (...responses) => (online ? (process.env.AI_MODEL ?? 'openai/gpt-4o-mini') : new MockLanguageModelV4({ doGenerate: responses }));

const topic = jsonSchema({ type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] });

const askHelper = tool({
  description: 'Asks a helper agent to check one fact',
  inputSchema: topic,
  execute: async ({ topic }, { abortSignal }) =>
    (
      await generateText({
        model: model(say(`checked: ${topic}`, 120, 30)),
        prompt: `Check this fact: ${topic}`,
        abortSignal,
        telemetry: { functionId: 'helper' },
      })
    ).text,
});

const research = tool({
  description: 'Asks a researcher agent about one topic',
  inputSchema: topic,
  execute: async ({ topic }, { abortSignal }) => {
    const result = await generateText({
      model: model(callTools([['ask_helper', { topic: `${topic} (fact)` }]], 400, 60), say(`notes on ${topic}`, 700, 180)),
      prompt: `Research: ${topic}. Use ask_helper once to check a fact.`,
      tools: { ask_helper: askHelper },
      stopWhen: isStepCount(4),
      abortSignal,
      telemetry: { functionId: 'researcher' },
    });
    return result.text;
  },
});

const result = await generateText({
  model: model(
    callTools(
      [
        ['research', { topic: 'OpenTelemetry metrics' }],
        ['research', { topic: 'agent quotas' }],
      ],
      300,
      50,
    ),
    say('Report: both topics covered.', 1500, 220),
  ),
  prompt: 'Write a two-line report on OpenTelemetry metrics and agent quotas. Call research once per topic.',
  tools: { research },
  stopWhen: isStepCount(4),
  telemetry: { functionId: 'orchestrator' },
});

console.log(result.text);
console.log(
  'AI SDK total usage:',
  result.totalUsage.inputTokens,
  'in /',
  result.totalUsage.outputTokens,
  'out (orchestrator only; each subagent reports its own)',
);
console.log('quota:', JSON.stringify(agentmeter.quota.snapshot().tokens));
uninstall();
await telemetry.shutdown();
