import { context, trace } from '@opentelemetry/api';
import { isQuotaRefusal, QuotaExceededError } from '../errors.js';
import { isObject } from '../is-object.js';
import { isPromise } from '../is-promise.js';
import { Quota } from '../quota/quota.js';
import type { QuotaRunEvents } from '../quota/ticket.js';
import type { QuotaView } from '../quota/view.js';
import { ERROR_TYPE_ABORTED, ERROR_TYPE_QUOTA_EXCEEDED, type MetricsFamily, type Outcome } from '../semconv.js';
import { RunTelemetry, type RunEnding } from '../telemetry/run-telemetry.js';
import type { Totals } from '../telemetry/series.js';
import { errorTypeOf } from '../telemetry/thrown.js';
import type { AgentMeterOptions, ParallelTask, RunFunction, RunSpec } from '../types.js';
import { runStorage, type RunFrame } from './context.js';
import { RunHandle } from './run-handle.js';
import { parseAgentMeterOptions, parseRunSpec } from './spec.js';

/**
 * Wraps subagent executions in `invoke_agent` spans and the `subagent.*` instruments, and
 * enforces quotas before they start.
 *
 * This is the run pipeline: the one place that calls both telemetry (`RunTelemetry`) and the
 * quota (`Quota`), which know nothing of each other. `run()` reads as the life of one run.
 */
export class AgentMeter {
  /** Invalid usage numbers throw a `TypeError` instead of being dropped with a diag warning. */
  readonly strict: boolean;
  /** The metric families recorded: the `metrics` option, or what `OTEL_SEMCONV_STABILITY_OPT_IN` asks for. */
  readonly metrics: MetricsFamily;
  /** What the quota enforces and where each scope stands; `undefined` without `options.quota`. */
  readonly quota: QuotaView | undefined;
  readonly #quota: Quota | undefined;
  readonly #telemetry: RunTelemetry;

