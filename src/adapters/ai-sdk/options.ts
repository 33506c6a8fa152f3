import type { ModelCallLimits, RunSpec } from '../../index.js';
import type { OptionTypes } from '../shared/options.js';

/** What the adapter knows about a `generateText`/`streamText` call when it starts a run for it. */
export interface AiSdkRunInfo {
  /** `telemetry.functionId` of the call, when the app set one. */
  functionId: string | undefined;
  /**
   * The agent's `id` (AI SDK 5 and 6: the `ToolLoopAgent`/`Experimental_Agent` settings'); always
   * `undefined` on AI SDK 7, which does not pass it to telemetry integrations.
   */
  agentId: string | undefined;
  /** The tool whose execution started this call; `undefined` for a top-level call. */
  toolName: string | undefined;
  /** `ai.generateText` or `ai.streamText`. */
  operationId: string;
  provider: string;
  modelId: string;
}

/** What the adapter knows about one model call inside an agent run, before the call (on AI SDK 5 and 6: a step's). */
export interface AiSdkModelCallInfo {
  provider: string;
  modelId: string;
  /** The call's instructions (system prompt), as the SDK passes them. */
  instructions: unknown;
  /** The call's messages, as the SDK passes them (`ModelMessage[]`). */
  messages: readonly unknown[];
  /** The tool definitions the call offers, as the SDK passes them. */
  tools: readonly unknown[];
  /** The call's `maxOutputTokens`; `undefined` when it sets none. */
  maxOutputTokens: number | undefined;
  /**
   * The adapter's upper bound on the call's input tokens: UTF-8 bytes of the serialized
   * instructions, messages and tools, plus a per-message and per-call allowance (see
   * docs/adapters/ai-sdk.md). `undefined` when a message has a media part, which it cannot bound.
   */
  inputTokens: number | undefined;
}

export interface AiSdkInstrumentationOptions {
  /**
   * Also record calls that run outside any tool execution (the orchestrator) as runs, at
   * depth 0 or under the app's own `agentmeter.run`. Default `true`. With `false` only
   * subagents (calls started inside a tool's `execute`) are recorded.
   */
  topLevel?: boolean;
  /**
   * The run's `gen_ai.agent.name`. Default: the call's `telemetry.functionId`, else the agent's
   * `id` (AI SDK 5 and 6), else the name of the tool that started it, else `agent`.
   */
  name?: (info: AiSdkRunInfo) => string | undefined;
  /** Extra run options per call: an `estimate`, a `budget`, a `conversationId`, `timeoutMs`. Default none. */
  spec?: (info: AiSdkRunInfo) => Partial<Omit<RunSpec, 'name'>> | undefined;
  /**
   * Cost in USD of one step's usage, for `subagent.cost` and cost quotas. Default: cost unknown.
   * A hook that throws or returns anything but a non-negative finite number leaves the step's
   * cost unknown (diag warning); its tokens still count.
   */
  costUsd?: (usage: { inputTokens: number; outputTokens: number; modelId: string | undefined }) => number | undefined;
  /**
   * The worst case to hold for one model call inside an agent run, before the call
   * (`run.reserveCall`): `{ inputTokens, maxOutputTokens, costUsd? }`, e.g. with the app's own
   * token count. Return `undefined` for the default: `{ inputTokens: call.inputTokens,
   * maxOutputTokens: call.maxOutputTokens }` when the call sets `maxOutputTokens` and its input can
   * be bounded, else nothing is held and the call's usage is charged after it. Without `costUsd`,
   * the cost held is what `options.costUsd` gives for the worst case (none when it gives none). A
   * hook that throws or returns invalid limits gets the default, with a diag warning. On AI SDK 5
   * and 6 the call is the step's (held in its `prepareStep`, settled when the step finishes).
   */
  callLimits?: (call: AiSdkModelCallInfo) => ModelCallLimits | undefined;
}

/** Each option's type, checked when the adapter is installed. */
export const AI_SDK_OPTION_TYPES: OptionTypes<AiSdkInstrumentationOptions> = {
  topLevel: 'boolean',
  name: 'function',
  spec: 'function',
  costUsd: 'function',
  callLimits: 'function',
};

/** The options of `instrumentAiSdk`: the instrumentation's, and which `ai` module to instrument. */
export interface AiSdkInstallOptions extends AiSdkInstrumentationOptions {
  /**
   * The `ai` module to instrument (`import * as ai from 'ai'`), AI SDK 5, 6 or 7; its major is told
   * by what it exports (`registerTelemetry`: 7; `ToolLoopAgent`: 6; `Experimental_Agent`: 5).
   * Default: the `ai` package that `agentmetry/ai-sdk` resolves, which is the app's own in a usual
   * install. Give it when the app's `ai` is another copy (an npm alias, a workspace with two).
   */
  ai?: object;
}
