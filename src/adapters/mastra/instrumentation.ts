import { performance } from 'node:perf_hooks';
import { Agent } from '@mastra/core/agent';
import { isObject } from '../../is-object.js';
import { createLogger, safeCall } from '../../log.js';
import type { RunSpec } from '../../index.js';
import { priceUsage } from '../shared/pricing.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import { newFrame, type Delegation, type Frame } from './frame.js';
import {
  ROUTING_AGENT_ID,
  WORKFLOW_TOOL_PREFIX,
  delegatedName,
  toolCallKey,
  type AgentLike,
  type DelegationComplete,
  type DelegationLike,
  type DelegationStart,
  type ExecutionOptions,
  type Hook,
  type Method,
  type MethodName,
  type NetworkStreamLike,
  type StepLike,
  type ToolHookContext,
  type ToolHooksLike,
  type UsageLike,
} from './mastra-types.js';
import type { MastraInstrumentationOptions, MastraRunInfo } from './options.js';
import { StoragePool } from '../shared/storage-pool.js';

const logger = createLogger('mastra');

/**
 * Wires one `AgentMeter` into Mastra.
 *
 * `Agent.prototype.generate`, `.stream` and `.network` are wrapped (the class prototype, never a
 * module export). Each call runs inside an agentmetry run, with Mastra's own per-call hooks added to its
 * options and merged with the app's (the call's own, else the agent's `defaultOptions` and
 * `hooks`, which still run, first for the gates): `delegation.onDelegationStart` admits the
 * delegated agent's run before Mastra calls it, and a quota refusal becomes
 * `{ proceed: false, rejectionReason }`, which Mastra returns to the delegating model as the
 * tool's result; `onStepFinish` counts a turn and its usage per step; `beforeToolCall` and
 * `afterToolCall` time each tool call; `onFinish`, `onError` and `onAbort` end a streamed run.
 * The delegated agent's own `generate`/`stream` finds its admitted run by the request context
 * Mastra hands to both. A workflow tool (`workflow-<key>`) is admitted and ended by the tool
 * hooks. An agent called inside another's call (a tool's body, a network's step) finds its
 * parent in the adapter's async context.
 */
/** Frames' storages of uninstalled instrumentations, for the next install (see `StoragePool`). */
const framePool = new StoragePool<Frame>();

export class MastraInstrumentation {
  readonly #meter: Meter;
  readonly #options: MastraInstrumentationOptions;
  readonly #frames = framePool.take();
  /** Delegated runs admitted and not yet taken over by the delegated agent's call, by the request context Mastra passes it (`null`: unrecorded). */
  readonly #delegated = new WeakMap<object, Delegation | null>();
  #active = true;
  #restore: Array<() => void> = [];

  constructor(meter: Meter, options: MastraInstrumentationOptions) {
    this.#meter = meter;
    this.#options = options;
  }

  install(): void {
    this.#patch('generate', (original) => (agent, messages, options) => this.#call('generate', original, agent, messages, options));
    this.#patch('stream', (original) => (agent, messages, options) => this.#call('stream', original, agent, messages, options));
    this.#patch('network', (original) => (agent, messages, options) => this.#network(original, agent, messages, options));
  }

