/**
 * The Prometheus series names agentmetry's instruments get on the collector path
 * (OTLP -> collector prometheus exporter, translation UnderscoreEscapingWithSuffixes),
 * derived from the names in src/semconv.ts and the instruments' kinds and units.
 * The dashboards and alert rules query exactly these, and the app's own endpoint
 * (startTelemetry) serves the same names.
 */
import {
  METRIC_ACTIVE,
  METRIC_COST,
  METRIC_DURATION,
  METRIC_ERRORS,
  METRIC_EXECUTIONS,
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
} from '../../../src/semconv.js';

type Kind = 'counter' | 'updowncounter' | 'gauge' | 'histogram';

/** Instrument kind and unit, as the telemetry contract fixes them. */
export const INSTRUMENTS: ReadonlyArray<{ name: string; kind: Kind; unit: string }> = [
  { name: METRIC_EXECUTIONS, kind: 'counter', unit: '{execution}' },
  { name: METRIC_DURATION, kind: 'histogram', unit: 's' },
  { name: METRIC_TURNS, kind: 'histogram', unit: '{turn}' },
  { name: METRIC_TOKENS, kind: 'histogram', unit: '{token}' },
  { name: METRIC_ACTIVE, kind: 'updowncounter', unit: '{execution}' },
  { name: METRIC_ERRORS, kind: 'counter', unit: '{error}' },
  { name: METRIC_COST, kind: 'counter', unit: 'USD' },
  { name: METRIC_TOOL_DURATION, kind: 'histogram', unit: 's' },
  { name: METRIC_QUOTA_LIMIT, kind: 'gauge', unit: '' },
  { name: METRIC_QUOTA_USED, kind: 'gauge', unit: '' },
  { name: METRIC_QUOTA_RESERVED, kind: 'gauge', unit: '' },
  { name: METRIC_QUOTA_EXHAUSTION, kind: 'gauge', unit: 's' },
  { name: METRIC_QUOTA_DENIALS, kind: 'counter', unit: '{denial}' },
  { name: METRIC_QUOTA_WARNINGS, kind: 'counter', unit: '{warning}' },
  { name: METRIC_QUOTA_UNACCOUNTED, kind: 'counter', unit: '{execution}' },
];

/** UCUM units the OTLP -> Prometheus translation spells out (the subset agentmetry could use). */
const UNIT_WORDS: Record<string, string> = { s: 'seconds', ms: 'milliseconds', By: 'bytes', '%': 'percent' };

function escape(name: string): string {
  return name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/_+/g, '_');
}

/** The collector path: unit suffix (braced units dropped), `_total` on monotonic sums. */
export function collectorFamily(name: string, kind: Kind, unit: string): string {
  let family = escape(name);
  const unitWord = unit === '' || unit.startsWith('{') ? '' : (UNIT_WORDS[unit] ?? escape(unit));
  if (unitWord !== '' && !family.endsWith(`_${unitWord}`)) family += `_${unitWord}`;
  if (kind === 'counter') family += '_total';
  return family;
}

/** Every series name a family exposes (histograms: _bucket, _sum, _count). */
export function seriesNames(family: string, kind: Kind): string[] {
  return kind === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`] : [family];
}

/** All series names of the collector path, i.e. the names dashboards and rules may query. */
export function knownSeriesNames(): Set<string> {
  return new Set(INSTRUMENTS.flatMap(({ name, kind, unit }) => seriesNames(collectorFamily(name, kind, unit), kind)));
}

/** Labels: attribute keys with `.` escaped to `_`. */
export function labelName(attribute: string): string {
  return escape(attribute);
}
