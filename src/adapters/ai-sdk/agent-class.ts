import { AsyncLocalStorage } from 'node:async_hooks';
import type { ModelCall } from '../../index.js';
import { createLogger, safeCall } from '../../log.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import { callLimitsOf, holdModelCall, responseFormatOf } from './call-limits.js';
import type { AiSdkInstrumentationOptions, AiSdkRunInfo } from './options.js';
import { isAbortError, pricedUsage, runSpecFor, trackToolCall } from './recording.js';

const logger = createLogger('ai-sdk');

// Loose views of the AI SDK 5 and 6 agent classes: only what the adapter reads or passes on.
type Callback = (...args: never[]) => unknown;
type ToolSet = Record<string, unknown>;
interface CallOptions {
  tools?: ToolSet;
  experimental_telemetry?: { functionId?: string };
  prepareStep?: Callback;
  experimental_prepareStep?: Callback;
  onStepFinish?: Callback;
  onFinish?: Callback;
  onError?: Callback;
  onAbort?: Callback;
  [key: string]: unknown;
}
interface AgentSettings extends CallOptions {
  id?: unknown;
  model?: unknown;
}
interface Agent {
  readonly settings?: AgentSettings;
  readonly id?: unknown;
}
type AgentMethod = (this: Agent, options?: CallOptions) => unknown;
interface AgentPrototype {
  generate: AgentMethod;
  stream: AgentMethod;
  /** AI SDK 6 merges the constructor's `onStepFinish` with the call's itself; AI SDK 5 lets the call's replace it. */
  mergeOnStepFinishCallbacks?: unknown;
}
/** `ToolLoopAgent` (AI SDK 6) or `Experimental_Agent` (AI SDK 5). */
export interface AgentClass {
  readonly prototype: object;
}
interface StepResult {
  usage?: { inputTokens?: number; outputTokens?: number };
  response?: { modelId?: string };
}
/** What the SDK passes `prepareStep`, and what a `prepareStep` may return: the fields that shape the step's request. */
interface StepInput {
  model?: unknown;
  messages?: unknown;
}
interface StepOverrides {
  model?: unknown;
  system?: unknown;
  messages?: unknown;
  activeTools?: unknown;
  maxOutputTokens?: unknown;
  providerOptions?: unknown;
}
/** The module's `asSchema`: a tool's input schema (Zod, JSON Schema) as the JSON Schema the SDK sends. */
export type AsSchema = (schema: unknown) => { jsonSchema: unknown };

/** One instrumentation of the agent class: how it turns a call into a recorded one. */
interface Layer {
  generate(agent: Agent, options: CallOptions, next: (options: CallOptions) => unknown): unknown;
  stream(agent: Agent, options: CallOptions, next: (options: CallOptions) => unknown): unknown;
}

/** The original methods and the installed layers, kept on the prototype so that every install shares one wrapper. */
interface ClassState {
  readonly generate: AgentMethod;
  readonly stream: AgentMethod;
  readonly layers: Layer[];
}
const STATE = Symbol.for('agentmetry.ai-sdk.agentClass');
type Instrumented = AgentPrototype & { [STATE]?: ClassState };

/**
 * Wraps `generate` and `stream` of the AI SDK 5/6 agent class (the prototype methods, never the
 * module's exports) so that every agent call is an agentmetry run. Returns the function that
 * removes this install; the original methods come back once no install is left.
 */
export function instrumentAgentClass(agentClass: AgentClass, meter: Meter, options: AiSdkInstrumentationOptions, asSchema?: AsSchema): () => void {
  const prototype = agentClass.prototype as Instrumented;
  let state = prototype[STATE];
  if (state === undefined) {
    const installed: ClassState = { generate: prototype.generate, stream: prototype.stream, layers: [] };
    state = installed;
    Object.defineProperty(prototype, STATE, { value: installed, configurable: true });
    define(prototype, 'generate', function (this: Agent, callOptions?: CallOptions) {
      return dispatch(installed, 'generate', this, callOptions);
    });
    define(prototype, 'stream', function (this: Agent, callOptions?: CallOptions) {
      return dispatch(installed, 'stream', this, callOptions);
    });
  }
  const layer = createLayer(meter, options, asSchema);
  const owner = state;
  owner.layers.push(layer);
  return () => {
    const index = owner.layers.indexOf(layer);
    if (index < 0) return;
    owner.layers.splice(index, 1);
    if (owner.layers.length > 0 || prototype[STATE] !== owner) return;
    define(prototype, 'generate', owner.generate);
    define(prototype, 'stream', owner.stream);
    Reflect.deleteProperty(prototype, STATE);
  };
}

