import {
  context,
  INVALID_SPAN_CONTEXT,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { logger } from '../log.js';
import { QuotaExceededError, QuotaStoreUnavailableError } from '../errors.js';
import { QuotaProcessor } from '../quota/processor.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
  ATTR_SUBAGENT_BATCH_OUTCOME,
  ATTR_SUBAGENT_BATCH_SIZE,
  ATTR_SUBAGENT_COST,
  ATTR_SUBAGENT_DEPTH,
  ATTR_SUBAGENT_OUTCOME,
  ATTR_SUBAGENT_TURNS,
  ERROR_TYPE_QUOTA_EXCEEDED,
  GEN_AI_OPERATION_INVOKE_AGENT,
  GEN_AI_OPERATION_INVOKE_WORKFLOW,
  OTHER,
  OUTCOMES,
  SPAN_INVOKE_AGENT,
  SPAN_INVOKE_WORKFLOW_PARALLEL,
  TRACER_NAME,
  type Outcome,
} from '../semconv.js';
import type { AgentMeterOptions, ParallelTask, Run, RunFunction, RunSpec } from '../types.js';
import { VERSION } from '../version.js';
import { SubagentInstruments } from './instruments.js';
import { runStorage, type RunFrame } from './run-context.js';
import { RunState, type RunOwner } from './run-state.js';
import { SeriesRegistry } from './series.js';

const OUTCOME_INDEX = new Map<Outcome, number>(OUTCOMES.map((outcome, index) => [outcome, index]));
const OPTION_KEYS = ['meterProvider', 'tracerProvider', 'strict', 'maxAgentNames', 'quota'];
const SPEC_KEYS = new Set(['name', 'conversationId', 'model', 'signal', 'timeoutMs', 'estimate', 'budget', 'attributes']);

/**
 * Wraps subagent executions in `invoke_agent` spans and the `subagent.*` instruments, and
 * enforces quotas before they start.
 */
export class AgentMeter {
  readonly strict: boolean;
  readonly quota: QuotaProcessor | undefined;
  readonly #options: AgentMeterOptions;
  readonly #series: SeriesRegistry;
  readonly #instruments: SubagentInstruments;
  #tracerProvider: TracerProvider | undefined;
  #tracer: Tracer | undefined;
  /** What runs report back to while they record (kept off the public surface). */
  readonly #owner: RunOwner;