  constructor(options: AgentMeterOptions = {}) {
    const { strict, maxAgentNames, metrics, families } = parseAgentMeterOptions(options);
    this.strict = strict;
    this.metrics = metrics;
    this.#quota = options.quota === undefined ? undefined : new Quota(options.quota);
    this.quota = this.#quota?.view;
    this.#telemetry = new RunTelemetry({
      meterProvider: options.meterProvider,
      tracerProvider: options.tracerProvider,
      maxAgentNames,
      metrics: families,
      quota: this.#quota,
    });
  }

  /**
   * Runs `fn` as a subagent execution. Its result or error passes through untouched; a run
   * denied by a quota rejects with `QuotaExceededError` without calling `fn`.
   */
  async run<T>(spec: string | RunSpec, fn: RunFunction<T>): Promise<T> {
    const runSpec = parseRunSpec(spec, fn);
    // 1. Begin: the run's span and handle, nested in the active run.
    const run = this.#begin(runSpec);
    // 2. Admit: a run whose signal has already fired reserves nothing and never calls fn;
    //    any other reserves against every limit before anything starts.
    const cancelled = run.cancelledBeforeStart(runSpec.signal);
    if (cancelled !== undefined) {
      this.#end(run, cancellation(cancelled.reason));
      throw cancelled.reason;
    }
    let admission: void | Promise<void>;
    try {
      admission = this.#admit(run, runSpec);
      if (admission !== undefined) await admission;
    } catch (error) {
      this.#end(run, refusal(error));
      throw error;
    }
    if (admission !== undefined) {
      // The signal fired while an asynchronous store (Redis) was reserving: the run never starts,
      // and its reservation goes back whole, execution included.
      const cancelledWhileAdmitted = run.cancelledBeforeStart(runSpec.signal);
      if (cancelledWhileAdmitted !== undefined) {
        run.ticket?.cancel();
        this.#end(run, cancellation(cancelledWhileAdmitted.reason));
        throw cancelledWhileAdmitted.reason;
      }
    }
    run.start(runSpec.signal, runSpec.timeoutMs);
    this.#telemetry.activate(run.series);
    if (run.stopReason?.outcome === 'aborted') {
      const reason: unknown = run.signal.reason;
      this.#end(run, failure(run, reason));
      throw reason;
    }
    // 3. Execute: the user's function, exactly once, with the run current.
    let result: T;
    try {
      result = await runStorage.run(run, () => context.with(run.context, fn, undefined, run));
    } catch (error) {
      // 4. End, failed.
      this.#end(run, failure(run, error));
      throw error;
    }
    // 4. End.
    this.#end(run, success(run));
    return result;
  }

  /** `fn` as a subagent: each call is a `run(name, ...)`; the run is reachable through `currentRun()`. */
  wrap<A extends unknown[], R>(spec: string | RunSpec, fn: (...args: A) => R): (...args: A) => Promise<Awaited<R>> {
    parseRunSpec(spec, fn);
    return (...args: A) => this.run(spec, () => fn(...args) as Awaited<R>);
  }

  /**
   * Runs subagents side by side under one `invoke_workflow parallel` span and waits for all of
   * them, like `Promise.allSettled`.
   */
  async runParallel<T>(tasks: ReadonlyArray<ParallelTask<T>>): Promise<Array<PromiseSettledResult<T>>> {
    // Tested as unknown: Array.isArray would narrow the tasks themselves to any[].
    const list: unknown = tasks;
    if (!Array.isArray(list)) throw new TypeError('agentmetry: runParallel expects an array of { subagent, fn }');
    tasks.forEach((task, index) => {
      if (!isObject(task)) throw new TypeError(`agentmetry: runParallel tasks[${index}] must be { subagent, fn }`);
      parseRunSpec(task.subagent, task.fn, `tasks[${index}].`);
    });
    const frame = runStorage.getStore();
    const span = this.#telemetry.startBatch(tasks.length, frame?.span);
    const batch: RunFrame = { run: frame?.run, span };
    const batchContext = trace.setSpan(context.active(), span);
    const results = await runStorage.run(batch, () =>
      context.with(batchContext, () => Promise.allSettled(tasks.map((task) => this.run<T>(task.subagent, task.fn)))),
    );
    this.#telemetry.endBatch(span, results);
    return results;
  }

  /** Totals over every series this meter has recorded: executions by outcome, active, tokens, cost. */
  totals(): Totals {
    return this.#telemetry.totals();
  }

  /** Creates the run's span and handle. Never throws for telemetry reasons. */
  #begin(spec: RunSpec): RunHandle {
    const frame = runStorage.getStore();
    const parent = frame?.run;
    const depth = parent === undefined ? 0 : parent.depth + 1;
    const conversationId = spec.conversationId ?? parent?.conversationId;
    const record = this.#telemetry.startRun(spec.name, depth, conversationId, spec.model, spec.attributes, frame?.span);
    return new RunHandle(this.#telemetry, this.strict, record, spec.name, depth, conversationId, parent, spec.model);
  }

  /** Reserves the run's quota; throws (or rejects) when it is refused. */
  #admit(run: RunHandle, spec: RunSpec): void | Promise<void> {
    const parentStop = run.parent?.stopReason;
    if (parentStop?.errorType === ERROR_TYPE_QUOTA_EXCEEDED) {
      // A run a quota has stopped is winding down: it may not start more work.
      const reason = run.parent!.signal.reason as QuotaExceededError;
      if (this.#quota !== undefined) this.#telemetry.recordDenial(run.series, run.span, reason, this.#quota.mode);
      throw reason;
    }
    const quota = this.#quota;
    if (quota === undefined) return;
    const ticket = quota.admit({ spec, depth: run.depth, parent: run.parent, events: this.#quotaEvents(run) });
    if (!isPromise(ticket)) {
      run.ticket = ticket;
      return;
    }
    return ticket.then((admitted) => {
      run.ticket = admitted;
    });
  }

  /**
   * One way to end a run, whatever happened: its timers and signal links released and its quota
   * settled first, then telemetry recorded and the span ended, whatever threw before. The ending
   * is derived from the thrown value by readers that never throw (`describeThrown`).
   */
  #end(run: RunHandle, ending: RunEnding): void {
    try {
      run.release();
      run.ticket?.settle();
    } finally {
      this.#telemetry.endRun(run, ending);
    }
  }

  /** What the quota reports about `run`, recorded by telemetry and acted on by the run. */
  #quotaEvents(run: RunHandle): QuotaRunEvents {
    const telemetry = this.#telemetry;
    return {
      denied: (error, mode) => telemetry.recordDenial(run.series, run.span, error, mode),
      stopped: (error) => run.stop(error),
      warned: (warning) => telemetry.recordWarning(run.span, warning),
    };
  }
}

/** A run refused before it started: by a quota or an unreachable store (`denied`), or for a configuration mistake (not an execution). */
function refusal(error: unknown): RunEnding {
  const overQuota = QuotaExceededError.isInstance(error);
  const denied = isQuotaRefusal(error);
  return {
    outcome: denied ? 'denied' : 'error',
    errorType: overQuota ? ERROR_TYPE_QUOTA_EXCEEDED : errorTypeOf(error),
    error,
    threw: true,
    started: false,
    counted: denied,
  };
}

/** A run whose signal had fired before it was admitted: it ends `aborted` without having started. */
function cancellation(reason: unknown): RunEnding {
  return { outcome: 'aborted', errorType: ERROR_TYPE_ABORTED, error: reason, threw: true, started: false, counted: true };
}

function failure(run: RunHandle, error: unknown): RunEnding {
  const stop = run.stopReason;
  const outcome: Outcome = stop?.outcome ?? 'error';
  return { outcome, errorType: stop !== undefined ? stop.errorType : errorTypeOf(error), error, threw: true, started: true, counted: true };
}

function success(run: RunHandle): RunEnding {
  const stop = run.stopReason;
  return { outcome: stop?.outcome ?? 'ok', errorType: stop?.errorType, error: undefined, threw: false, started: true, counted: true };
}
