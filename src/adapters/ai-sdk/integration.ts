import { AsyncLocalStorage } from 'node:async_hooks';
import { createLogger, safeCall } from '../../log.js';
import type { ModelCall, Run, Usage } from '../../index.js';
import type { Telemetry } from 'ai';
import { checkAdapterOptions } from '../shared/options.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import { AI_SDK_OPTION_TYPES, type AiSdkInstrumentationOptions, type AiSdkRunInfo } from './options.js';
import { callLimitsOf, holdModelCall, responseFormatOf } from './call-limits.js';
import { isAbortError, pricedUsage, runSpecFor, trackToolCall } from './recording.js';

const logger = createLogger('ai-sdk');

/** The text operations that can be an agent; embeddings, reranking and speech are not. */
const AGENT_OPERATIONS = new Set(['ai.generateText', 'ai.streamText']);

/** A tool execution in progress: a text operation started inside it is a subagent. */
interface ToolFrame {
  readonly toolName: string;
}

/** One `generateText`/`streamText` call that the adapter records as a run. */
interface Operation {
  /** Settles once admission is decided: the handle, or `undefined` when refused or unobserved. */
  readonly admission: Promise<RunHandle | undefined>;
  handle: RunHandle | undefined;
  /** Set when the core refused the run; thrown into the call's first model request. */
  refusal: { error: unknown } | undefined;
  /** The worst case held for the model call in progress (`callLimits`), until its usage is known. */
  held: ModelCall | undefined;
  /** The step's model call reported its usage (`onLanguageModelCallEnd`): the step's end records none. */
  callUsageRecorded: boolean;
  /** What the step's request carries beyond its prompt and tools (from `onStepStart`), for the bound. */
  stepExtras: { output?: unknown; providerOptions?: unknown } | undefined;
}

// Loose views of the event fields used here: the SDK's event unions are wide and generic.
interface StartEvent {
  callId: string;
  operationId?: string;
  provider?: string;
  modelId?: string;
  functionId?: string;
}
interface StepEndEvent {
  callId?: string;
  usage?: { inputTokens?: number; outputTokens?: number };
  model?: { modelId?: string };
}
interface CallEndEvent {
  callId?: string;
  usage?: { inputTokens?: number; outputTokens?: number };
  modelId?: string;
}
interface CallEvent {
  callId?: string;
}
interface ErrorEvent {
  callId?: string;
  error?: unknown;
}
interface AbortEvent {
  callId?: string;
  reason?: unknown;
}

/**
 * The AI SDK v7 telemetry integration behind `instrumentAiSdk`.
 *
 * Observation comes from the lifecycle callbacks (`onStart`, `onStepStart`, `onStepEnd`,
 * `onEnd`, `onError`, `onAbort`, `onLanguageModelCallEnd`); control flow from the two wrappers
 * the SDK runs work through: `executeTool` marks the tool execution (a call started inside it is
 * a subagent), enters the calling run's context and records the tool call on that run;
 * `executeLanguageModelCall` holds the first model request until admission and throws the
 * quota's refusal into it, which the parent model then receives as a tool error, and holds each
 * request's worst case (`maxOutputTokens` and a bound on its input) until its usage is known.
 */
/**
 * Marks a tool's execution: a call started inside it is a subagent. One storage for every
 * integration, since being inside a tool is the same fact for each (and on Node 20 every storage
 * ever entered costs every promise in the process).
 */
const toolFrames = new AsyncLocalStorage<ToolFrame>();