function define(prototype: AgentPrototype, name: 'generate' | 'stream', method: AgentMethod): void {
  Object.defineProperty(prototype, name, { value: method, writable: true, configurable: true, enumerable: false });
}

/** Runs the call through every installed layer, the first outermost, then the original method. */
function dispatch(state: ClassState, method: 'generate' | 'stream', agent: Agent, callOptions: CallOptions | undefined): unknown {
  const original = (options: CallOptions) => state[method].call(agent, options);
  const call = state.layers.reduceRight<(options: CallOptions) => unknown>((next, layer) => (options) => layer[method](agent, options, next), original);
  return call(callOptions ?? {});
}

/** A tool execution in progress: an agent call started inside it is a subagent. */
interface ToolFrame {
  readonly toolName: string;
}

/** One agent call that the adapter records as a run. */
interface Call {
  /** Settles once admission is decided: the handle, or `undefined` when refused or unobserved. */
  admission: Promise<RunHandle | undefined>;
  handle: RunHandle | undefined;
  /** Set when the core refused the run: thrown before the call's first model request. */
  refusal: { error: unknown } | undefined;
  /** The options the SDK receives: the app's, with the callbacks and tools that record the run. */
  options: CallOptions;
  /** The worst case held for the step in progress (its model call), until the step's usage is known. */
  held: ModelCall | undefined;
}

/** Marks a tool's execution, the same fact for every layer: one storage (see `integration.ts`). */
const toolFrames = new AsyncLocalStorage<ToolFrame>();

