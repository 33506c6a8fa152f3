import type { RunHandle } from '../shared/run-handle.js';
import type { AgentLike } from './mastra-types.js';

/** A delegated agent's run, admitted by `onDelegationStart` before the agent is called. */
export interface Delegation {
  readonly handle: RunHandle;
  /** Whether the delegated agent's own `generate`/`stream` took the run over (it then records its steps and ends it). */
  started: boolean;
}

/** One agent call in progress. */
export interface Frame {
  /** Its run; `undefined` when it goes unrecorded (`topLevel: false`, or the core left it unrecorded). */
  readonly handle: RunHandle | undefined;
  /** Whether this call ends `handle`: not for a network's routing decisions, which count on the network's run. */
  readonly owned: boolean;
  /** Whether this is an agent network's call (`agent.network()`). */
  readonly network: boolean;
  readonly agent: AgentLike;
  /** The delegations its `onDelegationStart` admitted, by tool call id, until `onDelegationComplete`. */
  readonly delegations: Map<string, Delegation>;
  /** When each tool call in progress started (`performance.now()`), by its execution context. */
  readonly toolStarts: WeakMap<object, number>;
  /** The runs of the workflows it delegated to that are in progress, by the tool call's execution context. */
  readonly workflows: WeakMap<object, RunHandle>;
  /** The quota refusals of its delegations, by tool call id, until the tool call is recorded (`afterToolCall`). */
  readonly refusals: Map<string, unknown>;
}

export function newFrame(handle: RunHandle | undefined, owned: boolean, network: boolean, agent: AgentLike): Frame {
  return { handle, owned, network, agent, delegations: new Map(), toolStarts: new WeakMap(), workflows: new WeakMap(), refusals: new Map() };
}
