import type { Attributes } from '@opentelemetry/api';
import type { QuotaExceededError } from '../errors.js';
import { ATTR_GEN_AI_AGENT_NAME, ATTR_QUOTA_MODE, ATTR_QUOTA_RESOURCE, ATTR_QUOTA_SCOPE, ATTR_QUOTA_THRESHOLD } from '../semconv.js';
import type { QuotaMode } from '../types.js';

export interface CountedSeries {
  readonly attributes: Attributes;
  count: number;
}

/**
 * What the quota gauges are read from: implemented by the quota, wired to telemetry by the run
 * pipeline. Values are in user units (USD for cost); `scope` is a scope key or `other`.
 */
export interface QuotaGaugeSource {
  forEachGauge(visit: (kind: 'limit' | 'used' | 'reserved', resource: string, scope: string, value: number) => void): void;
  unaccounted(): number;
}

/**
 * The live counts behind `subagent.quota.denials` and `subagent.quota.warnings`, and the
 * attribute sets of the quota gauges, built once per series.
 */
export class QuotaSeries {
  readonly #denials = new Map<string, CountedSeries>();
  readonly #warnings = new Map<string, CountedSeries>();
  readonly #gaugeAttributes = new Map<string, Attributes>();

  /** Counts a denial (a would-be one in observe mode) by resource and capped agent name. */
  countDenial(agent: string, error: QuotaExceededError, mode: QuotaMode): void {
    const key = `${error.resource}\u0000${agent}\u0000${mode}`;
    let series = this.#denials.get(key);
    if (series === undefined) {
      series = { attributes: { [ATTR_QUOTA_RESOURCE]: error.resource, [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_QUOTA_MODE]: mode }, count: 0 };
      this.#denials.set(key, series);
    }
    series.count += 1;
  }

  countWarning(resource: string, threshold: number): void {
    const key = `${resource}\u0000${threshold}`;
    let series = this.#warnings.get(key);
    if (series === undefined) {
      series = { attributes: { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_QUOTA_THRESHOLD]: threshold }, count: 0 };
      this.#warnings.set(key, series);
    }
    series.count += 1;
  }

  denials(): Iterable<CountedSeries> {
    return this.#denials.values();
  }

  warnings(): Iterable<CountedSeries> {
    return this.#warnings.values();
  }

  /** The attributes of one quota gauge series. */
  gaugeAttributes(resource: string, scope: string): Attributes {
    const key = `${scope}\u0000${resource}`;
    let attributes = this.#gaugeAttributes.get(key);
    if (attributes === undefined) {
      attributes = { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_QUOTA_SCOPE]: scope };
      this.#gaugeAttributes.set(key, attributes);
    }
    return attributes;
  }
}