  uninstall(): void {
    this.#active = false;
    for (const restore of this.#restore.reverse()) restore();
    this.#restore = [];
    framePool.give(this.#frames);
  }

  #patch(
    name: MethodName | 'network',
    wrap: (original: Method) => (agent: AgentLike, messages: unknown, options: ExecutionOptions | undefined) => Promise<unknown>,
  ): void {
    const prototype = Agent.prototype as unknown as Record<typeof name, Method>;
    const original = prototype[name];
    if (typeof original !== 'function') throw new TypeError(`Agent.prototype.${name} is not a function in this @mastra/core`);
    const call = wrap(original);
    // A function, not an arrow: it runs as the agent's method, with the agent as `this`.
    const patched: Method = function (this: AgentLike, messages, options) {
      return call(this, messages, options);
    };
    prototype[name] = patched;
    this.#restore.push(() => {
      if (prototype[name] === patched) prototype[name] = original;
    });
  }

  async #call(method: MethodName, original: Method, agent: AgentLike, messages: unknown, options: ExecutionOptions | undefined): Promise<unknown> {
    if (!this.#active) return original.call(agent, messages, options);
    let handle: RunHandle | undefined;
    const key = options?.requestContext;
    const delegated = isObject(key) ? this.#delegated.get(key) : undefined;
    if (delegated !== undefined) {
      this.#delegated.delete(key as object);
      if (delegated !== null) {
        delegated.started = true;
        handle = delegated.handle;
      }
    } else {
      const parent = this.#frames.getStore();
      if (parent?.network === true && agent.id === ROUTING_AGENT_ID) {
        // A network's routing decision: its steps are the network's own turns and tokens.
        return this.#execute(method, original, agent, messages, options, parent.handle, false);
      }
      // Inside another agent's call (a tool or a network step that calls an agent), a nested run.
      if (parent !== undefined || this.#options.topLevel !== false) {
        // A refusal rejects the call, as agentmeter.run would.
        handle = await this.#admit(runInfo(agent, undefined), parent?.handle);
      }
    }
    // An unrecorded call still gets the delegation hooks: the agents it delegates to are recorded.
    return this.#execute(method, original, agent, messages, options, handle, true);
  }

  /**
   * An agent network (`agent.network()`) is a run of the agent whose network it is; the agents and
   * workflows its routing picks run inside it, so they nest under it. Its run ends when the
   * network's stream has ended. Mastra offers no delegation hook for a network: a quota that
   * refuses one of its agents fails that agent's call with the `QuotaExceededError`.
   */
  async #network(original: Method, agent: AgentLike, messages: unknown, options: ExecutionOptions | undefined): Promise<unknown> {
    if (!this.#active) return original.call(agent, messages, options);
    const parent = this.#frames.getStore();
    const handle = parent !== undefined || this.#options.topLevel !== false ? await this.#admit(runInfo(agent, undefined), parent?.handle) : undefined;
    const frame = newFrame(handle, true, true, agent);
    const signal = handle?.run.signal;
    const merged =
      signal === undefined
        ? options
        : { ...options, abortSignal: options?.abortSignal === undefined ? signal : AbortSignal.any([options.abortSignal, signal]) };
    const run = () => this.#frames.run(frame, () => original.call(agent, messages, merged));
    if (handle === undefined) return run();
    let stream: unknown;
    try {
      stream = await handle.enter(run);
    } catch (error) {
      end(handle, error);
      throw error;
    }
    try {
      const result = (stream as NetworkStreamLike | undefined)?.result;
      if (result === undefined) end(handle, undefined);
      else {
        result.then(
          (execution) => end(handle, execution?.status === 'failed' ? (execution.error ?? new Error('The agent network failed')) : undefined),
          (error: unknown) => end(handle, error),
        );
      }
    } catch (error) {
      logger.error('watching the end of an agent network failed; its run ends now', error);
      end(handle, undefined);
    }
    return stream;
  }

  async #execute(
    method: MethodName,
    original: Method,
    agent: AgentLike,
    messages: unknown,
    options: ExecutionOptions | undefined,
    handle: RunHandle | undefined,
    owned: boolean,
  ): Promise<unknown> {
    const frame = newFrame(handle, owned, false, agent);
    let merged = options;
    let hooked = true;
    try {
      merged = await this.#withHooks(frame, options);
    } catch (error) {
      // Mastra resolves the same default options next, and reports what failed here.
      hooked = false;
      logger.warn(
        `adding the hooks to agent '${agent.name ?? agent.id}' failed; its run is recorded without turns, tokens and delegations` +
          (method === 'stream' && handle !== undefined && owned ? ', and ends when its stream call returns, not when its stream ends' : ''),
        error,
      );
    }
    const run = () => this.#frames.run(frame, () => original.call(agent, messages, merged));
    if (handle === undefined) return run();
    if (!owned) return run();
    let result: unknown;
    try {
      result = await handle.enter(run);
    } catch (error) {
      end(handle, error);
      throw error;
    }
    // A generated run is over; a streamed one ends with its stream (onFinish, onError, onAbort),
    // or now when those hooks could not be added: nothing else would end it.
    if (method === 'generate' || !hooked) end(handle, undefined);
    return result;
  }

  /** The call's options with the adapter's hooks, each calling the app's own hook of the same name. */
  async #withHooks(frame: Frame, options: ExecutionOptions | undefined): Promise<ExecutionOptions> {
    const { agent, handle } = frame;
    // Mastra merges the call's options over the agent's defaults key by key: a hook given here
    // replaces the default one, so the adapter's hook calls whichever would have run.
    const defaults = (await agent.getDefaultOptions?.({ requestContext: options?.requestContext })) as ExecutionOptions | undefined;
    const own = <K extends 'onStepFinish' | 'onFinish' | 'onError' | 'onAbort'>(key: K) => options?.[key] ?? defaults?.[key];
    const delegation: DelegationLike = { ...defaults?.delegation, ...options?.delegation };
    const toolHooks: ToolHooksLike = { ...safeCall(logger, 'getConfiguredToolHooks', () => agent.getConfiguredToolHooks?.()), ...options?.hooks };
    const onStepFinish = own('onStepFinish');
    const onFinish = own('onFinish');
    const onError = own('onError');
    const onAbort = own('onAbort');
    const delegating = {
      ...options,
      delegation: {
        ...options?.delegation,
        onDelegationStart: (context: DelegationStart) => this.#delegationStart(frame, delegation.onDelegationStart, context),
        onDelegationComplete: (context: DelegationComplete) => this.#delegationComplete(frame, delegation.onDelegationComplete, context),
      },
      hooks: {
        ...options?.hooks,
        beforeToolCall: (context: ToolHookContext) => this.#beforeToolCall(frame, toolHooks.beforeToolCall, context),
        afterToolCall: (context: ToolHookContext) => this.#afterToolCall(frame, toolHooks.afterToolCall, context),
      },
    };
    if (handle === undefined) return delegating;
    const signal = handle.run.signal;
    const recording = {
      ...delegating,
      abortSignal: options?.abortSignal === undefined ? signal : AbortSignal.any([options.abortSignal, signal]),
      onStepFinish: (step: StepLike | undefined) => {
        safeCall(logger, 'onStepFinish', () => this.#recordStep(handle, step));
        return call(onStepFinish, step);
      },
    };
    if (!frame.owned) return recording;
    return {
      ...recording,
      onFinish: (result: { error?: unknown } | undefined) => {
        safeCall(logger, 'onFinish', () => end(handle, result?.error ?? undefined));
        return call(onFinish, result);
      },
      onError: (event: { error?: unknown } | undefined) => {
        safeCall(logger, 'onError', () => end(handle, event?.error ?? new Error('The agent call failed')));
        return call(onError, event);
      },
      onAbort: (event: unknown) => {
        safeCall(logger, 'onAbort', () => {
          // The app's own signal: the run is aborted. The run's (a quota stop, its timeout): the core says which.
          const caller = options?.abortSignal;
          if (caller?.aborted === true) handle.abort(caller.reason);
          else if (signal.aborted) handle.end(signal.reason);
          else handle.abort(abortError());
        });
        return call(onAbort, event);
      },
    };
  }

  /**
   * Admits the delegated agent's run as a child of the delegating run, after the app's own hook
   * (whose refusal wins, and whose error Mastra handles by its `hookErrorStrategy`).
   */
  async #delegationStart(frame: Frame, own: Hook | undefined, context: DelegationStart): Promise<unknown> {
    const result = await call(own, context);
    if (!this.#active || (result as { proceed?: unknown } | undefined)?.proceed === false) return result;
    try {
      const info: MastraRunInfo = {
        agentId: context.primitiveId,
        agentName: await delegatedName(frame.agent, context, logger),
        parentAgentName: context.parentAgentName,
        primitiveType: 'agent',
      };
      let handle: RunHandle | undefined;
      try {
        handle = await this.#admit(info, frame.handle);
      } catch (refusal) {
        // The agent-<key> tool call then returns the rejection: it is recorded as failed with the refusal.
        frame.refusals.set(context.toolCallId, refusal);
        return { ...(result as object | undefined), proceed: false, rejectionReason: this.#denialMessage(refusal) };
      }
      if (handle === undefined) {
        this.#delegated.set(context.requestContext, null);
        return result;
      }
      const delegation: Delegation = { handle, started: false };
      frame.delegations.set(context.toolCallId, delegation);
      this.#delegated.set(context.requestContext, delegation);
    } catch (error) {
      logger.error('onDelegationStart failed; the delegation goes on', error);
    }
    return result;
  }

  /** Ends a delegated run that its agent's own call did not take over (Mastra failed before calling it, or called a legacy method). */
  #delegationComplete(frame: Frame, own: Hook | undefined, context: DelegationComplete): unknown {
    safeCall(logger, 'onDelegationComplete', () => {
      const delegation = frame.delegations.get(context.toolCallId);
      frame.delegations.delete(context.toolCallId);
      if (delegation === undefined || delegation.started) return;
      const usage = context.result?.usage;
      if (usage !== undefined) this.#recordUsage(delegation.handle, usage, undefined);
      end(delegation.handle, context.error);
    });
    return call(own, context);
  }

  /**
   * Times a tool call from here to `afterToolCall`, after the app's own hook (whose
   * `proceed: false` wins: the tool then does not run). A workflow tool (`workflow-<key>`, an
   * agent's `workflows`) is a delegation too: its run is admitted here, and a quota refusal
   * skips the workflow, its output (`{ error: '[Delegation Rejected] <reason>' }`) going to the model
   * (Mastra then calls no `afterToolCall`: the call is recorded here, failed with the refusal).
   */
  async #beforeToolCall(frame: Frame, own: Hook | undefined, context: ToolHookContext): Promise<unknown> {
    const result = await call(own, context);
    if (!this.#active || (result as { proceed?: unknown } | undefined)?.proceed === false) return result;
    const key = toolCallKey(context);
    if (key === undefined) return result;
    if (context.toolName.startsWith(WORKFLOW_TOOL_PREFIX)) {
      const name = context.toolName.slice(WORKFLOW_TOOL_PREFIX.length);
      const info: MastraRunInfo = { agentId: name, agentName: name, parentAgentName: frame.agent.name || frame.agent.id, primitiveType: 'workflow' };
      try {
        const handle = await this.#admit(info, frame.handle);
        if (handle !== undefined) frame.workflows.set(key, handle);
      } catch (refusal) {
        safeCall(logger, 'beforeToolCall', () => frame.handle?.run.recordToolCall({ name: context.toolName, durationMs: 0, error: refusal }));
        return { proceed: false, output: { error: `[Delegation Rejected] ${this.#denialMessage(refusal)}` } };
      }
    }
    frame.toolStarts.set(key, performance.now());
    return result;
  }

  #afterToolCall(frame: Frame, own: Hook | undefined, context: ToolHookContext & { output?: unknown }): unknown {
    safeCall(logger, 'afterToolCall', () => {
      const key = toolCallKey(context);
      if (key === undefined) return;
      let failure = context.error;
      const workflow = frame.workflows.get(key);
      if (workflow !== undefined) {
        frame.workflows.delete(key);
        // A failed workflow is a tool output ({ error, runId }), not a throw.
        const failed = (context.output as { error?: unknown } | undefined)?.error;
        failure ??= typeof failed === 'string' ? new Error(failed) : undefined;
        end(workflow, failure);
      }
      const toolCallId = (context.context as { toolCallId?: unknown } | undefined)?.toolCallId;
      if (typeof toolCallId === 'string' && frame.refusals.has(toolCallId)) {
        failure ??= frame.refusals.get(toolCallId);
        frame.refusals.delete(toolCallId);
      }
      const started = frame.toolStarts.get(key);
      if (started === undefined) return;
      frame.toolStarts.delete(key);
      const durationMs = performance.now() - started;
      frame.handle?.run.recordToolCall({ name: context.toolName, durationMs, ...(failure !== undefined ? { error: failure } : {}) });
    });
    return call(own, context);
  }

  #recordStep(handle: RunHandle, step: StepLike | undefined): void {
    handle.run.recordTurn();
    const model = step?.response?.modelId;
    this.#recordUsage(handle, step?.usage, typeof model === 'string' && model !== '' ? model : undefined);
  }

  #recordUsage(handle: RunHandle, usage: UsageLike | undefined, model: string | undefined): void {
    const inputTokens = count(usage?.inputTokens);
    const outputTokens = count(usage?.outputTokens);
    const costUsd = priceUsage(logger, this.#options.costUsd, { inputTokens, outputTokens, model });
    handle.run.recordUsage({ inputTokens, outputTokens, ...(costUsd !== undefined ? { costUsd } : {}), ...(model !== undefined ? { model } : {}) });
  }

  /** Opens a run, nested in `parent` when given. Resolves `undefined` when it goes unrecorded; rejects with a quota refusal. */
  #admit(info: MastraRunInfo, parent: RunHandle | undefined): Promise<RunHandle | undefined> {
    const spec: RunSpec = {
      ...safeCall(logger, 'options.spec', () => this.#options.spec?.(info), 'warn'),
      name: safeCall(logger, 'options.name', () => this.#options.name?.(info), 'warn') ?? info.agentName,
    };
    // The parent's context makes the new run its child; outside any recorded run, the caller's
    // context (the app's own agentmeter.run, if any) is the parent.
    return parent === undefined ? openRun(this.#meter, spec, logger) : parent.enter(() => openRun(this.#meter, spec, logger));
  }

  #denialMessage(refusal: unknown): string {
    const error = refusal instanceof Error ? refusal : new Error(String(refusal));
    return safeCall(logger, 'options.denialMessage', () => this.#options.denialMessage?.(error), 'warn') ?? error.message;
  }
}

/** Calls the app's hook, if any: its result and its error are Mastra's business. */
function call(hook: Hook | undefined, argument: unknown): unknown {
  return typeof hook === 'function' ? (hook as (argument: unknown) => unknown)(argument) : undefined;
}

/** Ends a run: `aborted` for a cancellation, otherwise `ok` or the outcome the core derives from the error. */
function end(handle: RunHandle, error: unknown): void {
  if (error !== undefined && isAbortError(error)) handle.abort(error);
  else handle.end(error);
}

function runInfo(agent: AgentLike, parentAgentName: string | undefined): MastraRunInfo {
  return { agentId: agent.id, agentName: agent.name || agent.id, parentAgentName, primitiveType: 'agent' };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function isAbortError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null | undefined)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

function abortError(): Error {
  const error = new Error('The agent call was aborted');
  error.name = 'AbortError';
  return error;
}
