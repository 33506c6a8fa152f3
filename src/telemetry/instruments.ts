import { ValueType, type Attributes, type BatchObservableResult, type Histogram, type Meter, type MeterProvider, type Observable } from '@opentelemetry/api';
import { logger } from '../log.js';
import {
  DURATION_BUCKETS_S,
  GEN_AI_CALL_COUNT_BUCKETS,
  GEN_AI_EXECUTE_TOOL_DURATION_BUCKETS_S,
  GEN_AI_INVOKE_AGENT_DURATION_BUCKETS_S,
  METER_NAME,
  METRIC_ACTIVE,
  METRIC_COST,
  METRIC_DURATION,
  METRIC_ERRORS,
  METRIC_EXECUTIONS,
  METRIC_GEN_AI_EXECUTE_TOOL_DURATION,
  METRIC_GEN_AI_INVOKE_AGENT_DURATION,
  METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS,
  METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS,
  METRIC_QUOTA_DENIALS,
  METRIC_QUOTA_EXHAUSTION,
  METRIC_QUOTA_LIMIT,
  METRIC_QUOTA_RESERVED,
  METRIC_QUOTA_UNACCOUNTED,
  METRIC_QUOTA_USED,
  METRIC_QUOTA_WARNINGS,
  METRIC_TOKENS,
  METRIC_TOOL_DURATION,
  METRIC_TURNS,
  OUTCOMES,
  TOKEN_BUCKETS,
  TOOL_DURATION_BUCKETS_S,
  TURN_BUCKETS,
} from '../semconv.js';
import { VERSION } from '../version.js';
import type { QuotaGaugeSource, QuotaSeries } from './quota-series.js';
import type { SeriesRegistry, SeriesStats, ToolSeries } from './series.js';
import { nanosToUsd } from '../money.js';

/** Which metric families an AgentMeter records. */
export interface MetricFamilies {
  /** The `subagent.*` run instruments (the quota instruments are recorded either way). */
  readonly subagent: boolean;
  /** The GenAI conventions' `gen_ai.invoke_agent.*` and `gen_ai.execute_tool.duration`. */
  readonly genAi: boolean;
}

/** What one AgentMeter reports through the observable instruments. */
interface Source {
  readonly series: SeriesRegistry;
  /** Present when the AgentMeter has a quota. */
  readonly quota: { readonly gauges: QuotaGaugeSource; readonly series: QuotaSeries } | undefined;
}

/** The `subagent.*` histograms; the `subagent.*` counters observe `subagentSources`. */
interface SubagentHistograms {
  readonly duration: Histogram;
  readonly turns: Histogram;
  readonly tokens: Histogram;
  readonly toolDuration: Histogram;
}

/** The GenAI conventions' agent and tool histograms. */
interface GenAiHistograms {
  readonly invokeDuration: Histogram;
  readonly inferenceCalls: Histogram;
  readonly toolCalls: Histogram;
  readonly executeToolDuration: Histogram;
}

/**
 * The instruments of one meter, shared by every AgentMeter that records through it. Each family
 * is created when the first AgentMeter that records it binds: an app on `metrics: 'gen_ai'` has
 * no `subagent.*` run instrument at all.
 */
interface MeterBinding {
  subagent: SubagentHistograms | undefined;
  genAi: GenAiHistograms | undefined;
  /** Every AgentMeter on this meter: the quota instruments report them all. */
  readonly sources: Set<Source>;
  /** Those that record the `subagent` family: the `subagent.*` counters and gauge report only them. */
  readonly subagentSources: Set<Source>;
  quotaBound: boolean;
}

type Emit = (instrument: Observable, value: number, attributes: Attributes) => void;

const bindings = new WeakMap<Meter, MeterBinding>();

/**
 * Every instrument agentmetry records, created in one place. Counters and the active gauge
 * are observable: their values live in the series registry (and the quota store), written
 * once per event with pre-built attribute sets, and are read only when a reader collects.
 * Histograms are recorded at the end of each run.
 *
 * Instruments are bound lazily to the meter provider in force, so an AgentMeter created
 * before the app registers its provider starts exporting as soon as one exists. AgentMeters
 * sharing a meter share its instruments, and their observations are summed.
 */
export class SubagentInstruments {
  readonly #source: Source;
  readonly #families: MetricFamilies;
  #provider: MeterProvider | undefined;
  #binding: MeterBinding | undefined;
  /** The histograms of the families this AgentMeter records, once bound; `undefined` for the others. */
  #subagent: SubagentHistograms | undefined;
  #genAi: GenAiHistograms | undefined;

  constructor(series: SeriesRegistry, quota: Source['quota'], families: MetricFamilies) {
    this.#source = { series, quota };
    this.#families = families;
  }

