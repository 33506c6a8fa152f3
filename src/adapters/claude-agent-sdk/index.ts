/**
 * `agentmetry/claude-agent-sdk`: records the subagents of the Claude Agent SDK as agentmetry runs.
 *
 * A subagent is an `Agent` tool use (`Task` in older versions of Claude Code); it nests under the
 * run of the agent that spawned it (the query's run, or another subagent's). The SDK's `query` is
 * an ES module export, which cannot be patched: the app calls the `query` that
 * `instrumentClaudeAgentSdk` returns, or spreads `createSubagentHooks` into its own
 * `options.hooks`. A quota that refuses a subagent is a `PreToolUse` deny decision: the subagent
 * never starts and the parent model receives the refusal as the tool's error.
 */
import type { AgentMeter } from '../../index.js';
import { checkAdapterOptions, type OptionTypes } from '../shared/options.js';
import { CLAUDE_AGENT_SDK_OPTION_TYPES, type ClaudeAgentSdkInstrumentationOptions } from './options.js';
import { wrapQuery, type QueryFunction } from './query.js';
import { SubagentTracker, type SubagentHooks } from './tracker.js';

export type { ClaudeAgentSdkInstrumentationOptions, ClaudeAgentSdkRunInfo, ClaudeAgentSdkUsage } from './options.js';
export type { SubagentHooks } from './tracker.js';

/** The options of `createSubagentHooks`: those of `instrumentClaudeAgentSdk` but `topLevel` (hooks see no query). */
export type SubagentHooksOptions = Omit<ClaudeAgentSdkInstrumentationOptions, 'topLevel'>;

/** What `instrumentClaudeAgentSdk` returns. */
export interface InstrumentedClaudeAgentSdk<Query> {
  /** The SDK's `query`, recorded: use it in place of the SDK's own. */
  readonly query: Query;
  /** Stops recording: later queries run as the SDK's own; queries in flight finish being recorded. Idempotent. */
  readonly uninstall: () => void;
}

/**
 * Returns the SDK's `query` instrumented: each query is a run (with `topLevel`, the default) and
 * each subagent it spawns a nested run, with its turns, tokens and tool calls, under quotas. A quota that
 * stops a running subagent stops it through the query's `stopTask`; one that stops the query
 * interrupts it, and the query still ends with its result. The SDK module is not modified.
 *
 * Throws a `TypeError` naming the argument when `sdk` has no `query` function, or naming the
 * option when an option is unknown (such as `quota`, which belongs to the `AgentMeter`) or of the
 * wrong type.
 */
export function instrumentClaudeAgentSdk<Sdk extends { query: (...args: never[]) => unknown }>(
  agentmeter: Pick<AgentMeter, 'run'>,
  sdk: Sdk,
  options: ClaudeAgentSdkInstrumentationOptions = {},
): InstrumentedClaudeAgentSdk<Sdk['query']> {
  checkAdapterOptions('instrumentClaudeAgentSdk', agentmeter, options, CLAUDE_AGENT_SDK_OPTION_TYPES);
  if (typeof (sdk as { query?: unknown } | null | undefined)?.query !== 'function') {
    throw new TypeError(
      `agentmetry: instrumentClaudeAgentSdk expects the Claude Agent SDK module as its second argument (import * as sdk from '@anthropic-ai/claude-agent-sdk'), got ${describe(sdk)}`,
    );
  }
  let active = true;
  const query = wrapQuery(sdk.query as unknown as QueryFunction, agentmeter, options, () => active);
  return {
    query,
    uninstall: () => {
      active = false;
    },
  };
}

const HOOKS_OPTION_TYPES: OptionTypes<SubagentHooksOptions> = {
  name: CLAUDE_AGENT_SDK_OPTION_TYPES.name,
  spec: CLAUDE_AGENT_SDK_OPTION_TYPES.spec,
  costUsd: CLAUDE_AGENT_SDK_OPTION_TYPES.costUsd,
  denialMessage: CLAUDE_AGENT_SDK_OPTION_TYPES.denialMessage,
};

/**
 * Hooks that record subagents and every tool call, for an app that calls the SDK's own `query` and spreads them into
 * its `options.hooks` (append them to hooks of the same events it already has). Each subagent is
 * a run, nested under the app's active run and under the subagent that spawned it, refused by a
 * `PreToolUse` deny decision when a quota says so. Hooks see no messages: a subagent's turn count
 * and tokens are those of its last model response, and a quota cannot stop a running subagent
 * (`instrumentClaudeAgentSdk` does both). Use one set of hooks per query or share it; its state
 * is per tool use.
 *
 * Throws a `TypeError` naming the option when an option is unknown or of the wrong type.
 */
export function createSubagentHooks(agentmeter: Pick<AgentMeter, 'run'>, options: SubagentHooksOptions = {}): SubagentHooks {
  checkAdapterOptions('createSubagentHooks', agentmeter, options, HOOKS_OPTION_TYPES);
  return new SubagentTracker(agentmeter, options, { observing: false }).hooks();
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return typeof value === 'object' ? 'an object without a query function' : `a ${typeof value}`;
}
