import { createLogger, safeCall } from '../../log.js';
import { currentRun, type Run, type RunSpec } from '../../index.js';
import { priceUsage } from '../shared/pricing.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import type { ClaudeAgentSdkInstrumentationOptions, ClaudeAgentSdkRunInfo, ClaudeAgentSdkUsage } from './options.js';

const logger = createLogger('claude-agent-sdk');

/** The tools that spawn a subagent: `Agent`, and `Task` in older versions of Claude Code. */
const SPAWNING_TOOLS = new Set(['Agent', 'Task']);
const DEFAULT_SUBAGENT_TYPE = 'general-purpose';

// Loose views of the SDK's hook inputs and messages: only the fields read here.
type HookOutput = Record<string, unknown>;
type HookCallback = (input: unknown, toolUseId: string | undefined, options: { signal: AbortSignal }) => Promise<HookOutput>;
/** One entry of the SDK's `options.hooks[event]`. */
export interface HookMatcher {
  matcher?: string;
  hooks: HookCallback[];
}
/** The hooks the adapter adds to `options.hooks`. */
export interface SubagentHooks {
  PreToolUse: HookMatcher[];
  PostToolUse: HookMatcher[];
  PostToolUseFailure: HookMatcher[];
  SubagentStart: HookMatcher[];
  SubagentStop: HookMatcher[];
}
interface ToolHookInput {
  hook_event_name?: string;
  tool_name?: string;
  tool_use_id?: string;
  tool_input?: { subagent_type?: unknown; run_in_background?: unknown; model?: unknown };
  tool_response?: { status?: unknown; agentId?: unknown; resolvedModel?: unknown; usage?: AnthropicUsage };
  /** Set when the hook fires inside a subagent: the id of that subagent. */
  agent_id?: string;
  error?: unknown;
  is_interrupt?: unknown;
}
interface AgentHookInput {
  agent_id?: string;
  agent_type?: string;
}
/** The usage object of an Anthropic message. */
export interface AnthropicUsage {
  input_tokens?: unknown;
  output_tokens?: unknown;
  cache_read_input_tokens?: unknown;
  cache_creation_input_tokens?: unknown;
}
/** The fields of an SDK message that the adapter reads. */
export interface MessageLike {
  type?: string;
  subtype?: string;
  parent_tool_use_id?: string | null;
  message?: { id?: unknown; model?: unknown; usage?: AnthropicUsage; content?: unknown };
  task_id?: string;
  tool_use_id?: string;
  is_backgrounded?: unknown;
  status?: unknown;
  summary?: unknown;
}

/** What can stop a running subagent: the query's `stopTask`. */
export interface TaskControls {
  stopTask(taskId: string): Promise<void>;
}

/** One `Agent` tool use that the adapter records as a run. */
interface Subagent {
  readonly toolUseId: string;
  readonly info: ClaudeAgentSdkRunInfo;
  readonly handle: RunHandle;
  agentId: string | undefined;
  background: boolean;
  /** The ids of its model responses seen in the message stream: one per turn. */
  readonly turns: Set<string>;
  ended: boolean;
  /** A quota stopped it before its task id was known: stop it once the id arrives. */
  stopPending: boolean;
  /** How its tool call ended, kept until the message stream shows the tool's result (`observing`). */
  ending: Ending | undefined;
}

/** How an `Agent` tool call ended: its error, whether it was interrupted, the usage its response reports. */
interface Ending {
  readonly error: unknown;
  readonly aborted: boolean;
  readonly usage: ClaudeAgentSdkUsage | undefined;
}

/** A tool call between its `PreToolUse` and its `PostToolUse`/`PostToolUseFailure`: the run it counts for, and when it started. */
interface OpenToolCall {
  readonly run: Run;
  readonly name: string;
  readonly started: number;
}

/** Tokens recorded so far, per model (`''` when the model is unknown). */
export type RecordedTokens = Map<string, { input: number; output: number }>;

export interface TrackerSettings {
  /** Messages are observed (`observe`): turns come from them and a background subagent ends at its task notification. */
  observing: boolean;
  /** Runs a subagent's admission in the context its run nests under when the main thread spawned it. Default: the hook's own context. */
  enterRoot?: <T>(fn: () => T) => T;
  /** Whether new subagents are recorded: false once the adapter is uninstalled. */
  isActive?: () => boolean;
}

