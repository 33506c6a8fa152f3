import type { QuotaExceededError, RunSpec } from '../../index.js';
import type { OptionTypes } from '../shared/options.js';

/** What the adapter knows about a run when it starts one. */
export interface ClaudeAgentSdkRunInfo {
  /** `subagent_type` of the `Agent` (legacy `Task`) tool call; `undefined` for the top-level query. */
  subagentType: string | undefined;
  /** The id of the `Agent` tool use; `undefined` for the top-level query. */
  toolUseId: string | undefined;
  /** The `agent_id` of the subagent that spawned this one; `undefined` when the main thread (or the query itself) did. */
  parentAgentId: string | undefined;
  /** The tool call asked for a background run (`run_in_background: true`). */
  background: boolean;
  /** The model the tool call or the query options name, when they name one. */
  model: string | undefined;
}

/** One model request's usage, as `costUsd` receives it. */
export interface ClaudeAgentSdkUsage {
  /** Input tokens, cache reads and cache writes included. */
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
  model: string | undefined;
}

export interface ClaudeAgentSdkInstrumentationOptions {
  /**
   * Also record each `query()` of the instrumented SDK as a run, at depth 0 or under the app's
   * own `agentmeter.run`, with its subagents nested under it. A quota that refuses it makes the
   * query's iteration throw the `QuotaExceededError` before the CLI starts. Default `true`.
   * `createSubagentHooks` has no top-level run.
   */
  topLevel?: boolean;
  /** The run's `gen_ai.agent.name`. Default: the `subagent_type` (`general-purpose` when absent), `claude-agent` for the query. */
  name?: (info: ClaudeAgentSdkRunInfo) => string | undefined;
  /** Extra run options per run: an `estimate`, a `budget`, a `conversationId`, `timeoutMs`. Default none. */
  spec?: (info: ClaudeAgentSdkRunInfo) => Partial<Omit<RunSpec, 'name'>> | undefined;
  /**
   * Cost in USD of usage the adapter records, for `subagent.cost` and cost quotas. Default: the
   * query's `total_cost_usd`, recorded on the top-level run when the query ends (subagents' own
   * cost unknown). A hook that throws or returns anything but a non-negative finite number leaves
   * that cost unknown (diag warning); the tokens still count.
   */
  costUsd?: (usage: ClaudeAgentSdkUsage) => number | undefined;
  /**
   * The reason the parent model receives when a quota refuses a subagent (the CLI prefixes it
   * with `PreToolUse:Agent hook error:`). Default: the error's message, e.g.
   * `Quota exceeded: executions 3/2 (scope global)`.
   */
  denialMessage?: (error: QuotaExceededError | Error) => string;
}

/** Each option's type, checked when the adapter is installed. */
export const CLAUDE_AGENT_SDK_OPTION_TYPES: OptionTypes<ClaudeAgentSdkInstrumentationOptions> = {
  topLevel: 'boolean',
  name: 'function',
  spec: 'function',
  costUsd: 'function',
  denialMessage: 'function',
};
