/**
 * Loose views of the Mastra objects the adapter touches (Mastra's own types are generic over each
 * agent's tools and output), the names Mastra gives the primitives it makes, and lookups on them.
 */
import type { DiagLogger } from '@opentelemetry/api';
import { isObject } from '../../is-object.js';

export type Hook = (context: never) => unknown;
export interface DelegationLike {
  onDelegationStart?: Hook;
  onDelegationComplete?: Hook;
  [key: string]: unknown;
}
export interface ToolHooksLike {
  beforeToolCall?: Hook;
  afterToolCall?: Hook;
}
export interface ExecutionOptions {
  requestContext?: unknown;
  abortSignal?: AbortSignal;
  delegation?: DelegationLike;
  hooks?: ToolHooksLike;
  onStepFinish?: Hook;
  onFinish?: Hook;
  onError?: Hook;
  onAbort?: Hook;
  [key: string]: unknown;
}
export interface AgentLike {
  id: string;
  name?: string;
  getDefaultOptions?(args: { requestContext?: unknown }): unknown;
  getConfiguredToolHooks?(): ToolHooksLike | undefined;
  listAgents?(args: { requestContext?: unknown }): unknown;
}
export type Method = (this: AgentLike, messages: unknown, options?: ExecutionOptions) => Promise<unknown>;
export type MethodName = 'generate' | 'stream';
export interface NetworkStreamLike {
  /** Resolves with the network's execution result once its stream has ended; rejects with what failed it. */
  result?: PromiseLike<{ status?: unknown; error?: unknown } | undefined>;
}

/** The id Mastra gives the agent that makes an agent network's routing decisions (`getRoutingAgent`). */
export const ROUTING_AGENT_ID = 'routing-agent';
/** The prefix of the tool Mastra makes of each of an agent's `workflows`. */
export const WORKFLOW_TOOL_PREFIX = 'workflow-';

export interface DelegationStart {
  primitiveId: string;
  parentAgentName?: string;
  toolCallId: string;
  requestContext: object;
}
export interface DelegationComplete {
  toolCallId: string;
  error?: unknown;
  result?: { usage?: UsageLike };
}
export interface UsageLike {
  inputTokens?: unknown;
  outputTokens?: unknown;
}
export interface StepLike {
  usage?: UsageLike;
  response?: { modelId?: unknown };
}
export interface ToolHookContext {
  toolName: string;
  input: unknown;
  context: unknown;
  error?: unknown;
}

/** The delegated agent's name, looked up among the delegating agent's agents by the id Mastra gives; that id when not found. */
export async function delegatedName(parent: AgentLike, context: DelegationStart, logger: DiagLogger): Promise<string> {
  try {
    const agents = (await parent.listAgents?.({ requestContext: context.requestContext })) as Record<string, AgentLike> | undefined;
    for (const agent of Object.values(agents ?? {})) {
      if (agent.id === context.primitiveId) return agent.name || agent.id;
    }
  } catch (error) {
    logger.warn(`looking up the name of agent '${context.primitiveId}' failed; its id names the run`, error);
  }
  return context.primitiveId;
}

/** What identifies one tool call from `beforeToolCall` to `afterToolCall`: its execution context, which Mastra passes to both. */
export function toolCallKey(context: ToolHookContext): object | undefined {
  if (isObject(context.context)) return context.context;
  return isObject(context.input) ? context.input : undefined;
}