  constructor(options: AgentMeterOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('agentmetry: options must be an object');
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key)) throw new TypeError(`agentmetry: ${key} is not a known option (expected one of ${OPTION_KEYS.join(', ')})`);
    }
    const maxAgentNames = options.maxAgentNames ?? 200;
    if (!Number.isInteger(maxAgentNames) || maxAgentNames < 1) {
      throw new RangeError(`agentmetry: maxAgentNames must be a positive integer, got ${String(maxAgentNames)}`);
    }
    this.#options = options;
    this.strict = options.strict ?? false;
    this.quota = options.quota === undefined ? undefined : new QuotaProcessor(options.quota);
    this.#series = new SeriesRegistry(maxAgentNames);
    this.#instruments = new SubagentInstruments(this.#series, this.quota);
    this.#owner = {
      strict: this.strict,
      quota: this.quota,
      recordLateUsage: (run, inputTokens, outputTokens) => this.#recordLateUsage(run, inputTokens, outputTokens),
    };
  }

  /**
   * Runs `fn` as a subagent execution. Its result or error passes through untouched; a run
   * denied by a quota rejects with `QuotaExceededError` without calling `fn`.
   */
  async run<T>(spec: string | RunSpec, fn: RunFunction<T>): Promise<T> {
    const runSpec = this.#parseSpec(spec, fn);
    const run = this.#begin(runSpec);
    const parentStop = run.parent?.stopReason;
    if (parentStop?.errorType === ERROR_TYPE_QUOTA_EXCEEDED) {
      // A run a quota has stopped is winding down: it may not start more work.
      const reason = run.parent!.signal.reason as QuotaExceededError;
      this.quota?.countDenial(run, reason);
      this.#deny(run, reason);
      throw reason;
    }
    if (this.quota !== undefined) {
      try {
        const admission = this.quota.admit(run, runSpec, runSpec.estimate?.tokens ?? 0, runSpec.estimate?.costUsd ?? 0);
        if (admission !== undefined) await admission;
      } catch (error) {
        this.#deny(run, error);
        throw error;
      }
    }
    this.#activate(run, runSpec);
    if (run.stopReason?.outcome === 'aborted') {
      const reason: unknown = run.signal.reason;
      this.#end(run, reason, true);
      throw reason;
    }
    let result: T;
    try {
      result = await runStorage.run(run, () => context.with(run.context, fn, undefined, run));
    } catch (error) {
      this.#end(run, error, true);
      throw error;
    }
    this.#end(run, undefined, false);
    return result;
  }

  /** `fn` as a subagent: each call is a `run(name, ...)`; the run is reachable through `currentRun()`. */
  wrap<A extends unknown[], R>(spec: string | RunSpec, fn: (...args: A) => R): (...args: A) => Promise<Awaited<R>> {
    this.#parseSpec(spec, fn);
    return (...args: A) => this.run(spec, () => fn(...args) as Awaited<R>);
  }

  /**
   * Runs subagents side by side under one `invoke_workflow parallel` span and waits for all of
   * them, like `Promise.allSettled`.
   */
  async runParallel<T>(tasks: readonly ParallelTask<T>[]): Promise<PromiseSettledResult<T>[]> {
    if (!Array.isArray(tasks)) throw new TypeError('agentmetry: runParallel expects an array of { subagent, fn }');
    tasks.forEach((task, index) => {
      if (typeof task !== 'object' || task === null) throw new TypeError(`agentmetry: runParallel tasks[${index}] must be { subagent, fn }`);
      this.#parseSpec(task.subagent, task.fn, `tasks[${index}].`);
    });
    const frame = runStorage.getStore();
    const span = this.#startSpan(
      SPAN_INVOKE_WORKFLOW_PARALLEL,
      {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_INVOKE_WORKFLOW,
        [ATTR_GEN_AI_WORKFLOW_NAME]: 'parallel',
        [ATTR_SUBAGENT_BATCH_SIZE]: tasks.length,
      },
      frame?.span,
    );
    const batch: RunFrame = { run: frame?.run, span };
    const batchContext = trace.setSpan(context.active(), span);
    const results = await runStorage.run(batch, () =>
      context.with(batchContext, () => Promise.allSettled(tasks.map((task) => this.run<T>(task.subagent, task.fn)))),
    );
    try {
      const failed = results.filter((result) => result.status === 'rejected').length;
      const outcome = failed === 0 ? 'complete' : failed === results.length ? 'failed' : 'partial';
      span.setAttribute(ATTR_SUBAGENT_BATCH_OUTCOME, outcome);
      if (outcome === 'failed' && results.length > 0) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    } catch (error) {
      logger.error('ending the batch span failed', error);
    }
    return results;
  }

  /** Totals over every series this meter has recorded: executions by outcome, active, tokens, cost. */
  totals(): ReturnType<SeriesRegistry['totals']> {
    return this.#series.totals();
  }


  #recordLateUsage(run: RunState, inputTokens: number, outputTokens: number): void {
    try {
      this.#bindMeter();
      this.#instruments.recordTokens(run.series, inputTokens, outputTokens);
    } catch (error) {
      logger.error('recording late usage failed', error);
    }
  }

  #parseSpec(spec: string | RunSpec, fn: unknown, field = ''): RunSpec {
    if (typeof fn !== 'function') throw new TypeError(`agentmetry: ${field}fn must be a function, got ${typeof fn}`);
    const runSpec = typeof spec === 'string' ? { name: spec } : spec;
    if (typeof runSpec !== 'object' || runSpec === null) {
      throw new TypeError(`agentmetry: ${field}spec must be a name or { name, ... }, got ${typeof runSpec}`);
    }
    if (typeof runSpec.name !== 'string' || runSpec.name.length === 0) {
      throw new TypeError(`agentmetry: ${field}name must be a non-empty string, got ${JSON.stringify(runSpec.name)}`);
    }
    for (const key in runSpec) {
      if (!SPEC_KEYS.has(key)) throw new TypeError(`agentmetry: ${field}${key} is not a known run option (expected one of ${[...SPEC_KEYS].join(', ')})`);
    }
    const { timeoutMs, signal, estimate } = runSpec;
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0 && timeoutMs <= 2_147_483_647)) {
      throw new RangeError(`agentmetry: ${field}timeoutMs must be a number of milliseconds from 0 to 2147483647, got ${String(timeoutMs)}`);
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`agentmetry: ${field}signal must be an AbortSignal`);
    if (estimate !== undefined) {
      if (typeof estimate !== 'object' || estimate === null) throw new TypeError(`agentmetry: ${field}estimate must be { tokens?, costUsd? }`);
      if (estimate.tokens !== undefined && !(Number.isInteger(estimate.tokens) && estimate.tokens >= 0)) {
        throw new RangeError(`agentmetry: ${field}estimate.tokens must be a non-negative integer, got ${String(estimate.tokens)}`);
      }
      if (estimate.costUsd !== undefined && !(Number.isFinite(estimate.costUsd) && estimate.costUsd >= 0)) {
        throw new RangeError(`agentmetry: ${field}estimate.costUsd must be a non-negative finite number, got ${String(estimate.costUsd)}`);
      }
    }
    return runSpec;
  }

  /** Creates the run, its span and its context. Never throws for telemetry reasons. */
  #begin(spec: RunSpec): RunState {
    const frame = runStorage.getStore();
    const parent = frame?.run;
    const depth = parent === undefined ? 0 : parent.depth + 1;
    const conversationId = spec.conversationId ?? parent?.conversationId;
    this.#bindMeter();
    const attributes: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_INVOKE_AGENT,
      [ATTR_GEN_AI_AGENT_NAME]: spec.name,
      [ATTR_SUBAGENT_DEPTH]: depth,
    };
    if (conversationId !== undefined) attributes[ATTR_GEN_AI_CONVERSATION_ID] = conversationId;
    if (spec.model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = spec.model;
    if (spec.attributes !== undefined) Object.assign(attributes, spec.attributes);
    const span = this.#startSpan(`${SPAN_INVOKE_AGENT} ${spec.name}`, attributes, frame?.span);
    const run = new RunState(this.#owner, spec.name, depth, conversationId, parent, span, this.#series.get(spec.name, depth));
    run.model = spec.model;
    run.context = trace.setSpan(context.active(), span);
    return run;
  }

  #startSpan(name: string, attributes: Attributes, parentSpan: Span | undefined): Span {
    const active = context.active();
    // Without a working context manager the active context is empty: parent the span explicitly.
    const parentContext = parentSpan !== undefined && trace.getSpan(active) === undefined ? trace.setSpan(active, parentSpan) : active;
    try {
      return this.#getTracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parentContext);
    } catch (error) {
      logger.error('starting a span failed; this run is not traced', error);
      return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    }
  }

  #activate(run: RunState, spec: RunSpec): void {
    run.series.active += 1;
    run.arm(spec.signal, spec.timeoutMs);
  }

  /**
   * Ends a run that never started: denied by a quota or by an unreachable quota store (recorded
   * as outcome `denied`), or refused for a configuration mistake such as a budget above its
   * parent's (a span, no metrics: the ledger never saw it, so it is no execution).
   */
  #deny(run: RunState, error: unknown): void {
    run.release();
    // Admission may have reserved before a later step failed: give it back.
    if (run.lease !== undefined) this.quota?.settle(run);
    const overQuota = QuotaExceededError.isInstance(error);
    const denied = overQuota || errorTypeOf(error) === QuotaStoreUnavailableError.name;
    const outcome: Outcome = denied ? 'denied' : 'error';
    const errorType = overQuota ? ERROR_TYPE_QUOTA_EXCEEDED : errorTypeOf(error);
    if (denied) {
      run.series.countExecution(outcome);
      run.series.countError(errorType);
    }
    try {
      run.span.setAttributes({ [ATTR_SUBAGENT_OUTCOME]: outcome, [ATTR_ERROR_TYPE]: errorType, [ATTR_SUBAGENT_TURNS]: 0 });
      run.span.recordException(error as Error);
      run.span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error | undefined)?.message });
      run.span.end();
    } catch (telemetryError) {
      logger.error('recording a denied run failed', telemetryError);
    }
  }

  #end(run: RunState, error: unknown, threw: boolean): void {
    run.release();
    const stop = run.stopReason;
    const outcome: Outcome = stop?.outcome ?? (threw ? 'error' : 'ok');
    const errorType = stop !== undefined ? stop.errorType : threw ? errorTypeOf(error) : undefined;
    const series = run.series;
    series.active -= 1;
    series.countExecution(outcome);
    if (outcome !== 'ok' && outcome !== 'incomplete') series.countError(errorType!);
    this.quota?.settle(run);
    try {
      this.#bindMeter();
      this.#instruments.recordEnd(series, OUTCOME_INDEX.get(outcome)!, (performance.now() - run.startTime) / 1000, run.turns);
      if (run.usageRecorded) this.#instruments.recordTokens(series, run.inputTokens, run.outputTokens);
    } catch (telemetryError) {
      logger.error('recording metrics failed', telemetryError);
    }
    try {
      const span = run.span;
      const attributes: Attributes = {
        [ATTR_SUBAGENT_OUTCOME]: outcome,
        [ATTR_SUBAGENT_TURNS]: run.turns,
        [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: run.inputTokens,
        [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: run.outputTokens,
      };
      if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
      if (run.model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = run.model;
      if (series.costKnown && run.costMicros > 0) attributes[ATTR_SUBAGENT_COST] = run.costUsd;
      span.setAttributes(attributes);
      if (threw) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : undefined });
      } else if (outcome === 'timeout' || outcome === 'aborted') {
        span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      }
      span.end();
    } catch (telemetryError) {
      logger.error('ending a span failed', telemetryError);
    }
  }

  #bindMeter(): void {
    this.#instruments.use(this.#options.meterProvider ?? metrics.getMeterProvider());
  }

  #getTracer(): Tracer {
    const provider = this.#options.tracerProvider ?? trace.getTracerProvider();
    if (provider !== this.#tracerProvider || this.#tracer === undefined) {
      this.#tracerProvider = provider;
      this.#tracer = provider.getTracer(TRACER_NAME, VERSION);
    }
    return this.#tracer;
  }
}

/** `error.type`: the thrown error's name (a class name or code), never its message. */
function errorTypeOf(error: unknown): string {
  if (error instanceof Error || (typeof error === 'object' && error !== null && 'name' in error)) {
    const name = (error as { name: unknown }).name;
    if (typeof name === 'string' && name.length > 0 && name.length <= 64) return name;
  }
  return OTHER;
}

export type { Run };
