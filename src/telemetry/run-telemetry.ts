import {
  context,
  INVALID_SPAN_CONTEXT,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type MeterProvider,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { QuotaExceededError } from '../errors.js';
import { logger, safeCall } from '../log.js';
import { nanosToUsd } from '../money.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
  ATTR_QUOTA_LIMIT,
  ATTR_QUOTA_REQUESTED,
  ATTR_QUOTA_RESOURCE,
  ATTR_QUOTA_LEVEL,
  ATTR_QUOTA_SCOPE,
  ATTR_QUOTA_WINDOW,
  ATTR_QUOTA_THRESHOLD,
  ATTR_QUOTA_USED,
  ATTR_SUBAGENT_BATCH_OUTCOME,
  ATTR_SUBAGENT_BATCH_SIZE,
  ATTR_SUBAGENT_COST,
  ATTR_SUBAGENT_DEPTH,
  ATTR_SUBAGENT_OUTCOME,
  ATTR_SUBAGENT_TURNS,
  EVENT_QUOTA_DENIED,
  EVENT_QUOTA_WARNING,
  GEN_AI_OPERATION_INVOKE_AGENT,
  GEN_AI_OPERATION_INVOKE_WORKFLOW,
  OUTCOMES,
  SPAN_INVOKE_AGENT,
  SPAN_INVOKE_WORKFLOW_PARALLEL,
  TRACER_NAME,
  type Outcome,
} from '../semconv.js';
import type { QuotaMode } from '../types.js';
import { VERSION } from '../version.js';
import { agentNameOf, toolNameOf } from './agent-name.js';
import { SubagentInstruments, type MetricFamilies } from './instruments.js';
import { QuotaSeries, type QuotaGaugeSource } from './quota-series.js';
import { SeriesRegistry, type SeriesStats, type Totals } from './series.js';
import { describeThrown, errorTypeOf } from './thrown.js';

const OUTCOME_INDEX = new Map<Outcome, number>(OUTCOMES.map((outcome, index) => [outcome, index]));

export interface RunTelemetryOptions {
  /** Default: the global meter provider, looked up on every run. */
  meterProvider: MeterProvider | undefined;
  /** Default: the global tracer provider. */
  tracerProvider: TracerProvider | undefined;
  maxAgentNames: number;
  /** Which metric families to record. */
  metrics: MetricFamilies;
  /** The quota whose state the `subagent.quota.*` gauges report, if any. */
  quota: QuotaGaugeSource | undefined;
}

/** What a run starts with: its span, the context that makes the span current, and its series. */
export interface RunRecord {
  /** `performance.now()` when the run began: its span's start time, and the start of every duration recorded for it. */
  readonly startTime: number;
  readonly span: Span;
  readonly context: Context;
  readonly series: SeriesStats;
}

/** The facts of a run at its end, as the run handle counted them. */
export interface RunFacts {
  readonly span: Span;
  readonly series: SeriesStats;
  readonly startTime: number;
  readonly turns: number;
  readonly toolCalls: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costNanos: number;
  readonly usageRecorded: boolean;
  readonly model: string | undefined;
}

/** How a run ended. */
export interface RunEnding {
  readonly outcome: Outcome;
  readonly errorType: string | undefined;
  /** The error or rejection value the run ended with, recorded on the span. */
  readonly error: unknown;
  readonly threw: boolean;
  /** It was admitted and active (false for a run refused before it started). */
  readonly started: boolean;
  /** It counts as an execution (false for a run refused for a configuration mistake: no ledger saw it). */
  readonly counted: boolean;
}

/**
 * The telemetry side of runs: `invoke_agent` and `invoke_workflow` spans, the `subagent.*`
 * instruments and the live series totals they export. Knows nothing of quotas beyond the
 * numbers it is handed; never throws into the run.
 */
export class RunTelemetry {
  readonly #options: RunTelemetryOptions;
  readonly #series: SeriesRegistry;
  readonly #quotaSeries: QuotaSeries;
  readonly #instruments: SubagentInstruments;
  #tracerProvider: TracerProvider | undefined;
  #tracer: Tracer | undefined;

