import { AsyncResource } from 'node:async_hooks';
import type { DiagLogger } from '@opentelemetry/api';
import { isQuotaRefusal } from '../../errors.js';
import { errorTypeOf } from '../../telemetry/thrown.js';
import type { AgentMeter, Run, RunSpec } from '../../index.js';
import { checkQuotaSpec } from './options.js';

/** The part of `AgentMeter` that the adapters use. */
export type Meter = Pick<AgentMeter, 'run'>;

/**
 * A run whose start and end arrive as separate framework callbacks.
 *
 * `enter(fn)` runs `fn` inside the run's async context, so that work started there
 * (a nested agent, the provider's HTTP call) nests under this run exactly as if it had
 * been written inside `agentmeter.run(spec, fn)`.
 */
export interface RunHandle {
  readonly run: Run;
  enter<T>(fn: () => T): T;
  /** Ends the run: `ok` without an error, otherwise the outcome the core derives from it. Idempotent. */
  end(error?: unknown): void;
  /** Ends the run with outcome `aborted`: the framework call was cancelled. Idempotent. */
  abort(reason: unknown): void;
}

/**
 * Opens a run through `agentmeter.run` and keeps it open until `end()` is called. Built on the
 * public `run()` so that admission, nesting and settlement stay the core's business.
 *
 * Resolves with the handle once the run is admitted. Rejects when a quota refuses the run
 * (`QuotaExceededError`, or `QuotaStoreUnavailableError` from a store set to deny): that is
 * policy, for the framework to report, and nothing was started. Rejects the same way, with the
 * core's `TypeError` or `RangeError`, when the adapter's `spec` option gave an invalid `budget`
 * or `estimate`: the call fails as `agentmeter.run` would, instead of running unbudgeted. Any
 * other reason the core gives (a mistake such as a negative `timeoutMs`) is logged and
 * resolves `undefined`: the framework call then runs unrecorded instead of failing.
 */
export async function openRun(meter: Meter, spec: RunSpec, logger: DiagLogger): Promise<RunHandle | undefined> {
  try {
    checkQuotaSpec(spec);
  } catch (error) {
    logger.error(`run '${spec.name}' was refused: options.spec returned invalid quota settings`, error);
    throw error;
  }
  try {
    return await startRun(meter, spec);
  } catch (error) {
    if (isQuotaRefusal(error)) throw error;
    logger.warn(`run '${spec.name}' was not started (${errorTypeOf(error)}); the framework call runs unrecorded`, error);
    return undefined;
  }
}

function startRun(meter: Meter, spec: RunSpec): Promise<RunHandle> {
  return new Promise<RunHandle>((resolveHandle, rejectHandle) => {
    // Fired by abort(): the core then records the run's outcome as `aborted`.
    const cancel = new AbortController();
    const signal = spec.signal === undefined ? cancel.signal : AbortSignal.any([spec.signal, cancel.signal]);
    let admitted = false;
    const settled = meter.run({ ...spec, signal }, (run) => {
      admitted = true;
      return new Promise<void>((resolveRun, rejectRun) => {
        // Captures the async context of the run's callback, where the core made `run` current.
        const context = new AsyncResource('agentmeter.run');
        let ended = false;
        const end = (error?: unknown) => {
          if (ended) return;
          ended = true;
          if (error === undefined) resolveRun();
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what the run failed with, passed on as it is (narrowed from unknown to {})
          else rejectRun(error);
        };
        resolveHandle({
          run,
          enter: (fn) => context.runInAsyncScope(fn),
          end,
          abort: (reason: unknown) => {
            if (!ended) cancel.abort(reason);
            end(reason ?? cancel.signal.reason);
          },
        });
      });
    });
    // The run's own rejection is the error its owner passed to end(); only a refusal before
    // admission concerns the caller. Either way it must not become an unhandled rejection.
    settled.then(undefined, (error: unknown) => {
      if (!admitted) rejectHandle(error);
    });
  });
}