/**
 * The life of the subagents of one query (or of every query that `createSubagentHooks` serves),
 * driven by the SDK's hooks and, in a wrapped query, by its messages.
 *
 * `PreToolUse` on `Agent|Task` admits the run (a quota refusal becomes the hook's `deny`
 * decision, which the parent model receives as the tool's error); `SubagentStart` and the
 * `task_started` message tie the tool use to the subagent's `agent_id`, which later hooks fired
 * inside the subagent carry (a nested subagent's parent); `PostToolUse`/`PostToolUseFailure` say
 * how a foreground run ends (in a wrapped query it ends when the stream shows the tool's result,
 * after the subagent's last response), the `task_notification` message (or, with hooks alone,
 * `SubagentStop`) ends a background one. Every tool call, from its `PreToolUse` to its
 * `PostToolUse`/`PostToolUseFailure`, is recorded on the run that made it.
 */
export class SubagentTracker {
  readonly #meter: Meter;
  readonly #options: ClaudeAgentSdkInstrumentationOptions;
  readonly #settings: TrackerSettings;
  readonly #byToolUse = new Map<string, Subagent>();
  readonly #byAgent = new Map<string, Subagent>();
  /** Tool calls in progress, by tool use id. */
  readonly #toolCalls = new Map<string, OpenToolCall>();
  #controls: TaskControls | undefined;
  readonly recorded: RecordedTokens = new Map();

  constructor(meter: Meter, options: ClaudeAgentSdkInstrumentationOptions, settings: TrackerSettings) {
    this.#meter = meter;
    this.#options = options;
    this.#settings = settings;
  }

  /** Lets a quota stop a running subagent (`query.stopTask`). */
  setControls(controls: TaskControls): void {
    this.#controls = controls;
  }

