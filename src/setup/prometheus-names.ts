/**
 * The Prometheus name of an OpenTelemetry metric, as every OTLP -> Prometheus translator spells
 * it: the collector's `prometheus` exporter (`translation_strategy:
 * UnderscoreEscapingWithSuffixes`, its default), Prometheus' own OTLP receiver and
 * `prometheusremotewrite`. All of them call `MetricNamer.Build` of github.com/prometheus/otlptranslator
 * (v1.0.0 in collector-contrib v0.159); this is its `normalizeName`, rule for rule.
 *
 * The OpenTelemetry JS Prometheus exporter appends `_total` to counters but never a unit, so
 * `startTelemetry` renames every metric with this function before serializing: the app's own
 * `/metrics` and the collector's then carry the same names (`subagent_duration_seconds_*`,
 * `subagent_cost_USD_total`), for agentmetry's instruments and the app's alike.
 */

/** How the translator classes a metric (a histogram of either kind is a `histogram`): only
 * counters (monotonic sums) and gauges get a suffix of their own. */
export type PrometheusMetricType = 'counter' | 'updowncounter' | 'gauge' | 'histogram';

/** UCUM units spelled out as words (otlptranslator's `unitMap`); any other unit is kept as written. */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};

/** The denominators of `x/y` units (otlptranslator's `perUnitMap`), singular. */
const PER_UNIT_WORDS: Readonly<Record<string, string>> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** Characters a legacy Prometheus name keeps; `_` is a separator, like every other character. */
const NOT_NAME_CHARACTERS = /[^a-zA-Z0-9:]+/;

/**
 * `subagent.duration` (`s`, histogram) -> `subagent_duration_seconds`; `subagent.cost` (`USD`,
 * counter) -> `subagent_cost_USD_total`; braced units (`{token}`) add nothing; unit `1` adds
 * `_ratio` to a gauge only. Histograms get their `_bucket`/`_sum`/`_count` from the serializer.
 */
export function prometheusMetricName(name: string, unit: string, type: PrometheusMetricType): string {
  let tokens = name.split(NOT_NAME_CHARACTERS).filter((token) => token !== '');
  const [main, per] = unitSuffixes(unit);
  tokens = addUnitTokens(tokens, cleanUpUnit(main), cleanUpUnit(per));
  if (type === 'counter') tokens = [...tokens.filter((token) => token !== 'total'), 'total'];
  if (unit === '1' && type === 'gauge') tokens = [...tokens.filter((token) => token !== 'ratio'), 'ratio'];
  const joined = tokens.join('_');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}

/** `By/s` -> [`bytes`, `per_second`]: words for the unit before and after the first `/`. */
function unitSuffixes(unit: string): [string, string] {
  const slash = unit.indexOf('/');
  const mainUnit = (slash === -1 ? unit : unit.slice(0, slash)).trim();
  const perUnit = slash === -1 ? '' : unit.slice(slash + 1).trim();
  const main = mainUnit !== '' && !/[{}]/.test(mainUnit) ? (UNIT_WORDS[mainUnit] ?? mainUnit) : '';
  const perWord = perUnit !== '' && !/[{}]/.test(perUnit) ? (PER_UNIT_WORDS[perUnit] ?? perUnit) : '';
  return [main, perWord === '' ? '' : `per_${perWord}`];
}

function cleanUpUnit(unit: string): string {
  return unit
    .replace(/[^a-zA-Z0-9:]/g, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^_/, '');
}

/** Appends the unit words the name does not already hold as a token. */
function addUnitTokens(tokens: string[], main: string, per: string): string[] {
  let mainSuffix = tokens.includes(main) ? '' : main;
  let perSuffix = per === 'per_' ? '' : per.replace(/_$/, '');
  if (tokens.includes(perSuffix)) perSuffix = '';
  if (perSuffix !== '') mainSuffix = mainSuffix.replace(/_$/, '');
  return [...tokens, ...(mainSuffix === '' ? [] : [mainSuffix]), ...(perSuffix === '' ? [] : [perSuffix])];
}