function createLayer(meter: Meter, options: AiSdkInstrumentationOptions, asSchema: AsSchema | undefined): Layer {
  const topLevel = options.topLevel ?? true;

  /** Opens the run of one agent call; a call that is not recorded gets no handle. */
  const begin = (agent: Agent, callOptions: CallOptions, operationId: string): Call | undefined => {
    const frame = toolFrames.getStore();
    if (frame === undefined && !topLevel) {
      // Not recorded, but its tools still mark their frames: an agent started in one is a subagent.
      const tools = callOptions.tools ?? agent.settings?.tools;
      const unrecorded: Call = { handle: undefined, refusal: undefined, admission: Promise.resolve(undefined), options: callOptions, held: undefined };
      if (tools !== undefined) unrecorded.options = { ...callOptions, tools: trackTools(tools, unrecorded) };
      return unrecorded;
    }
    const settings = agent.settings ?? {};
    const model = callOptions.model ?? settings.model;
    const info: AiSdkRunInfo = {
      functionId: (callOptions.experimental_telemetry ?? settings.experimental_telemetry)?.functionId,
      agentId: stringOrUndefined(agent.id ?? settings.id),
      toolName: frame?.toolName,
      operationId,
      provider: typeof model === 'string' ? 'gateway' : (stringOrUndefined((model as { provider?: unknown } | undefined)?.provider) ?? ''),
      modelId: typeof model === 'string' ? model : (stringOrUndefined((model as { modelId?: unknown } | undefined)?.modelId) ?? ''),
    };
    const call: Call = { handle: undefined, refusal: undefined, options: callOptions, admission: Promise.resolve(undefined), held: undefined };
    // The options first: if building them threw, no run would be left open.
    call.options = recordingOptions(agent, callOptions, call, operationId === 'ai.streamText');
    call.admission = openRun(meter, runSpecFor(logger, options, info), logger).then(
      (handle) => (call.handle = handle),
      (error: unknown) => {
        call.refusal = { error };
        return undefined;
      },
    );
    return call;
  };

  /** The call's options with the callbacks that record turns, usage and the end, and the tools that record tool calls. */
  const recordingOptions = (agent: Agent, callOptions: CallOptions, call: Call, streaming: boolean): CallOptions => {
    const settings = agent.settings ?? {};
    const own = <K extends keyof CallOptions>(key: K): CallOptions[K] => callOptions[key] ?? settings[key];
    const prepareStep = own('prepareStep') ?? own('experimental_prepareStep');
    const sdkMergesStepCallbacks = typeof (Object.getPrototypeOf(agent) as AgentPrototype).mergeOnStepFinishCallbacks === 'function';
    const onStepFinish = sdkMergesStepCallbacks ? callOptions.onStepFinish : own('onStepFinish');
    const onFinish = own('onFinish');
    const onError = own('onError');
    const onAbort = own('onAbort');
    const tools = own('tools');
    const end = (error?: unknown) => endCall(call, error);

    /**
     * Holds the worst case of the step's model call (`maxOutputTokens` and a bound on the request
     * the step sends: instructions, messages, active tools' schemas) before the call. Throws the
     * refusal of a call that does not fit; `undefined` when nothing is held.
     */
    const holdStep = (handle: RunHandle, input: StepInput | undefined, overrides: StepOverrides | undefined): Promise<ModelCall | undefined> =>
      holdModelCall(logger, handle.run, async () => {
        const model = overrides?.model ?? input?.model ?? own('model');
        const active = overrides?.activeTools ?? own('activeTools');
        return callLimitsOf(logger, options, {
          provider: typeof model === 'string' ? 'gateway' : (model as { provider?: unknown } | undefined)?.provider,
          modelId: typeof model === 'string' ? model : (model as { modelId?: unknown } | undefined)?.modelId,
          instructions: overrides?.system ?? own('system') ?? own('instructions'),
          messages: overrides?.messages ?? input?.messages,
          tools: await toolDefinitions(tools, Array.isArray(active) ? (active as unknown[]) : undefined, asSchema),
          maxOutputTokens: overrides?.maxOutputTokens ?? own('maxOutputTokens'),
          extras: [await responseFormatOf(own('experimental_output') ?? own('output')), overrides?.providerOptions ?? own('providerOptions')],
        });
      });
    const recording: CallOptions = {
      ...callOptions,
      ...(tools !== undefined ? { tools: trackTools(tools, call) } : {}),
      // Called before every step: the run's turn, and the place where a refusal or a stopped run ends the call before its model request.
      prepareStep: async (...args: never[]) => {
        const handle = call.handle ?? (await call.admission);
        if (call.refusal !== undefined) throw call.refusal.error;
        if (handle !== undefined) {
          safeCall(logger, 'recording a turn', () => handle.run.recordTurn());
          if (handle.run.signal.aborted) throw handle.run.signal.reason;
        }
        const overrides = (await prepareStep?.(...args)) as StepOverrides | undefined;
        if (handle !== undefined) {
          releaseHold(call);
          call.held = await holdStep(handle, (args as unknown[])[0] as StepInput | undefined, overrides);
        }
        return overrides;
      },
      onStepFinish: (step: StepResult, ...rest: never[]) => {
        safeCall(logger, 'the onStepFinish handler', () => {
          const run = call.handle?.run;
          if (run === undefined) return;
          // Through the step's hold when it was held (the rest of its worst case goes back), else on the run.
          const usage = pricedUsage(logger, options, step.usage, step.response?.modelId);
          const held = call.held;
          call.held = undefined;
          if (held !== undefined) held.settle(usage);
          else run.recordUsage(usage);
        });
        return (onStepFinish as ((step: StepResult, ...rest: never[]) => unknown) | undefined)?.(step, ...rest);
      },
    };
    if (!streaming) return recording; // `generate` ends its run when its promise settles.
    // A stream's run ends with one of these.
    return {
      ...recording,
      onFinish: (...args: never[]) => {
        end();
        return onFinish?.(...args);
      },
      onError: (event: { error?: unknown }, ...rest: never[]) => {
        end(event.error ?? new Error('AI SDK call failed'));
        if (onError !== undefined) return (onError as (event: unknown, ...rest: never[]) => unknown)(event, ...rest);
        // streamText's own default, which passing onError replaces.
        console.error(event.error);
        return undefined;
      },
      onAbort: (...args: never[]) => {
        end(abortError());
        return onAbort?.(...args);
      },
    };
  };

  /** Copies of the tools whose `execute` marks the tool frame, enters the run's context and records the tool call. */
  const trackTools = (tools: ToolSet, call: Call): ToolSet => {
    const tracked: ToolSet = {};
    for (const [toolName, tool] of Object.entries(tools)) {
      const execute = (tool as { execute?: unknown } | undefined)?.execute;
      if (typeof execute !== 'function') {
        tracked[toolName] = tool;
        continue;
      }
      const frame: ToolFrame = { toolName };
      const copy = Object.assign(Object.create(Object.getPrototypeOf(tool) as object | null) as object, tool) as Record<string, unknown>;
      copy.execute = function (this: unknown, ...args: unknown[]) {
        const runTool = () =>
          trackToolCall(logger, call.handle?.run, toolName, () => toolFrames.run(frame, () => (execute as Callback).apply(this, args as never[])));
        return call.handle !== undefined ? call.handle.enter(runTool) : runTool();
      };
      tracked[toolName] = copy;
    }
    return tracked;
  };

  return {
    async generate(agent, callOptions, next) {
      const call = safeCall(logger, 'starting a run', () => begin(agent, callOptions, 'ai.generateText'));
      if (call === undefined) return next(callOptions);
      const handle = await call.admission;
      // A refusal fails the call before any model request: inside a tool, the parent model gets it as a tool error.
      if (call.refusal !== undefined) throw call.refusal.error;
      if (handle === undefined) return next(call.options);
      try {
        const result = await handle.enter(() => next(call.options));
        handle.end();
        return result;
      } catch (error) {
        // A step that failed reported no usage: what its model call held goes back.
        releaseHold(call);
        if (isAbortError(error)) handle.abort(error);
        else handle.end(error ?? new Error('AI SDK call failed'));
        throw error;
      }
    },

    stream(agent, callOptions, next) {
      // AI SDK 5 returns the stream at once: admission is awaited by the first step instead.
      const call = safeCall(logger, 'starting a run', () => begin(agent, callOptions, 'ai.streamText'));
      if (call === undefined) return next(callOptions);
      // Until the SDK has set the stream up, none of its callbacks can end the run: a call it
      // refuses there (AI SDK 5 throws, AI SDK 6 rejects) ends the run here.
      let result: unknown;
      try {
        result = next(call.options);
      } catch (error) {
        endCall(call, error ?? new Error('AI SDK call failed'));
        throw error;
      }
      if (!(result instanceof Promise)) return result;
      // The SDK's own rejection, passed on as it is, so that the app still sees it if unhandled.
      return result.then(undefined, (error: unknown) => {
        endCall(call, error ?? new Error('AI SDK call failed'));
        throw error;
      });
    },
  };
}