export function createAiSdkIntegration(meter: Meter, options: AiSdkInstrumentationOptions = {}): Telemetry {
  checkAdapterOptions('createAiSdkIntegration', meter, options, AI_SDK_OPTION_TYPES);
  const topLevel = options.topLevel ?? true;
  const operations = new Map<string, Operation>();

  const start = (event: StartEvent): Promise<unknown> | undefined => {
    if (!AGENT_OPERATIONS.has(event.operationId ?? '')) return undefined;
    const frame = toolFrames.getStore();
    if (frame === undefined && !topLevel) return undefined;
    const info: AiSdkRunInfo = {
      functionId: event.functionId,
      agentId: undefined,
      toolName: frame?.toolName,
      operationId: event.operationId ?? '',
      provider: event.provider ?? '',
      modelId: event.modelId ?? '',
    };
    const spec = runSpecFor(logger, options, info);
    const operation: Operation = {
      handle: undefined,
      refusal: undefined,
      held: undefined,
      callUsageRecorded: false,
      stepExtras: undefined,
      admission: openRun(meter, spec, logger).then(
        (handle) => (operation.handle = handle),
        (error: unknown) => {
          operation.refusal = { error };
          return undefined;
        },
      ),
    };
    operations.set(event.callId, operation);
    // The SDK awaits onStart: the call's steps then begin with the run admitted (or refused).
    return operation.admission;
  };

  const finish = (callId: string | undefined, error?: unknown, aborted = false): void => {
    if (callId === undefined) return;
    const operation = operations.get(callId);
    if (operation === undefined) return;
    operations.delete(callId);
    // A model call still held (its stream was cut short) reported no usage: its worst case goes back.
    operation.held?.settle();
    operation.held = undefined;
    const end = (handle: RunHandle | undefined) => {
      if (handle === undefined) return;
      if (aborted) handle.abort(error);
      else handle.end(error);
    };
    if (operation.handle !== undefined) end(operation.handle);
    else void operation.admission.then(end); // never rejects
  };

  /** The operation of a call and its run, once admitted. */
  const admitted = (callId: string | undefined) => {
    const operation = operations.get(callId ?? '');
    const run = operation?.handle?.run;
    return operation === undefined || run === undefined ? undefined : { operation, run };
  };

  /** Records a model call's usage: through its hold when it was held (the rest of the worst case goes back), else on the run. */
  const recordCall = (operation: Operation, run: Run, usage: Usage) => {
    const held = operation.held;
    operation.held = undefined;
    if (held !== undefined) held.settle(usage);
    else run.recordUsage(usage);
  };

  return {
    onStart: async (event) => {
      try {
        await start(event);
      } catch (error) {
        logger.error('onStart failed', error);
      }
    },

    onStepStart: (event) =>
      safeCall(logger, 'the onStepStart handler', () => {
        const operation = operations.get((event as CallEvent).callId ?? '');
        if (operation === undefined) return;
        const { output, providerOptions } = event as { output?: unknown; providerOptions?: unknown };
        operation.stepExtras = { output, providerOptions };
        operation.handle?.run.recordTurn();
      }),

    onLanguageModelCallEnd: (event) =>
      safeCall(logger, 'the onLanguageModelCallEnd handler', () => {
        const call = event as CallEndEvent;
        const recorded = admitted(call.callId);
        if (recorded === undefined) return;
        const { operation, run } = recorded;
        // The usage is known as soon as the model answers: recorded now, it frees what was held beyond it before the step's tools run.
        operation.callUsageRecorded = true;
        recordCall(operation, run, pricedUsage(logger, options, call.usage, call.modelId));
      }),

    onStepEnd: (event) =>
      safeCall(logger, 'the onStepEnd handler', () => {
        const step = event as StepEndEvent;
        const recorded = admitted(step.callId);
        if (recorded === undefined) return;
        const { operation, run } = recorded;
        if (operation.callUsageRecorded) {
          operation.callUsageRecorded = false;
          return;
        }
        // An SDK that reports no model call's end: the step's usage is the call's.
        recordCall(operation, run, pricedUsage(logger, options, step.usage, step.model?.modelId));
      }),

    onEnd: (event) => safeCall(logger, 'the onEnd handler', () => finish((event as CallEvent).callId)),

    onError: (event) =>
      safeCall(logger, 'the onError handler', () => {
        const { callId, error } = (event ?? {}) as ErrorEvent;
        finish(callId, error ?? new Error('AI SDK call failed'), isAbortError(error));
      }),

    onAbort: (event) =>
      safeCall(logger, 'the onAbort handler', () => {
        const { callId, reason } = event as AbortEvent;
        finish(callId, reason ?? abortError(), true);
      }),

    executeLanguageModelCall: async ({ callId, execute, ...event }) => {
      const operation = operations.get(callId);
      if (operation === undefined) return execute();
      const handle = operation.handle ?? (await operation.admission);
      if (operation.refusal !== undefined) throw operation.refusal.error;
      if (handle === undefined) return execute();
      // A quota that stopped the run (turns, duration, tokens) ends it at its next request.
      if (handle.run.signal.aborted) throw handle.run.signal.reason;
      // A hold no call end settled (a stream the SDK retries after it broke off) reported no usage: it goes back.
      operation.held?.settle();
      const step = operation.stepExtras;
      const held = await holdModelCall(logger, handle.run, async () =>
        callLimitsOf(logger, options, { ...event, extras: [await responseFormatOf(step?.output), step?.providerOptions] }),
      );
      operation.held = held;
      try {
        return await handle.enter(execute);
      } catch (error) {
        // A call that failed (and may be retried) used nothing that the SDK reports: its hold goes back.
        if (operation.held === held) operation.held = undefined;
        held?.settle();
        throw error;
      }
    },

    executeTool: ({ callId, toolCall, execute }) => {
      let handle: RunHandle | undefined;
      let frame: ToolFrame = { toolName: 'tool' };
      try {
        handle = operations.get(callId)?.handle;
        frame = { toolName: toolCall?.toolName ?? 'tool' };
      } catch (error) {
        logger.error('executeTool failed', error);
      }
      const runTool = () => trackToolCall(logger, handle?.run, frame.toolName, () => toolFrames.run(frame, execute));
      return handle !== undefined ? handle.enter(runTool) : runTool();
    },
  };
}

function abortError(): Error {
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}
