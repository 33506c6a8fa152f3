import { safeCall } from '../../log.js';
import type { Run, RunSpec, Usage } from '../../index.js';
import { priceUsage } from '../shared/pricing.js';
import type { AiSdkInstrumentationOptions, AiSdkRunInfo } from './options.js';
import type { DiagLogger } from '@opentelemetry/api';

const DEFAULT_AGENT_NAME = 'agent';

/** The run spec of one agent call: the `spec` option's extras, the name and the model. Option callbacks that throw fall back to their defaults. */
export function runSpecFor(logger: DiagLogger, options: AiSdkInstrumentationOptions, info: AiSdkRunInfo): RunSpec {
  const spec: RunSpec = {
    ...safeCall(logger, 'options.spec', () => options.spec?.(info), 'warn'),
    name: safeCall(logger, 'options.name', () => options.name?.(info), 'warn') ?? info.functionId ?? info.agentId ?? info.toolName ?? DEFAULT_AGENT_NAME,
  };
  if (info.modelId !== '' && spec.model === undefined) spec.model = info.modelId;
  return spec;
}

/** One step's (or model call's) usage as the SDK reported it, priced by the `costUsd` option. */
export function pricedUsage(
  logger: DiagLogger,
  options: AiSdkInstrumentationOptions,
  usage: { inputTokens?: number; outputTokens?: number } | undefined,
  modelId: string | undefined,
): Usage {
  const inputTokens = usage?.inputTokens ?? 0;
  const outputTokens = usage?.outputTokens ?? 0;
  const costUsd = priceUsage(logger, options.costUsd, { inputTokens, outputTokens, modelId });
  return { inputTokens, outputTokens, ...(costUsd !== undefined ? { costUsd } : {}), ...(modelId ? { model: modelId } : {}) };
}

/**
 * Runs a tool's `execute` and records the call on `run` once it settles: its name, how long it
 * took and what it failed with. The tool's result or error is returned or thrown unchanged.
 * A tool that returns an async iterable (a streaming tool) is recorded once the iteration ends.
 */
export function trackToolCall<T>(logger: DiagLogger, run: Run | undefined, name: string, execute: () => T): T {
  if (run === undefined) return execute();
  const started = performance.now();
  const done = (error?: unknown) =>
    safeCall(logger, 'recording a tool call', () =>
      run.recordToolCall({ name, durationMs: performance.now() - started, type: 'function', ...(error !== undefined ? { error } : {}) }),
    );
  let result: T;
  try {
    result = execute();
  } catch (error) {
    done(error ?? new Error('tool failed'));
    throw error;
  }
  if (isPromiseLike(result)) {
    return Promise.resolve(result).then(
      (value) => {
        done();
        return value;
      },
      (error: unknown) => {
        done(error ?? new Error('tool failed'));
        throw error;
      },
    ) as T;
  }
  if (isAsyncIterable(result)) return trackIteration(result, done) as T;
  done();
  return result;
}

async function* trackIteration<T>(iterable: AsyncIterable<T>, done: (error?: unknown) => void): AsyncGenerator<T> {
  let failed = false;
  try {
    yield* iterable;
  } catch (error) {
    failed = true;
    done(error ?? new Error('tool failed'));
    throw error;
  } finally {
    if (!failed) done();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null | undefined)?.[Symbol.asyncIterator] === 'function';
}

/** Whether an error is the SDK's cancellation (the app's abort signal or a timeout). */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