  constructor(options: RunTelemetryOptions) {
    this.#options = options;
    this.#series = new SeriesRegistry(options.maxAgentNames);
    this.#quotaSeries = new QuotaSeries();
    const quota = options.quota === undefined ? undefined : { gauges: options.quota, series: this.#quotaSeries };
    this.#instruments = new SubagentInstruments(this.#series, quota, options.metrics);
  }

  /** Starts a run's span, as a child of `parentSpan` (the enclosing run's or batch's). */
  startRun(
    name: string,
    depth: number,
    conversationId: string | undefined,
    model: string | undefined,
    extra: Attributes | undefined,
    parentSpan: Span | undefined,
  ): RunRecord {
    this.#bindMeter();
    const agent = agentNameOf(name);
    const attributes: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_INVOKE_AGENT,
      [ATTR_GEN_AI_AGENT_NAME]: agent,
      [ATTR_SUBAGENT_DEPTH]: depth,
    };
    if (conversationId !== undefined) attributes[ATTR_GEN_AI_CONVERSATION_ID] = conversationId;
    if (model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
    // The app's own object: a getter that throws costs its attributes, never the run.
    if (extra !== undefined) safeCall(logger, "copying the run spec's attributes", () => Object.assign(attributes, extra), 'warn');
    const startTime = performance.now();
    const span = this.#startSpan(`${SPAN_INVOKE_AGENT} ${agent}`, attributes, parentSpan, startTime);
    return { startTime, span, context: trace.setSpan(context.active(), span), series: this.#series.get(agent, depth) };
  }

  /** The run was admitted and starts: it is active from now on. */
  activate(series: SeriesStats): void {
    series.active += 1;
  }

  /** Adds usage to the run's series totals (what the token and cost counters export). */
  addUsage(series: SeriesStats, inputTokens: number, outputTokens: number, costNanos: number | undefined): void {
    series.inputTokens += inputTokens;
    series.outputTokens += outputTokens;
    if (costNanos !== undefined) {
      series.costNanos += costNanos;
      series.costKnown = true;
    }
  }

  /** Usage that arrives after its run ended still goes into the token histogram. */
  recordLateUsage(series: SeriesStats, inputTokens: number, outputTokens: number): void {
    try {
      this.#bindMeter();
      this.#instruments.recordTokens(series, inputTokens, outputTokens);
    } catch (error) {
      logger.error('recording late usage failed', error);
    }
  }

  /**
   * One tool call of the run whose series this is: the tool-duration histogram, by tool name and,
   * when it failed, by `error.type` derived from what it failed with. Also for a run that ended.
   */
  recordToolCall(series: SeriesStats, name: string, durationMs: number, error: unknown, type: string | undefined): void {
    try {
      this.#bindMeter();
      const errorType = error === undefined ? undefined : errorTypeOf(error);
      this.#instruments.recordToolCall(series.tool(toolNameOf(name)), durationMs / 1000, errorType, type);
    } catch (caught) {
      logger.error('recording a tool call failed', caught);
    }
  }

  /**
   * Ends a run, whatever its outcome: the bookkeeping first (the active gauge, the counts), then
   * histograms and span attributes, each guarded, and `span.end()` whatever threw before it.
   * The span ends at the same clock reading the durations are measured to, so
   * `gen_ai.invoke_agent.duration` (and `subagent.duration`) equal the span's duration.
   */
  endRun(run: RunFacts, ending: RunEnding): void {
    const { series, span } = run;
    const { outcome, errorType } = ending;
    const endTime = performance.now();
    try {
      if (ending.started) series.active -= 1;
      if (ending.counted) {
        series.countExecution(outcome);
        if (outcome !== 'ok' && outcome !== 'incomplete') series.countError(errorType!);
      }
      if (ending.started) this.#recordEndMetrics(run, ending, (endTime - run.startTime) / 1000);
      this.#recordEndOnSpan(run, ending);
    } finally {
      safeCall(logger, 'span.end()', () => span.end(endTime));
    }
  }

  /** A quota denial of this run (a would-be one in observe mode): counted, and a `quota.denied` event on its span. */
  recordDenial(series: SeriesStats, span: Span, error: QuotaExceededError, mode: QuotaMode): void {
    this.#quotaSeries.countDenial(series.agent, error, mode);
    this.recordLimitEvent(span, error);
  }

  /** A `quota.denied` event on the run's span: a limit it was refused by, or passed. */
  recordLimitEvent(span: Span, error: QuotaExceededError): void {
    safeCall(logger, 'adding a span event', () =>
      span.addEvent(EVENT_QUOTA_DENIED, {
        [ATTR_QUOTA_RESOURCE]: error.resource,
        [ATTR_QUOTA_SCOPE]: error.scope,
        [ATTR_QUOTA_LIMIT]: error.limit,
        [ATTR_QUOTA_USED]: error.used,
        [ATTR_QUOTA_REQUESTED]: error.requested,
        ...(error.level !== undefined && { [ATTR_QUOTA_LEVEL]: error.level }),
        ...(error.window !== undefined && { [ATTR_QUOTA_WINDOW]: error.window }),
      }),
    );
  }

  /** A soft threshold crossed: counted, and a `quota.warning` event on the run's span. */
  recordWarning(
    span: Span,
    warning: { resource: string; threshold: number; scope: string; used: number; limit: number; level?: string | undefined; window?: string | undefined },
  ): void {
    this.#quotaSeries.countWarning(warning.resource, warning.threshold);
    safeCall(logger, 'adding a span event', () =>
      span.addEvent(EVENT_QUOTA_WARNING, {
        [ATTR_QUOTA_RESOURCE]: warning.resource,
        [ATTR_QUOTA_SCOPE]: warning.scope,
        [ATTR_QUOTA_THRESHOLD]: warning.threshold,
        [ATTR_QUOTA_USED]: warning.used,
        [ATTR_QUOTA_LIMIT]: warning.limit,
        ...(warning.level !== undefined && { [ATTR_QUOTA_LEVEL]: warning.level }),
        ...(warning.window !== undefined && { [ATTR_QUOTA_WINDOW]: warning.window }),
      }),
    );
  }

  /** Starts the `invoke_workflow parallel` span of a batch of `size` runs. */
  startBatch(size: number, parentSpan: Span | undefined): RunRecord['span'] {
    return this.#startSpan(
      SPAN_INVOKE_WORKFLOW_PARALLEL,
      {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_INVOKE_WORKFLOW,
        [ATTR_GEN_AI_WORKFLOW_NAME]: 'parallel',
        [ATTR_SUBAGENT_BATCH_SIZE]: size,
      },
      parentSpan,
    );
  }

  endBatch(span: Span, results: ReadonlyArray<PromiseSettledResult<unknown>>): void {
    try {
      const failed = results.filter((result) => result.status === 'rejected').length;
      const outcome = failed === 0 ? 'complete' : failed === results.length ? 'failed' : 'partial';
      span.setAttribute(ATTR_SUBAGENT_BATCH_OUTCOME, outcome);
      if (outcome === 'failed' && results.length > 0) span.setStatus({ code: SpanStatusCode.ERROR });
    } catch (error) {
      logger.error('recording the end of a batch on its span failed', error);
    } finally {
      safeCall(logger, 'span.end()', () => span.end());
    }
  }

  /** Totals over every series: executions by outcome, active, tokens, cost. */
  totals(): Totals {
    return this.#series.totals();
  }

  #recordEndMetrics(run: RunFacts, ending: RunEnding, durationS: number): void {
    try {
      this.#bindMeter();
      this.#instruments.recordEnd(run.series, OUTCOME_INDEX.get(ending.outcome)!, durationS, run.turns);
      this.#instruments.recordInvocation(run.series, run.model, ending.errorType, durationS, run.turns, run.toolCalls);
      if (run.usageRecorded) this.#instruments.recordTokens(run.series, run.inputTokens, run.outputTokens);
    } catch (error) {
      logger.error('recording metrics failed', error);
    }
  }

