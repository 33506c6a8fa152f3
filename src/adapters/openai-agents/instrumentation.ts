import { createLogger, safeCall } from '../../log.js';
import { Agent, Runner, addTraceProcessor, defineToolInputGuardrail, getCurrentSpan } from '@openai/agents';
import type { RunSpec } from '../../index.js';
import { priceUsage } from '../shared/pricing.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import type { Frame } from './frame.js';
import type { OpenAIAgentsInstrumentationOptions, OpenAIAgentsRunInfo } from './options.js';
import { AgentMeterTraceProcessor } from './trace-processor.js';
import { StoragePool } from '../shared/storage-pool.js';

const logger = createLogger('openai-agents');
const GUARDRAIL_NAME = 'agentmeter.quota';

// Loose views of the SDK objects touched here.
interface AgentLike {
  name: string;
  model?: unknown;
}
interface ToolCallLike {
  callId?: string;
  arguments?: string;
}
interface ToolCallDetailsLike {
  toolCall?: ToolCallLike;
  /** The calling run's signal. */
  signal?: AbortSignal;
}
interface RunContextLike {
  isToolApproved?(approval: { toolName: string; callId: string }): boolean | undefined;
}
type Invoke = (runContext: RunContextLike, input: string, details?: ToolCallDetailsLike) => Promise<unknown>;
interface AgentToolLike {
  name: string;
  invoke: Invoke;
  needsApproval?: (runContext: RunContextLike, input: unknown, callId?: string) => Promise<boolean>;
  inputGuardrails?: unknown[];
}
type AsTool = (this: AgentLike, ...args: unknown[]) => AgentToolLike;
interface RunOptionsLike {
  stream?: boolean;
  signal?: AbortSignal;
}
interface StreamedResultLike {
  completed?: Promise<unknown>;
  error?: unknown;
}
type RunnerRun = (this: unknown, agent: AgentLike, input: unknown, options?: RunOptionsLike) => Promise<unknown>;

/** A quota refusal, or the admitted run's handle (`undefined`: the run goes unrecorded, see `openRun`). */
type Admission = { handle: RunHandle | undefined } | { refusal: unknown };

/**
 * Wires one `AgentMeter` into the OpenAI Agents SDK.
 *
 * Control flow: `Agent.prototype.asTool` is wrapped so that every agent tool created from
 * then on carries a tool input guardrail, which admits the subagent's run (a quota refusal
 * becomes `rejectContent`, so the parent model receives it as the tool's output), and an
 * `invoke` wrapper, which runs the subagent inside that run. `Runner.prototype.run` is wrapped
 * to record top-level runs and to catch the error a subagent's own run rejects with (the SDK
 * hands the parent model a generic tool error instead). Observation: a trace processor feeds
 * turns and tokens.
 */
/** Frames' storages of uninstalled instrumentations, for the next install (see `StoragePool`). */
const framePool = new StoragePool<Frame>();

export class OpenAIAgentsInstrumentation {
  readonly #meter: Meter;
  readonly #options: OpenAIAgentsInstrumentationOptions;
  readonly #frames = framePool.take();
  /** Runs admitted by the guardrail and not yet claimed by `invoke`, per run context and call id; `null` for one left unrecorded. */
  readonly #admitted = new WeakMap<object, Map<string, RunHandle | null>>();
  readonly #processor: AgentMeterTraceProcessor;
  #active = true;
  #restore: Array<() => void> = [];