/** Gives back what the call's step in progress held, its usage unknown (the step failed, or the call ended without finishing it). */
function releaseHold(call: Call): void {
  const held = call.held;
  call.held = undefined;
  held?.settle();
}

/**
 * The tool definitions a step sends, as the SDK makes them from the tools (the active ones):
 * name, description and input schema as JSON Schema. Empty without tools; `undefined` (no bound)
 * when a schema cannot be converted here.
 */
async function toolDefinitions(tools: ToolSet | undefined, active: unknown[] | undefined, asSchema: AsSchema | undefined): Promise<unknown[] | undefined> {
  const definitions: unknown[] = [];
  for (const [name, tool] of Object.entries(tools ?? {})) {
    if (active !== undefined && !active.includes(name)) continue;
    const { description, inputSchema, parameters } = (tool ?? {}) as { description?: unknown; inputSchema?: unknown; parameters?: unknown };
    const schema = inputSchema ?? parameters;
    if (schema === undefined) {
      definitions.push({ name, description, tool });
      continue;
    }
    if (asSchema === undefined) return undefined;
    definitions.push({ type: 'function', name, description, inputSchema: await asSchema(schema).jsonSchema });
  }
  return definitions;
}

/** Ends the call's run with `error` (as aborted when it is an abort), once admission is decided; a call never admitted has nothing to end. */
function endCall(call: Call, error?: unknown): void {
  releaseHold(call);
  const finish = (handle: RunHandle | undefined) => handle && (isAbortError(error) ? handle.abort(error) : handle.end(error));
  if (call.handle !== undefined) finish(call.handle);
  else void call.admission.then(finish); // never rejects
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function abortError(): Error {
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}
