import type { Attributes } from '@opentelemetry/api';
import type { QuotaExceededError } from '../errors.js';
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_QUOTA_LEVEL,
  ATTR_QUOTA_MODE,
  ATTR_QUOTA_RESOURCE,
  ATTR_QUOTA_SCOPE,
  ATTR_QUOTA_THRESHOLD,
  ATTR_QUOTA_WINDOW,
} from '../semconv.js';
import type { QuotaMode } from '../types.js';

export interface CountedSeries {
  readonly attributes: Attributes;
  count: number;
}

/**
 * What the quota gauges are read from: implemented by the quota, wired to telemetry by the run
 * pipeline. Values are in user units (USD for cost; `exhaustion` in seconds, -1 when none is
 * projected); `scope` is a scope key or `other`; `level` and `window` are undefined for a quota
 * without levels and a limit that never resets.
 */
export interface QuotaGaugeSource {
  forEachGauge(
    visit: (
      kind: 'limit' | 'used' | 'reserved' | 'exhaustion',
      resource: string,
      scope: string,
      value: number,
      level: string | undefined,
      window: string | undefined,
    ) => void,
  ): void;
  unaccounted(): number;
}

/**
 * The live counts behind `subagent.quota.denials` and `subagent.quota.warnings`, and the
 * attribute sets of the quota gauges, built once per series.
 */
export class QuotaSeries {
  readonly #denials = new Map<string, CountedSeries>();
  readonly #warnings = new Map<string, CountedSeries>();
  #gaugeAttributes = new Map<string, Attributes>();
  #previousGaugeAttributes = new Map<string, Attributes>();

  /** Counts a denial (a would-be one in observe mode) by resource, capped agent name, and the level and window that refused. */
  countDenial(agent: string, error: QuotaExceededError, mode: QuotaMode): void {
    const { resource, level, window } = error;
    const key = `${resource}\u0000${agent}\u0000${mode}\u0000${level ?? ''}\u0000${window ?? ''}`;
    let series = this.#denials.get(key);
    if (series === undefined) {
      const attributes: Attributes = { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_QUOTA_MODE]: mode };
      if (level !== undefined) attributes[ATTR_QUOTA_LEVEL] = level;
      if (window !== undefined) attributes[ATTR_QUOTA_WINDOW] = window;
      series = { attributes, count: 0 };
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

  /**
   * The attributes of one quota gauge series. Kept while the series is reported: scopes come and
   * go with eviction, so the cache is rebuilt from the series of the last collection.
   */
  gaugeAttributes(resource: string, scope: string, level: string | undefined, window: string | undefined): Attributes {
    const key = `${scope}\u0000${resource}\u0000${level ?? ''}\u0000${window ?? ''}`;
    let attributes = this.#gaugeAttributes.get(key) ?? this.#previousGaugeAttributes.get(key);
    if (attributes === undefined) {
      attributes = { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_QUOTA_SCOPE]: scope };
      if (level !== undefined) attributes[ATTR_QUOTA_LEVEL] = level;
      if (window !== undefined) attributes[ATTR_QUOTA_WINDOW] = window;
    }
    this.#gaugeAttributes.set(key, attributes);
    return attributes;
  }

  /** Starts a collection of the gauges: attribute sets no series used since the last one are dropped. */
  beginGaugeCollection(): void {
    this.#previousGaugeAttributes = this.#gaugeAttributes;
    this.#gaugeAttributes = new Map();
  }
}