  /** The run's end on its span; what it threw is described from values read safely (see `describeThrown`). */
  #recordEndOnSpan(run: RunFacts, ending: RunEnding): void {
    const { span } = run;
    const { outcome, errorType } = ending;
    try {
      const attributes: Attributes = {
        [ATTR_SUBAGENT_OUTCOME]: outcome,
        [ATTR_SUBAGENT_TURNS]: run.turns,
        [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: run.inputTokens,
        [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: run.outputTokens,
      };
      if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
      if (run.model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = run.model;
      if (run.series.costKnown && run.costNanos > 0) attributes[ATTR_SUBAGENT_COST] = nanosToUsd(run.costNanos);
      span.setAttributes(attributes);
      if (ending.threw) {
        const thrown = describeThrown(ending.error);
        span.recordException(thrown.exception);
        span.setStatus({ code: SpanStatusCode.ERROR, message: thrown.message });
      } else if (outcome === 'timeout' || outcome === 'aborted') {
        span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      }
    } catch (error) {
      logger.error('recording the end of a run on its span failed', error);
    }
  }

  #startSpan(name: string, attributes: Attributes, parentSpan: Span | undefined, startTime?: number): Span {
    const active = context.active();
    // Without a working context manager the active context is empty: parent the span explicitly.
    const parentContext = parentSpan !== undefined && trace.getSpan(active) === undefined ? trace.setSpan(active, parentSpan) : active;
    try {
      return this.#getTracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes, startTime }, parentContext);
    } catch (error) {
      logger.error('starting a span failed; this run is not traced', error);
      return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
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
