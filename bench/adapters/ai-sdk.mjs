// The AI SDK adapter's overhead per framework call, for AI SDK 5, 6 and 7 (installed side by side
// as `ai5`, `ai6` and `ai`): a parent agent delegating to one subagent through a tool, offline
// with each major's own mock model, the AI SDK's own telemetry off (its default). Alternating
// rounds without and with `instrumentAiSdk` installed, in one process, after a warm-up; the
// AgentMeter records into real OpenTelemetry SDK providers (a batch span processor exporting
// nowhere, a meter provider with a reader), as in an app.
//
//   npm run build && node bench/adapters/ai-sdk.mjs [--quick]
//
// Prints one JSON line per major:
// {"framework":"AI SDK 7","call":"...","baselineUsPerCall":...,"adapterUsPerCall":...,"ratio":...}
// and one more for AI SDK 7 with every model call held (maxOutputTokens under a token quota).
import * as ai5 from 'ai5';
import { MockLanguageModelV2 } from 'ai5/test';
import * as ai6 from 'ai6';
import { MockLanguageModelV3 } from 'ai6/test';
import * as ai7 from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { jsonSchema } from 'ai';
import { instrumentAiSdk } from '../../dist/adapters/ai-sdk/index.js';
import { createAgentMeter, median, printResult, quick } from '../harness.mjs';

const ROUNDS = quick ? 5 : 11;
const CALLS_PER_ROUND = quick ? 50 : 150;
const WARM_UP_CALLS = quick ? 50 : 150;

const detailedUsage = (input, output) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});
const toolCall = { type: 'tool-call', toolCallId: 'd1', toolName: 'delegate', input: JSON.stringify({ task: 'look it up' }) };

/** Each major's agent class, stop condition and mock results (LanguageModelV2 for 5, V3 for 6, V4 for 7). */
const majors = [
  {
    framework: 'AI SDK 5',
    call: 'Experimental_Agent.generate with one delegation',
    module: ai5,
    Agent: ai5.Experimental_Agent,
    stop: ai5.stepCountIs(3),
    model: (results) => new MockLanguageModelV2({ doGenerate: results }),
    text: (text) => ({ content: [{ type: 'text', text }], finishReason: 'stop', usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }, warnings: [] }),
    delegate: () => ({ content: [toolCall], finishReason: 'tool-calls', usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }, warnings: [] }),
  },
  {
    framework: 'AI SDK 6',
    call: 'ToolLoopAgent.generate with one delegation',
    module: ai6,
    Agent: ai6.ToolLoopAgent,
    stop: ai6.stepCountIs(3),
    model: (results) => new MockLanguageModelV3({ doGenerate: results }),
    text: (text) => ({ content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' }, usage: detailedUsage(10, 5), warnings: [] }),
    delegate: () => ({ content: [toolCall], finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: detailedUsage(10, 5), warnings: [] }),
  },
  {
    framework: 'AI SDK 7',
    call: 'ToolLoopAgent.generate with one delegation',
    module: ai7,
    Agent: ai7.ToolLoopAgent,
    stop: ai7.isStepCount(3),
    model: (results) => new MockLanguageModelV4({ doGenerate: results }),
    text: (text) => ({ content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' }, usage: detailedUsage(10, 5), warnings: [] }),
    delegate: () => ({ content: [toolCall], finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: detailedUsage(10, 5), warnings: [] }),
  },
];
// AI SDK 7 again with every call setting maxOutputTokens under a token quota: each of the three
// model calls holds its worst case before the call (its input bound serialized) and settles after.
majors.push({
  ...majors[2],
  framework: 'AI SDK 7, calls held',
  call: 'ToolLoopAgent.generate with one delegation, maxOutputTokens 100 on both agents, quota maxTokens',
  settings: { maxOutputTokens: 100 },
  quota: { limits: { maxTokens: 1e15 } },
});

/** One framework call: a parent agent whose `delegate` tool runs a subagent; fresh mock models each time. */
function workload(major) {
  const delegate = major.module.tool({
    description: 'delegates a task to a subagent',
    inputSchema: jsonSchema({ type: 'object', properties: { task: { type: 'string' } }, required: ['task'] }),
    execute: async ({ task }) => (await new major.Agent({ model: major.model([major.text('done')]), ...major.settings }).generate({ prompt: task })).text,
  });
  return () =>
    new major.Agent({ model: major.model([major.delegate(), major.text('report')]), tools: { delegate }, stopWhen: major.stop, ...major.settings }).generate({
      prompt: 'go',
    });
}

/** Awaits `call()` `count` times in a row; resolves the mean µs per call. */
async function usPerCall(call, count) {
  const started = performance.now();
  for (let index = 0; index < count; index += 1) await call();
  return ((performance.now() - started) * 1000) / count;
}

for (const major of majors) {
  const { agentmeter, tracerProvider, meterProvider } = createAgentMeter(major.quota === undefined ? {} : { quota: major.quota });
  const call = workload(major);
  const withAdapter = async (count) => {
    const uninstall = instrumentAiSdk(agentmeter, { ai: major.module });
    try {
      return await usPerCall(call, count);
    } finally {
      uninstall();
    }
  };
  await usPerCall(call, WARM_UP_CALLS);
  await withAdapter(WARM_UP_CALLS);
  const baseline = [];
  const adapter = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    baseline.push(await usPerCall(call, CALLS_PER_ROUND));
    adapter.push(await withAdapter(CALLS_PER_ROUND));
  }
  printResult({ framework: major.framework, call: major.call, baselineUsPerCall: median(baseline), adapterUsPerCall: median(adapter) });
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
}
