import type { BatchObservableResult, Histogram, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import { logger } from '../diag.js';
import type { QuotaProcessor } from '../quota/processor.js';
import {
  DURATION_BUCKETS_S,
  METER_NAME,
  METRIC_ACTIVE,
  METRIC_COST,
  METRIC_DURATION,
  METRIC_ERRORS,
  METRIC_EXECUTIONS,
  METRIC_QUOTA_DENIALS,
  METRIC_QUOTA_LIMIT,
  METRIC_QUOTA_RESERVED,
  METRIC_QUOTA_UNACCOUNTED,
  METRIC_QUOTA_USED,
  METRIC_QUOTA_WARNINGS,
  METRIC_TOKENS,
  METRIC_TURNS,
  OUTCOMES,
  TOKEN_BUCKETS,
  TURN_BUCKETS,
} from '../semconv.js';
import { VERSION } from '../version.js';
import type { SeriesRegistry, SeriesStats } from './series.js';

/**
 * Every instrument agentmeter records, created in one place. Counters and the active gauge
 * are observable: their values live in the series registry (and the quota store), written
 * once per event with pre-built attribute sets, and are read only when a reader collects.
 * Histograms are recorded at the end of each run.
 *
 * Instruments are bound lazily to the meter provider in force, so an AgentMeter created
 * before the app registers its provider starts exporting as soon as one exists.
 */
export class SubagentInstruments {
  #provider: MeterProvider | undefined;
  #duration: Histogram | undefined;
  #turns: Histogram | undefined;
  #tokens: Histogram | undefined;

  constructor(
    private readonly series: SeriesRegistry,
    private readonly quota: QuotaProcessor | undefined,
  ) {}

  /** Binds to `provider` unless already bound to it. Cheap when nothing changed. */
  use(provider: MeterProvider): void {
    if (provider === this.#provider) return;
    this.#provider = provider;
    try {
      this.#bind(provider.getMeter(METER_NAME, VERSION));
    } catch (error) {
      this.#duration = this.#turns = this.#tokens = undefined;
      logger.error('creating instruments failed; metrics are off for this provider', error);
    }
  }

  recordEnd(series: SeriesStats, outcomeIndex: number, durationS: number, turns: number): void {
    this.#duration?.record(durationS, series.outcomeAttributes[outcomeIndex]);
    this.#turns?.record(turns, series.attributes);
  }

  recordTokens(series: SeriesStats, inputTokens: number, outputTokens: number): void {
    this.#tokens?.record(inputTokens, series.inputTokenAttributes);
    this.#tokens?.record(outputTokens, series.outputTokenAttributes);
  }

  #bind(meter: Meter): void {
    this.#duration = meter.createHistogram(METRIC_DURATION, {
      unit: 's',
      description: 'Duration of subagent executions.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    });
    this.#turns = meter.createHistogram(METRIC_TURNS, {
      unit: '{turn}',
      description: 'Model turns per subagent execution.',
      advice: { explicitBucketBoundaries: TURN_BUCKETS },
    });
    this.#tokens = meter.createHistogram(METRIC_TOKENS, {
      unit: '{token}',
      description: 'Tokens used per subagent execution, by token type.',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    });
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
    const observables: Observable[] = [executions, active, errors, cost];
    meter.addBatchObservableCallback((result: BatchObservableResult) => {
      for (const series of this.series) {
        result.observe(active, series.active, series.attributes);
        for (let index = 0; index < OUTCOMES.length; index++) {
          const count = series.executions[index]!;
          if (count > 0) result.observe(executions, count, series.outcomeAttributes[index]);
        }
        for (const entry of series.errors.values()) result.observe(errors, entry.count, entry.attributes);
        if (series.costKnown) result.observe(cost, series.costMicros / 1e6, series.attributes);
      }
    }, observables);

    const quota = this.quota;
    if (quota === undefined) return;
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
    const gauges = { limit, used, reserved };
    meter.addBatchObservableCallback(
      (result: BatchObservableResult) => {
        quota.observeGauges((kind, value, attributes) => result.observe(gauges[kind], value, attributes));
        for (const entry of quota.denials()) result.observe(denials, entry.count, entry.attributes);
        for (const entry of quota.warnings()) result.observe(warnings, entry.count, entry.attributes);
        const unaccountedCount = quota.unaccounted();
        if (unaccountedCount > 0) result.observe(unaccounted, unaccountedCount);
      },
      [limit, used, reserved, denials, warnings, unaccounted],
    );
  }
}

