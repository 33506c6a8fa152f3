import type { ModelCallLimits, RunSpec } from '../../index.js';
import type { OptionTypes } from '../shared/options.js';

/** What the adapter knows about a graph run (a `createAgent` agent or a compiled LangGraph graph) when it starts one. */
export interface LangChainRunInfo {
  /** The run's name: the agent's `name`, the graph's `compile({ name })`, or LangGraph's default `LangGraph`. */
  runName: string;
  /** The tool whose body started this run; `undefined` otherwise. */
  toolName: string | undefined;
  /** The node of the enclosing graph that runs this graph (a compiled subgraph used as a node); `undefined` otherwise. */
  nodeName: string | undefined;
}

/** What the adapter knows about one model call inside an agent run, before the call. */
export interface LangChainModelCallInfo {
  /** The model's name, from the call's `ls_model_name` metadata. */
  model: string | undefined;
  /** The call's input as LangChain passes it to callbacks: one array of messages per generation (chat model), or the prompts (LLM). */
  input: unknown;
  /** The call's invocation params as the model reports them (`max_tokens`, `tools`, ...); `undefined` when it gives none. */
  invocationParams: Record<string, unknown> | undefined;
  /** The output cap the invocation params declare (`max_tokens`, `max_completion_tokens`, `maxOutputTokens`, ...); `undefined` when none. */
  maxOutputTokens: number | undefined;
  /**
   * The adapter's upper bound on the call's input tokens: UTF-8 bytes of the serialized input,
   * tools and invocation params, plus a per-message and per-call allowance (see
   * docs/adapters/langchain.md). `undefined` when the input has a media part, which it cannot bound.
   */
  inputTokens: number | undefined;
}

export interface LangChainInstrumentationOptions {
  /**
   * Also record graph runs that no other graph run contains (the orchestrator) as runs, at
   * depth 0 or under the app's own `agentmeter.run`. A quota that refuses one makes its
   * `invoke`/`stream` reject with the `QuotaExceededError`. Default `true`. With `false` only
   * subagents (graphs started from a tool or used as a node) are recorded.
   */
  topLevel?: boolean;
  /**
   * The run's `gen_ai.agent.name`. Default: the run's name, except LangGraph's default
   * `LangGraph`, which gives way to the tool's name, then the node's name.
   */
  name?: (info: LangChainRunInfo) => string | undefined;
  /** Extra run options per run: an `estimate`, a `budget`, a `conversationId`, `timeoutMs`. Default none. */
  spec?: (info: LangChainRunInfo) => Partial<Omit<RunSpec, 'name'>> | undefined;
  /**
   * Cost in USD of one model call's usage, for `subagent.cost` and cost quotas. Default: cost
   * unknown. A hook that throws or returns anything but a non-negative finite number leaves the
   * call's cost unknown (diag warning); its tokens still count.
   */
  costUsd?: (usage: { inputTokens: number; outputTokens: number; model: string | undefined }) => number | undefined;
  /**
   * The worst case to hold for one model call inside an agent run, before the call
   * (`run.reserveCall`): `{ inputTokens, maxOutputTokens, costUsd? }`, e.g. with the app's own
   * token count. Return `undefined` for the default: `{ inputTokens: call.inputTokens,
   * maxOutputTokens: call.maxOutputTokens }` when both are known, else nothing is held and the
   * call's usage is charged after it. Without `costUsd`, the cost held is what `options.costUsd`
   * gives for the worst case (none when it gives none). A hook that throws or returns invalid
   * limits gets the default, with a diag warning.
   */
  callLimits?: (call: LangChainModelCallInfo) => ModelCallLimits | undefined;
}

/** Each option's type, checked when the adapter is installed. */
export const LANGCHAIN_OPTION_TYPES: OptionTypes<LangChainInstrumentationOptions> = {
  topLevel: 'boolean',
  name: 'function',
  spec: 'function',
  costUsd: 'function',
  callLimits: 'function',
};
