import { AsyncLocalStorage } from 'node:async_hooks';
import { createLogger, safeCall } from '../../log.js';
import type { Telemetry } from 'ai';
import { checkAdapterOptions } from '../shared/options.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import { AI_SDK_OPTION_TYPES, type AiSdkInstrumentationOptions, type AiSdkRunInfo } from './options.js';
import { isAbortError, recordStepUsage, runSpecFor, trackToolCall } from './recording.js';

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
 * `onEnd`, `onError`, `onAbort`); control flow from the two wrappers the SDK runs work
 * through: `executeTool` marks the tool execution (a call started inside it is a subagent),
 * enters the calling run's context and records the tool call on that run, `executeLanguageModelCall` holds the first model
 * request until admission and throws the quota's refusal into it, which the parent model
 * then receives as a tool error.
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
    const end = (handle: RunHandle | undefined) => {
      if (handle === undefined) return;
      if (aborted) handle.abort(error);
      else handle.end(error);
    };
    if (operation.handle !== undefined) end(operation.handle);
    else void operation.admission.then(end); // never rejects
  };

  return {
    onStart: async (event) => {
      try {
        await start(event);
      } catch (error) {
        logger.error('onStart failed', error);
      }
    },

    onStepStart: (event) => safeCall(logger, 'the onStepStart handler', () => operations.get((event as CallEvent).callId ?? '')?.handle?.run.recordTurn()),

    onStepEnd: (event) =>
      safeCall(logger, 'the onStepEnd handler', () => {
        const step = event as StepEndEvent;
        const run = operations.get(step.callId ?? '')?.handle?.run;
        if (run !== undefined) recordStepUsage(logger, options, run, step.usage, step.model?.modelId);
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

    executeLanguageModelCall: async ({ callId, execute }) => {
      const operation = operations.get(callId);
      if (operation === undefined) return execute();
      const handle = operation.handle ?? (await operation.admission);
      if (operation.refusal !== undefined) throw operation.refusal.error;
      if (handle === undefined) return execute();
      // A quota that stopped the run (turns, duration, tokens) ends it at its next request.
      if (handle.run.signal.aborted) throw handle.run.signal.reason;
      return handle.enter(execute);
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