  /** Binds to `provider` unless already bound to it. Cheap when nothing changed. */
  use(provider: MeterProvider): void {
    if (provider === this.#provider) return;
    this.#provider = provider;
    this.#binding?.sources.delete(this.#source);
    this.#binding?.subagentSources.delete(this.#source);
    this.#binding = undefined;
    this.#subagent = undefined;
    this.#genAi = undefined;
    try {
      const meter = provider.getMeter(METER_NAME, VERSION);
      let binding = bindings.get(meter);
      if (binding === undefined) {
        binding = { subagent: undefined, genAi: undefined, sources: new Set(), subagentSources: new Set(), quotaBound: false };
        bindings.set(meter, binding);
      }
      if (this.#families.subagent) binding.subagent ??= bindSubagent(meter, binding.subagentSources);
      if (this.#families.genAi) binding.genAi ??= bindGenAi(meter);
      if (this.#source.quota !== undefined) {
        if ([...binding.sources].some((source) => source.quota !== undefined)) {
          logger.warn('two AgentMeters with quotas record through one meter provider; their quota gauges are summed');
        }
        if (!binding.quotaBound) bindQuota(meter, binding);
      }
      binding.sources.add(this.#source);
      if (this.#families.subagent) binding.subagentSources.add(this.#source);
      this.#binding = binding;
      this.#subagent = this.#families.subagent ? binding.subagent : undefined;
      this.#genAi = this.#families.genAi ? binding.genAi : undefined;
    } catch (error) {
      logger.error('creating instruments failed; metrics are off for this provider', error);
    }
  }

  /** The end of a started run: `subagent.duration` and `subagent.turns`. */
  recordEnd(series: SeriesStats, outcomeIndex: number, durationS: number, turns: number): void {
    const subagent = this.#subagent;
    if (subagent === undefined) return;
    subagent.duration.record(durationS, series.outcomeAttributes[outcomeIndex]);
    subagent.turns.record(turns, series.attributes);
  }

  /**
   * The end of a started run: `gen_ai.invoke_agent.duration` (with `error.type` when it ended in
   * one) and its own inference (turn) and tool-call counts.
   */
  recordInvocation(
    series: SeriesStats,
    model: string | undefined,
    errorType: string | undefined,
    durationS: number,
    inferenceCalls: number,
    toolCalls: number,
  ): void {
    const genAi = this.#genAi;
    if (genAi === undefined) return;
    genAi.invokeDuration.record(durationS, series.genAiAttributes(model, errorType));
    const attributes = series.genAiAttributes(model, undefined);
    genAi.inferenceCalls.record(inferenceCalls, attributes);
    genAi.toolCalls.record(toolCalls, attributes);
  }

  recordTokens(series: SeriesStats, inputTokens: number, outputTokens: number): void {
    const subagent = this.#subagent;
    if (subagent === undefined) return;
    subagent.tokens.record(inputTokens, series.inputTokenAttributes);
    subagent.tokens.record(outputTokens, series.outputTokenAttributes);
  }

  recordToolCall(tool: ToolSeries, durationS: number, errorType: string | undefined, type: string | undefined): void {
    this.#subagent?.toolDuration.record(durationS, tool.attributesFor(errorType));
    this.#genAi?.executeToolDuration.record(durationS, tool.genAiAttributesFor(type, errorType));
  }
}

function bindSubagent(meter: Meter, sources: Set<Source>): SubagentHistograms {
  const histograms: SubagentHistograms = {
    duration: meter.createHistogram(METRIC_DURATION, {
      unit: 's',
      description: 'Duration of subagent executions.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    }),
    turns: meter.createHistogram(METRIC_TURNS, {
      unit: '{turn}',
      description: 'Model turns per subagent execution.',
      advice: { explicitBucketBoundaries: TURN_BUCKETS },
    }),
    tokens: meter.createHistogram(METRIC_TOKENS, {
      unit: '{token}',
      description: 'Tokens used per subagent execution, by token type.',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    }),
    toolDuration: meter.createHistogram(METRIC_TOOL_DURATION, {
      unit: 's',
      description: 'Duration of the tool calls subagents made, by tool (and error type when one failed).',
      advice: { explicitBucketBoundaries: TOOL_DURATION_BUCKETS_S },
    }),
  };
  const executions = meter.createObservableCounter(METRIC_EXECUTIONS, {
    unit: '{execution}',
    description: 'Finished subagent executions, by outcome.',
  });
  const active = meter.createObservableUpDownCounter(METRIC_ACTIVE, {
    unit: '{execution}',
    description: 'Subagent executions in flight.',
  });
  const errors = meter.createObservableCounter(METRIC_ERRORS, {
    unit: '{error}',
    description: 'Subagent executions that ended in an error, timeout, abort or quota denial, by error type.',
  });
  const cost = meter.createObservableCounter(METRIC_COST, {
    unit: 'USD',
    description: 'Cost of subagent executions, where known.',
  });
  observeAll(meter, sources, [executions, active, errors, cost], (source, emit) => {
    for (const series of source.series) {
      emit(active, series.active, series.attributes);
      for (let index = 0; index < OUTCOMES.length; index++) {
        const count = series.executions[index]!;
        if (count > 0) emit(executions, count, series.outcomeAttributes[index]!);
      }
      for (const entry of series.errors.values()) emit(errors, entry.count, entry.attributes);
      if (series.costKnown) emit(cost, nanosToUsd(series.costNanos), series.attributes);
    }
  });
  return histograms;
}

/** The GenAI conventions' agent and tool metrics: names, units, descriptions and bucket advice as they define them. */
function bindGenAi(meter: Meter): GenAiHistograms {
  return {
    invokeDuration: meter.createHistogram(METRIC_GEN_AI_INVOKE_AGENT_DURATION, {
      unit: 's',
      description:
        'The end-to-end duration of a single agent invocation, from the moment the invocation starts until the agent emits the last chunk of its final response or terminates with an error.',
      advice: { explicitBucketBoundaries: GEN_AI_INVOKE_AGENT_DURATION_BUCKETS_S },
    }),
    inferenceCalls: meter.createHistogram(METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS, {
      unit: '{inference_call}',
      description: 'The number of inference (model) calls a GenAI agent makes during a single invocation.',
      valueType: ValueType.INT,
      advice: { explicitBucketBoundaries: GEN_AI_CALL_COUNT_BUCKETS },
    }),
    toolCalls: meter.createHistogram(METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS, {
      unit: '{tool_call}',
      description: 'The number of tool calls a GenAI agent makes during a single invocation.',
      valueType: ValueType.INT,
      advice: { explicitBucketBoundaries: GEN_AI_CALL_COUNT_BUCKETS },
    }),
    executeToolDuration: meter.createHistogram(METRIC_GEN_AI_EXECUTE_TOOL_DURATION, {
      unit: 's',
      description: 'The duration of a single tool execution.',
      advice: { explicitBucketBoundaries: GEN_AI_EXECUTE_TOOL_DURATION_BUCKETS_S },
    }),
  };
}

function bindQuota(meter: Meter, binding: MeterBinding): void {
  binding.quotaBound = true;
  const limit = meter.createObservableGauge(METRIC_QUOTA_LIMIT, { description: 'Quota limit, by resource and scope.' });
  const used = meter.createObservableGauge(METRIC_QUOTA_USED, { description: 'Quota consumed, by resource and scope.' });
  const reserved = meter.createObservableGauge(METRIC_QUOTA_RESERVED, {
    description: 'Quota reserved by runs in flight, by resource and scope.',
  });
  const denials = meter.createObservableCounter(METRIC_QUOTA_DENIALS, {
    unit: '{denial}',
    description: 'Runs denied by a quota (or that would have been, in observe mode), by resource.',
  });
  const warnings = meter.createObservableCounter(METRIC_QUOTA_WARNINGS, {
    unit: '{warning}',
    description: 'Soft quota thresholds crossed, by resource and threshold.',
  });
  const unaccounted = meter.createObservableCounter(METRIC_QUOTA_UNACCOUNTED, {
    unit: '{execution}',
    description: 'Runs admitted without accounting because the quota store was unavailable.',
  });
  const exhaustion = meter.createObservableGauge(METRIC_QUOTA_EXHAUSTION, {
    unit: 's',
    description:
      'Seconds until the quota is projected to run out at its recent burn rate (within the window, for a windowed limit), by resource and scope; -1 when it is not.',
  });
  const gauges = { limit, used, reserved, exhaustion };
  observeAll(meter, binding.sources, [limit, used, reserved, exhaustion, denials, warnings, unaccounted], (source, emit) => {
    const quota = source.quota;
    if (quota === undefined) return;
    const { gauges: state, series } = quota;
    series.beginGaugeCollection();
    state.forEachGauge((kind, resource, scope, value, level, window) => emit(gauges[kind], value, series.gaugeAttributes(resource, scope, level, window)));
    for (const entry of series.denials()) emit(denials, entry.count, entry.attributes);
    for (const entry of series.warnings()) emit(warnings, entry.count, entry.attributes);
    const unaccountedCount = state.unaccounted();
    if (unaccountedCount > 0) emit(unaccounted, unaccountedCount, {});
  });
}

/**
 * One batch callback over every source of a meter. With one source (the usual case) values
 * are observed as they come; with several, values of the same instrument and attributes are
 * summed first, since an observable reports one value per attribute set.
 */
function observeAll(meter: Meter, sources: Set<Source>, observables: Observable[], report: (source: Source, emit: Emit) => void): void {
  meter.addBatchObservableCallback((result: BatchObservableResult) => {
    if (sources.size === 1) {
      const emit: Emit = (instrument, value, attributes) => result.observe(instrument, value, attributes);
      for (const source of sources) report(source, emit);
      return;
    }
    const sums = new Map<Observable, Map<string, { attributes: Attributes; value: number }>>();
    const emit: Emit = (instrument, value, attributes) => {
      let byAttributes = sums.get(instrument);
      if (byAttributes === undefined) sums.set(instrument, (byAttributes = new Map<string, { attributes: Attributes; value: number }>()));
      const key = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)));
      const entry = byAttributes.get(key);
      if (entry === undefined) byAttributes.set(key, { attributes, value });
      else entry.value += value;
    };
    for (const source of sources) report(source, emit);
    for (const [instrument, byAttributes] of sums) {
      for (const { attributes, value } of byAttributes.values()) result.observe(instrument, value, attributes);
    }
  }, observables);
}
