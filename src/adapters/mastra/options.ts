import type { QuotaExceededError, RunSpec } from '../../index.js';
import type { OptionTypes } from '../shared/options.js';

/** What the adapter knows about a Mastra run when it starts one. */
export interface MastraRunInfo {
  /** What runs: an agent (`generate`, `stream`, `network`, or delegated to), or a workflow an agent delegated to. */
  primitiveType: 'agent' | 'workflow';
  /** The agent's `id`; for a workflow, its key in the delegating agent's `workflows`. */
  agentId: string;
  /** The agent's `name` (its `id` when it has none); for a workflow, its key in the delegating agent's `workflows`. */
  agentName: string;
  /** For a delegation (an `agent-<key>` or `workflow-<key>` tool call): the name of the agent that delegated; `undefined` otherwise. */
  parentAgentName: string | undefined;
}

export interface MastraInstrumentationOptions {
  /**
   * Also record agent calls (`generate`, `stream`) that no recorded run contains (the
   * orchestrator) as runs, at depth 0 or under the app's own `agentmeter.run`. A quota that
   * refuses one makes that call reject with the `QuotaExceededError`. Default `true`. With
   * `false` only delegated agents and the agents called inside a recorded run are recorded.
   */
  topLevel?: boolean;
  /** The run's `gen_ai.agent.name`. Default: `info.agentName`, the agent's `name` (a workflow's key). */
  name?: (info: MastraRunInfo) => string | undefined;
  /** Extra run options per run: an `estimate`, a `budget`, a `conversationId`, `timeoutMs`. Default none. */
  spec?: (info: MastraRunInfo) => Partial<Omit<RunSpec, 'name'>> | undefined;
  /**
   * Cost in USD of one step's usage, for `subagent.cost` and cost quotas. Default: cost unknown.
   * A hook that throws or returns anything but a non-negative finite number leaves the step's
   * cost unknown (diag warning); its tokens still count.
   */
  costUsd?: (usage: { inputTokens: number; outputTokens: number; model: string | undefined }) => number | undefined;
  /**
   * The rejection reason the delegating agent's model receives (after `[Delegation Rejected] `)
   * when a quota refuses a delegated agent or workflow.
   * Default: the error's message, e.g. `Quota exceeded: executions 3/2 (scope global)`.
   */
  denialMessage?: (error: QuotaExceededError | Error) => string;
}

/** Each option's type, checked when the adapter is installed. */
export const MASTRA_OPTION_TYPES: OptionTypes<MastraInstrumentationOptions> = {
  topLevel: 'boolean',
  name: 'function',
  spec: 'function',
  costUsd: 'function',
  denialMessage: 'function',
};
