// The shared adapter scenario against AI SDK 5, 6 and 7, installed side by side (`ai5`, `ai6` and
// `ai` in devDependencies), each with its own mock model.
import * as ai5 from 'ai5';
import { MockLanguageModelV2 } from 'ai5/test';
import * as ai6 from 'ai6';
import { MockLanguageModelV3 } from 'ai6/test';
import * as ai7 from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { describeAiSdkScenario, type AiSdkMajor, type MockModel, type MockResult } from './ai-sdk-scenario.js';

type Settings = Parameters<AiSdkMajor['createAgent']>[0];
type Call = Parameters<AiSdkMajor['calls']>[0][number];
// The majors' own types differ in every generic; the scenario sees them through its loose interfaces.
type Loose = never;
const asAgent = (agent: unknown) => agent as ReturnType<AiSdkMajor['createAgent']>;

/** LanguageModelV3 (AI SDK 6) and LanguageModelV4 (AI SDK 7) results: usage and finish reason in their detailed form. */
const detailed = {
  text: (value: string, input: number, output: number) => ({
    content: [{ type: 'text', text: value }],
    finishReason: { unified: 'stop', raw: 'stop' },
    usage: { inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: output, text: output, reasoning: 0 } },
    warnings: [],
  }),
  calls: (list: Call[], input: number, output: number) => ({
    content: list.map((call) => ({ type: 'tool-call', toolCallId: call.id, toolName: call.tool, input: JSON.stringify(call.input) })),
    finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
    usage: { inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: output, text: output, reasoning: 0 } },
    warnings: [],
  }),
};

const mock = (Model: new (options: { doGenerate: Loose }) => unknown) => (results: MockResult[] | (() => Promise<MockResult>)) =>
  new Model({ doGenerate: results as Loose }) as MockModel;

describeAiSdkScenario({
  label: 'AI SDK 5',
  module: ai5,
  createAgent: ({ model, tools, maxSteps, functionId }: Settings) =>
    asAgent(new ai5.Experimental_Agent({ model, tools, stopWhen: ai5.stepCountIs(maxSteps ?? 1), experimental_telemetry: { functionId } } as Loose)),
  tool: (definition) => ai5.tool(definition as Loose),
  mockModel: mock(MockLanguageModelV2),
  // LanguageModelV2 results: flat usage, a plain finish reason.
  text: (value, input, output) => ({
    content: [{ type: 'text', text: value }],
    finishReason: 'stop',
    usage: { inputTokens: input, outputTokens: output, totalTokens: input + output },
    warnings: [],
  }),
  calls: (list, input, output) => ({
    content: list.map((call) => ({ type: 'tool-call', toolCallId: call.id, toolName: call.tool, input: JSON.stringify(call.input) })),
    finishReason: 'tool-calls',
    usage: { inputTokens: input, outputTokens: output, totalTokens: input + output },
    warnings: [],
  }),
});

describeAiSdkScenario({
  label: 'AI SDK 6',
  module: ai6,
  createAgent: ({ model, tools, maxSteps, functionId }: Settings) =>
    asAgent(new ai6.ToolLoopAgent({ model, tools, stopWhen: ai6.stepCountIs(maxSteps ?? 1), experimental_telemetry: { functionId } } as Loose)),
  tool: (definition) => ai6.tool(definition as Loose),
  mockModel: mock(MockLanguageModelV3),
  ...detailed,
});

describeAiSdkScenario({
  label: 'AI SDK 7',
  module: ai7,
  createAgent: ({ model, tools, maxSteps, functionId }: Settings) =>
    asAgent(new ai7.ToolLoopAgent({ model, tools, stopWhen: ai7.isStepCount(maxSteps ?? 1), telemetry: { functionId } } as Loose)),
  tool: (definition) => ai7.tool(definition as Loose),
  mockModel: mock(MockLanguageModelV4),
  ...detailed,
});