  constructor(meter: Meter, options: OpenAIAgentsInstrumentationOptions = {}) {
    this.#meter = meter;
    this.#options = options;
    this.#processor = new AgentMeterTraceProcessor(this.#frames, (frame, tokens) => {
      const costUsd = priceUsage(logger, options.costUsd, { inputTokens: tokens.input, outputTokens: tokens.output, model: frame.model });
      frame.handle.run.recordUsage({
        inputTokens: tokens.input,
        outputTokens: tokens.output,
        ...(costUsd !== undefined ? { costUsd } : {}),
      });
    });
  }

  install(): void {
    addTraceProcessor(this.#processor);
    this.#patchAsTool();
    this.#patchRunnerRun();
  }

  uninstall(): void {
    this.#active = false;
    this.#processor.disable();
    for (const restore of this.#restore.reverse()) restore();
    this.#restore = [];
    framePool.give(this.#frames);
  }

  #patchAsTool(): void {
    const prototype = Agent.prototype as unknown as { asTool: AsTool };
    const original = prototype.asTool;
    const instrument = (agentTool: AgentToolLike, agent: AgentLike): void => {
      if (!this.#active) return;
      try {
        this.#instrumentAgentTool(agentTool, agent);
      } catch (error) {
        logger.error('instrumenting an agent tool failed', error);
      }
    };
    // A function, not an arrow: it runs as the agent's method, with the agent as `this`.
    const patched: AsTool = function (this: AgentLike, ...args: unknown[]) {
      const agentTool = original.apply(this, args);
      instrument(agentTool, this);
      return agentTool;
    };
    prototype.asTool = patched;
    this.#restore.push(() => {
      if (prototype.asTool === patched) prototype.asTool = original;
    });
  }

  #patchRunnerRun(): void {
    const prototype = Runner.prototype as unknown as { run: RunnerRun };
    const original = prototype.run;
    const run = (runner: unknown, agent: AgentLike, input: unknown, options: RunOptionsLike | undefined): Promise<unknown> => {
      if (!this.#active) return original.call(runner, agent, input, options);
      const frame = this.#frames.getStore();
      if (frame?.awaitingOwnRun) {
        // The agent tool's own run: already admitted by the guardrail and open.
        frame.awaitingOwnRun = false;
        return original.call(runner, agent, input, withSignal(options, frame.handle.run.signal)).catch((error: unknown) => {
          frame.failure = { error };
          throw error;
        });
      }
      if (this.#options.topLevel === false) return original.call(runner, agent, input, options);
      return this.#runTopLevel(agent, (signal) => original.call(runner, agent, input, signal === undefined ? options : withSignal(options, signal)), options);
    };
    // A function, not an arrow: it runs as the runner's method, and passes the runner on as `this`.
    const patched: RunnerRun = function (this: unknown, agent, input, options) {
      return run(this, agent, input, options);
    };
    prototype.run = patched;
    this.#restore.push(() => {
      if (prototype.run === patched) prototype.run = original;
    });
  }

  async #runTopLevel(agent: AgentLike, start: (signal: AbortSignal | undefined) => Promise<unknown>, options: RunOptionsLike | undefined): Promise<unknown> {
    const info = runInfo(agent, undefined);
    const admission = await this.#admit(info);
    if ('refusal' in admission) throw admission.refusal;
    const { handle } = admission;
    if (handle === undefined) return start(undefined);
    const frame = newFrame(handle, info.model, false);
    let result: unknown;
    try {
      result = await handle.enter(() => this.#frames.run(frame, () => start(handle.run.signal)));
    } catch (error) {
      endFailed(handle, error, options?.signal);
      throw error;
    }
    const completed = options?.stream ? (result as StreamedResultLike | undefined)?.completed : undefined;
    if (completed !== undefined) {
      // A streamed run goes on after run() returns; it ends when its stream completes.
      completed.then(
        () => endFailed(handle, (result as StreamedResultLike).error ?? undefined, options?.signal),
        (error: unknown) => endFailed(handle, error, options?.signal),
      );
    } else {
      handle.end();
    }
    return result;
  }

  #instrumentAgentTool(agentTool: AgentToolLike, agent: AgentLike): void {
    const info = runInfo(agent, agentTool.name);
    const originalInvoke = agentTool.invoke;
    agentTool.inputGuardrails = [
      ...(agentTool.inputGuardrails ?? []),
      defineToolInputGuardrail({
        name: GUARDRAIL_NAME,
        run: async ({ context, toolCall }) => {
          try {
            return await this.#guard(agentTool, info, context, toolCall);
          } catch (error) {
            logger.error('quota guardrail failed; allowing the call', error);
            return { behavior: { type: 'allow' } };
          }
        },
      }),
    ];
    agentTool.invoke = async (runContext, input, details) => {
      if (!this.#active) return originalInvoke(runContext, input, details);
      let handle = this.#claim(runContext, details?.toolCall?.callId);
      if (handle === undefined) {
        // The guardrail did not run (removed, or the tool is invoked directly): admit here.
        const admission = await this.#admit(info);
        if ('refusal' in admission) {
          this.#processor.markFailed(currentSpanId(), admission.refusal);
          return this.#denialMessage(admission.refusal);
        }
        handle = admission.handle ?? null;
      }
      if (handle === null) return originalInvoke(runContext, input, details);
      const frame = newFrame(handle, info.model, true);
      let output: unknown;
      try {
        output = await handle.enter(() => this.#frames.run(frame, () => originalInvoke(runContext, input, details)));
      } catch (error) {
        this.#processor.markFailed(currentSpanId(), error);
        endFailed(handle, error, details?.signal);
        throw error;
      }
      // The SDK hands the parent model a generic tool error: the tool call failed with the subagent's error.
      if (frame.failure !== undefined) this.#processor.markFailed(currentSpanId(), frame.failure.error);
      endFailed(handle, frame.failure?.error, details?.signal);
      return output;
    };
  }

  /** The guardrail: admits the subagent's run before the tool is invoked, or rejects the call. */
  async #guard(agentTool: AgentToolLike, info: OpenAIAgentsRunInfo, context: RunContextLike, toolCall: ToolCallLike) {
    const callId = toolCall.callId;
    if (!this.#active || callId === undefined) return { behavior: { type: 'allow' as const } };
    if (await awaitsApproval(agentTool, context, toolCall)) {
      // Guardrails also run before a human approves the call; admit only the approved run.
      return { behavior: { type: 'allow' as const } };
    }
    const admission = await this.#admit(info);
    if ('refusal' in admission) {
      // The guardrail runs inside the tool call's `function` span: that call failed with the refusal.
      this.#processor.markFailed(currentSpanId(), admission.refusal);
      const refusal = admission.refusal as Record<string, unknown>;
      return {
        behavior: { type: 'rejectContent' as const, message: this.#denialMessage(admission.refusal) },
        outputInfo: { resource: refusal.resource, scope: refusal.scope, limit: refusal.limit, used: refusal.used, requested: refusal.requested },
      };
    }
    const { handle } = admission;
    let pending = this.#admitted.get(context);
    if (pending === undefined) this.#admitted.set(context, (pending = new Map<string, RunHandle | null>()));
    pending.set(callId, handle ?? null);
    // The SDK invokes the tool right after its last guardrail (this one) allows it. If that does
    // not happen (the run was cancelled meanwhile), end the run as aborted instead of leaking it.
    setImmediate(() => {
      if (pending.get(callId) !== (handle ?? null)) return;
      pending.delete(callId);
      const error = new Error('The tool call was cancelled before the subagent started');
      error.name = 'AbortError';
      handle?.abort(error);
    }).unref();
    return { behavior: { type: 'allow' as const } };
  }

  #claim(runContext: object, callId: string | undefined): RunHandle | null | undefined {
    if (callId === undefined) return undefined;
    const pending = this.#admitted.get(runContext);
    const handle = pending?.get(callId);
    if (handle !== undefined) pending!.delete(callId);
    return handle;
  }

  async #admit(info: OpenAIAgentsRunInfo): Promise<Admission> {
    const spec: RunSpec = {
      ...safeCall(logger, 'options.spec', () => this.#options.spec?.(info), 'warn'),
      name: safeCall(logger, 'options.name', () => this.#options.name?.(info), 'warn') ?? info.agentName,
    };
    if (info.model !== undefined && spec.model === undefined) spec.model = info.model;
    try {
      return { handle: await openRun(this.#meter, spec, logger) };
    } catch (refusal) {
      return { refusal };
    }
  }

  #denialMessage(refusal: unknown): string {
    const error = refusal instanceof Error ? refusal : new Error(String(refusal));
    return safeCall(logger, 'options.denialMessage', () => this.#options.denialMessage?.(error), 'warn') ?? error.message;
  }
}

/** The id of the SDK's current tracing span (inside a tool call, its `function` span). */
function currentSpanId(): string | undefined {
  try {
    return getCurrentSpan()?.spanId;
  } catch {
    return undefined;
  }
}

function runInfo(agent: AgentLike, toolName: string | undefined): OpenAIAgentsRunInfo {
  return { agentName: agent.name, toolName, model: typeof agent.model === 'string' && agent.model !== '' ? agent.model : undefined };
}

/** Ends a run: `aborted` when it failed after the caller's signal fired, else from its error (`ok` without one). */
function endFailed(handle: RunHandle, error: unknown, callerSignal: AbortSignal | undefined): void {
  if (error !== undefined && callerSignal?.aborted === true) handle.abort(error);
  else handle.end(error);
}

function newFrame(handle: RunHandle, model: string | undefined, awaitingOwnRun: boolean): Frame {
  return { handle, model, awaitingOwnRun, failure: undefined, taskSpanId: undefined };
}

/** Adds the run's signal to the SDK run options, so that a timeout or a quota stop ends the agent run. */
function withSignal<T extends RunOptionsLike>(options: T | undefined, signal: AbortSignal): T {
  const signals = options?.signal !== undefined ? [options.signal, signal] : [signal];
  return { ...options, signal: signals.length === 1 ? signal : AbortSignal.any(signals) } as T;
}

async function awaitsApproval(agentTool: AgentToolLike, context: RunContextLike, toolCall: ToolCallLike): Promise<boolean> {
  if (typeof agentTool.needsApproval !== 'function') return false;
  let input: unknown = toolCall.arguments;
  try {
    input = JSON.parse(toolCall.arguments ?? '');
  } catch {
    // The SDK reports malformed arguments itself; judge approval on the raw string.
  }
  if (!(await agentTool.needsApproval(context, input, toolCall.callId))) return false;
  return context.isToolApproved?.({ toolName: agentTool.name, callId: toolCall.callId ?? '' }) !== true;
}
