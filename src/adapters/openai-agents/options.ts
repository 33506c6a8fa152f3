import type { QuotaExceededError, RunSpec } from '../../index.js';
import type { OptionTypes } from '../shared/options.js';

/** What the adapter knows about an agent run when it starts one. */
export interface OpenAIAgentsRunInfo {
  /** The agent's `name`. */
  agentName: string;
  /** The tool name when the agent runs as a tool of another agent (`agent.asTool()`); `undefined` for a top-level run. */
  toolName: string | undefined;
  /** The agent's model when it is configured as a string. */
  model: string | undefined;
}

export interface OpenAIAgentsInstrumentationOptions {
  /**
   * Also record top-level runs (`run(agent, …)`, `runner.run(…)` outside an agent tool) as runs,
   * at depth 0 or under the app's own `agentmeter.run`. A quota that refuses one makes that
   * call reject with the `QuotaExceededError`. Default `true`.
   */
  topLevel?: boolean;
  /** The run's `gen_ai.agent.name`. Default: the agent's `name`. */
  name?: (info: OpenAIAgentsRunInfo) => string | undefined;
  /** Extra run options per run: an `estimate`, a `budget`, a `conversationId`, `timeoutMs`. Default none. */
  spec?: (info: OpenAIAgentsRunInfo) => Partial<Omit<RunSpec, 'name'>> | undefined;
  /**
   * Cost in USD of a run's own usage, for `subagent.cost` and cost quotas. Default: cost unknown.
   * A hook that throws or returns anything but a non-negative finite number leaves the cost
   * unknown (diag warning); the tokens still count.
   */
  costUsd?: (usage: { inputTokens: number; outputTokens: number; model: string | undefined }) => number | undefined;
  /**
   * The tool output the parent model receives when a quota refuses a subagent.
   * Default: the error's message, e.g. `Quota exceeded: executions 3/2 (scope global)`.
   */
  denialMessage?: (error: QuotaExceededError | Error) => string;
}

/** Each option's type, checked when the adapter is installed. */
export const OPENAI_AGENTS_OPTION_TYPES: OptionTypes<OpenAIAgentsInstrumentationOptions> = {
  topLevel: 'boolean',
  name: 'function',
  spec: 'function',
  costUsd: 'function',
  denialMessage: 'function',
};