  hooks(): SubagentHooks {
    const guarded = (name: string, hook: (input: unknown) => HookOutput | Promise<HookOutput>): HookCallback => {
      return async (input) => {
        try {
          return await hook(input);
        } catch (error) {
          logger.error(`the ${name} hook failed`, error);
          return {};
        }
      };
    };
    // No matcher: every tool call is recorded; those of the Agent tool also start and end subagents.
    return {
      PreToolUse: [{ hooks: [guarded('PreToolUse', (input) => this.#toolStarted(input as ToolHookInput))] }],
      PostToolUse: [{ hooks: [guarded('PostToolUse', (input) => this.#toolEnded(input as ToolHookInput, false))] }],
      PostToolUseFailure: [{ hooks: [guarded('PostToolUseFailure', (input) => this.#toolEnded(input as ToolHookInput, true))] }],
      SubagentStart: [{ hooks: [guarded('SubagentStart', (input) => this.#subagentStarted(input as AgentHookInput))] }],
      SubagentStop: [{ hooks: [guarded('SubagentStop', (input) => this.#subagentStopped(input as AgentHookInput))] }],
    };
  }

  /** Reads one message of a wrapped query: task ids, subagent turns, background completions. */
  observe(message: MessageLike): void {
    try {
      if (message.type === 'system' && message.subtype === 'task_started') {
        const subagent = this.#byToolUse.get(message.tool_use_id ?? '');
        if (subagent !== undefined && typeof message.task_id === 'string') {
          this.#bind(subagent, message.task_id);
          if (message.is_backgrounded === true) subagent.background = true;
        }
      } else if (message.type === 'system' && message.subtype === 'task_notification') {
        this.#notified(message);
      } else if (message.type === 'assistant' && typeof message.parent_tool_use_id === 'string') {
        const subagent = this.#byToolUse.get(message.parent_tool_use_id);
        if (subagent !== undefined && !subagent.ended) this.#turn(subagent, message);
      } else if (message.type === 'user' && Array.isArray(message.message?.content)) {
        for (const block of message.message.content as Array<{ type?: unknown; tool_use_id?: unknown } | null>) {
          if (block?.type === 'tool_result' && typeof block.tool_use_id === 'string') {
            // A tool call that another hook denied has no PostToolUse: it never ran, nothing is recorded.
            this.#toolCalls.delete(block.tool_use_id);
            this.#toolResult(block.tool_use_id);
          }
        }
      }
    } catch (error) {
      logger.error('reading a Claude Agent SDK message failed', error);
    }
  }

  /** Records usage on a run, priced by `options.costUsd`, and counts it in `recorded`. */
  record(handle: RunHandle, usage: ClaudeAgentSdkUsage): void {
    const costUsd = priceUsage(logger, this.#options.costUsd, usage);
    handle.run.recordUsage({
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      ...(costUsd !== undefined ? { costUsd } : {}),
      ...(usage.model !== undefined ? { model: usage.model } : {}),
    });
    const key = usage.model ?? '';
    const total = this.recorded.get(key) ?? { input: 0, output: 0 };
    total.input += usage.inputTokens;
    total.output += usage.outputTokens;
    this.recorded.set(key, total);
  }

  /** Ends every subagent still open when the query is over: the query ended before they did. */
  finish(reason: unknown): void {
    this.#toolCalls.clear();
    for (const subagent of this.#byToolUse.values()) {
      if (subagent.ending !== undefined) this.#close(subagent, subagent.ending);
      else this.#end(subagent, reason, true);
    }
  }

  /**
   * A tool call starts: it counts for the subagent it runs in (`agent_id`), else for the main
   * thread's run (the query's, or with hooks alone the app's active run). An `Agent` tool call
   * also admits its subagent.
   */
  async #toolStarted(input: ToolHookInput): Promise<HookOutput> {
    const toolUseId = input.tool_use_id;
    if (this.#settings.isActive?.() === false || typeof toolUseId !== 'string') return {};
    if (!this.#toolCalls.has(toolUseId)) {
      const enterRoot = this.#settings.enterRoot ?? (<T>(fn: () => T): T => fn());
      const run = input.agent_id !== undefined ? this.#byAgent.get(input.agent_id)?.handle.run : enterRoot(() => currentRun());
      const name = typeof input.tool_name === 'string' && input.tool_name !== '' ? input.tool_name : 'unknown';
      if (run !== undefined) this.#toolCalls.set(toolUseId, { run, name, started: performance.now() });
    }
    if (!SPAWNING_TOOLS.has(input.tool_name ?? '')) return {};
    return this.#admit(input, toolUseId);
  }

  /** Records the end of a tool call on its run. */
  #toolCallEnded(toolUseId: string | undefined, error: unknown): void {
    const call = this.#toolCalls.get(toolUseId ?? '');
    if (call === undefined) return;
    this.#toolCalls.delete(toolUseId!);
    call.run.recordToolCall({ name: call.name, durationMs: performance.now() - call.started, ...(error !== undefined ? { error } : {}) });
  }

  async #admit(input: ToolHookInput, toolUseId: string): Promise<HookOutput> {
    if (this.#byToolUse.has(toolUseId)) return {};
    const toolInput = input.tool_input ?? {};
    const info: ClaudeAgentSdkRunInfo = {
      subagentType: typeof toolInput.subagent_type === 'string' && toolInput.subagent_type !== '' ? toolInput.subagent_type : DEFAULT_SUBAGENT_TYPE,
      toolUseId,
      parentAgentId: input.agent_id,
      background: toolInput.run_in_background === true,
      model: typeof toolInput.model === 'string' && toolInput.model !== '' ? toolInput.model : undefined,
    };
    const spec: RunSpec = {
      ...safeCall(logger, 'options.spec', () => this.#options.spec?.(info), 'warn'),
      name: safeCall(logger, 'options.name', () => this.#options.name?.(info), 'warn') ?? info.subagentType!,
    };
    if (info.model !== undefined && spec.model === undefined) spec.model = info.model;
    // A subagent spawned inside another nests under that one's run; the main thread's, under the query's.
    const parent = input.agent_id !== undefined ? this.#byAgent.get(input.agent_id) : undefined;
    const enterRoot = this.#settings.enterRoot ?? (<T>(fn: () => T): T => fn());
    const enter = <T>(fn: () => T): T => (parent !== undefined ? parent.handle.enter(fn) : enterRoot(fn));
    let handle: RunHandle | undefined;
    try {
      handle = await enter(() => openRun(this.#meter, spec, logger));
    } catch (refusal) {
      // The tool call ends here, refused: the CLI calls no PostToolUse hook for it.
      this.#toolCallEnded(toolUseId, refusal);
      return deny(this.#denialMessage(refusal));
    }
    if (handle === undefined) return {};
    const subagent: Subagent = {
      toolUseId,
      info,
      handle,
      agentId: undefined,
      background: info.background,
      turns: new Set(),
      ended: false,
      stopPending: false,
      ending: undefined,
    };
    this.#byToolUse.set(toolUseId, subagent);
    handle.run.signal.addEventListener('abort', () => this.#stop(subagent), { once: true });
    return {};
  }

  #subagentStarted(input: AgentHookInput): HookOutput {
    const agentId = input.agent_id;
    if (typeof agentId !== 'string' || this.#byAgent.has(agentId)) return {};
    // The hook does not carry the tool use id: the oldest open tool use of that type that has no
    // subagent yet is this one (a `task_started` message, when observed, corrects the match).
    for (const subagent of this.#byToolUse.values()) {
      if (!subagent.ended && subagent.agentId === undefined && subagent.info.subagentType === (input.agent_type ?? DEFAULT_SUBAGENT_TYPE)) {
        this.#bind(subagent, agentId);
        break;
      }
    }
    return {};
  }

  #subagentStopped(input: AgentHookInput): HookOutput {
    // With hooks alone, nothing else says that a background subagent finished.
    if (this.#settings.observing) return {};
    const subagent = this.#byAgent.get(input.agent_id ?? '');
    if (subagent?.background === true) this.#end(subagent, undefined, false);
    return {};
  }

  #toolEnded(input: ToolHookInput, failed: boolean): HookOutput {
    this.#toolCallEnded(input.tool_use_id, failed ? toolError(input) : agentToolError(input));
    const subagent = this.#byToolUse.get(input.tool_use_id ?? '');
    if (subagent === undefined || subagent.ended) return {};
    const response = input.tool_response ?? {};
    if (typeof response.agentId === 'string') this.#bind(subagent, response.agentId);
    if (!failed && response.status === 'async_launched') {
      // A background subagent: it ends with its task notification.
      subagent.background = true;
      return {};
    }
    const model = typeof response.resolvedModel === 'string' ? response.resolvedModel : subagent.info.model;
    const ending: Ending = failed
      ? { error: subagentError(typeof input.error === 'string' ? input.error : 'the subagent failed'), aborted: input.is_interrupt === true, usage: undefined }
      : {
          error: response.status === 'completed' ? undefined : subagentError(`the subagent ended with status ${String(response.status)}`),
          aborted: false,
          usage: readUsage(response.usage, model),
        };
    // The message stream shows the subagent's responses before the tool's result: its run ends
    // there, once every turn has been counted.
    if (this.#settings.observing) subagent.ending = ending;
    else this.#close(subagent, ending);
    return {};
  }

  #close(subagent: Subagent, ending: Ending): void {
    const { usage } = ending;
    if (usage !== undefined && !subagent.ended) {
      // The tool's usage is the subagent's last model response. Its input was recorded with the
      // turn when the message stream showed that response; its output only arrives here.
      if (subagent.turns.size === 0) {
        subagent.handle.run.recordTurn();
        this.record(subagent.handle, usage);
      } else {
        this.record(subagent.handle, { ...usage, inputTokens: 0, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 });
      }
    }
    this.#end(subagent, ending.error, ending.aborted);
  }

  #notified(message: MessageLike): void {
    const subagent = this.#byAgent.get(message.task_id ?? '') ?? this.#byToolUse.get(message.tool_use_id ?? '');
    // A foreground subagent's notification comes before its PostToolUse, which carries its usage.
    if (subagent === undefined || subagent.ended || !subagent.background) return;
    if (message.status === 'completed') this.#end(subagent, undefined, false);
    else if (message.status === 'stopped') this.#end(subagent, abortError('the subagent was stopped'), true);
    else this.#end(subagent, subagentError(typeof message.summary === 'string' ? message.summary : 'the subagent failed'), false);
  }

  #turn(subagent: Subagent, message: MessageLike): void {
    const id = message.message?.id;
    if (typeof id !== 'string' || subagent.turns.has(id)) return;
    subagent.turns.add(id);
    subagent.handle.run.recordTurn();
    // A response's output tokens are final only once it ends; the stream shows its input.
    const usage = readUsage(message.message?.usage, typeof message.message?.model === 'string' ? message.message.model : subagent.info.model);
    if (usage !== undefined) this.record(subagent.handle, { ...usage, outputTokens: 0 });
  }

  #toolResult(toolUseId: string): void {
    const subagent = this.#byToolUse.get(toolUseId);
    if (subagent === undefined || subagent.ended) return;
    if (subagent.ending !== undefined) this.#close(subagent, subagent.ending);
    // The tool call ended without a subagent (another PreToolUse hook denied it): nothing else will end the run.
    else if (subagent.agentId === undefined) this.#end(subagent, abortError('the Agent tool call ended before the subagent started'), true);
  }

  #bind(subagent: Subagent, agentId: string): void {
    if (subagent.agentId === agentId) return;
    const previous = this.#byAgent.get(agentId);
    if (previous !== undefined && previous !== subagent) previous.agentId = undefined;
    if (subagent.agentId !== undefined) this.#byAgent.delete(subagent.agentId);
    subagent.agentId = agentId;
    this.#byAgent.set(agentId, subagent);
    if (subagent.stopPending) this.#stop(subagent);
  }

  /** A quota stopped the run (turns, tokens, cost, duration): stop the subagent through the SDK. */
  #stop(subagent: Subagent): void {
    if (subagent.ended) return;
    const controls = this.#controls;
    if (controls === undefined) {
      logger.warn(`run '${subagent.info.subagentType}' was stopped by a quota, but only a wrapped query can stop a subagent; it runs to its end`);
      return;
    }
    if (subagent.agentId === undefined) {
      subagent.stopPending = true;
      return;
    }
    subagent.stopPending = false;
    controls.stopTask(subagent.agentId).then(undefined, (error: unknown) => logger.warn('stopping a subagent failed', error));
  }

  #end(subagent: Subagent, error: unknown, aborted: boolean): void {
    if (subagent.ended) return;
    subagent.ended = true;
    this.#byToolUse.delete(subagent.toolUseId);
    if (subagent.agentId !== undefined && this.#byAgent.get(subagent.agentId) === subagent) this.#byAgent.delete(subagent.agentId);
    const { handle } = subagent;
    // Stopped by a quota: the core already knows, and ends it `incomplete`.
    if (handle.run.signal.aborted) handle.end(handle.run.signal.reason ?? error);
    else if (aborted) handle.abort(error);
    else handle.end(error);
  }

  #denialMessage(refusal: unknown): string {
    const error = refusal instanceof Error ? refusal : new Error(String(refusal));
    return safeCall(logger, 'options.denialMessage', () => this.#options.denialMessage?.(error), 'warn') ?? error.message;
  }
}

/** The `PreToolUse` output that refuses the tool call; the parent model receives `reason` as the tool's error. */
function deny(reason: string): HookOutput {
  return { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: reason } };
}

/** An Anthropic usage object as the adapter records it; `undefined` when it carries no token count. */
export function readUsage(usage: AnthropicUsage | undefined, model: string | undefined): ClaudeAgentSdkUsage | undefined {
  if (typeof usage !== 'object') return undefined;
  const input = count(usage.input_tokens);
  const cacheRead = count(usage.cache_read_input_tokens);
  const cacheCreation = count(usage.cache_creation_input_tokens);
  const output = count(usage.output_tokens);
  return {
    inputTokens: input + cacheRead + cacheCreation,
    outputTokens: output,
    cacheReadInputTokens: cacheRead,
    cacheCreationInputTokens: cacheCreation,
    model,
  };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : 0;
}

/**
 * What a tool call failed with (`PostToolUseFailure`): an `AbortError` when it was interrupted, a
 * `SubagentError` for an `Agent` tool call, else the CLI's message, a string that names no error
 * class (`error.type` `_OTHER`).
 */
function toolError(input: ToolHookInput): unknown {
  const message = typeof input.error === 'string' && input.error !== '' ? input.error : 'the tool call failed';
  if (input.is_interrupt === true) return abortError(message);
  return SPAWNING_TOOLS.has(input.tool_name ?? '') ? subagentError(message) : message;
}

/** An `Agent` tool call that completed with a subagent that did not (`PostToolUse` with a status other than `completed`). */
function agentToolError(input: ToolHookInput): unknown {
  if (!SPAWNING_TOOLS.has(input.tool_name ?? '')) return undefined;
  const status = input.tool_response?.status;
  return status === undefined || status === 'completed' || status === 'async_launched'
    ? undefined
    : subagentError(`the subagent ended with status ${typeof status === 'string' ? status : typeof status}`);
}

/** A subagent that failed: `error.type` is `SubagentError`, the message is the SDK's. */
function subagentError(message: string): Error {
  const error = new Error(message);
  error.name = 'SubagentError';
  return error;
}

export function abortError(message: string): Error {
  const error = new Error(message);
  error.name = 'AbortError';
  return error;
}
