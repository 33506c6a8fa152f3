import { describe, expect, it } from 'vitest';
import { prometheusMetricName, type PrometheusMetricType } from '../../src/setup/prometheus-names.js';
import { collectorFamily, INSTRUMENTS } from '../e2e/helpers/prometheus-names.js';

describe('prometheusMetricName: the names the collector gives', () => {
  // The cases of otlptranslator v1.0.0's metric_namer_test.go for UnderscoreEscapingWithSuffixes
  // without a namespace (the collector's prometheus exporter in collector-contrib v0.159 calls it).
  const OTLPTRANSLATOR: Array<[name: string, unit: string, type: PrometheusMetricType, expected: string]> = [
    ['requests', '', 'counter', 'requests_total'],
    ['cpu_usage', '1', 'gauge', 'cpu_usage_ratio'],
    ['items', '1', 'counter', 'items_total'],
    ['response_time', 'ms', 'gauge', 'response_time_milliseconds'],
    ['memory_usage', 'By', 'gauge', 'memory_usage_bytes'],
    ['requests', '1/s', 'gauge', 'requests_per_second'],
    ['throughput', 'By/s', 'gauge', 'throughput_bytes_per_second'],
    ['custom_metric', 'custom_unit', 'gauge', 'custom_metric_custom_unit'],
    ['custom_metric', '{custom}', 'gauge', 'custom_metric'],
    ['custom_metric', 'By/{custom}', 'gauge', 'custom_metric_bytes'],
    ['requests_total', '', 'counter', 'requests_total'],
    ['cpu_usage_ratio', '1', 'gauge', 'cpu_usage_ratio'],
    ['response_time_seconds', 's', 'gauge', 'response_time_seconds'],
    ['cpu_seconds_total', 's', 'counter', 'cpu_seconds_total'],
    ['otelcol_process_cpu_seconds', 's', 'counter', 'otelcol_process_cpu_seconds_total'],
    ['metric__with__multiple__underscores', 'unit__multiple__underscores', 'gauge', 'metric_with_multiple_underscores_unit_multiple_underscores'],
    ['custom_metric', 'unit@with#special/chars', 'gauge', 'custom_metric_unit_with_special_per_chars'],
  ];

  it.each(OTLPTRANSLATOR)('%s (%j, %s) -> %s', (name, unit, type, expected) => {
    expect(prometheusMetricName(name, unit, type)).toBe(expected);
  });

  it("agentmetry's instruments: unit suffixes, braced units dropped, _total on counters", () => {
    expect(prometheusMetricName('subagent.duration', 's', 'histogram')).toBe('subagent_duration_seconds');
    expect(prometheusMetricName('subagent.cost', 'USD', 'counter')).toBe('subagent_cost_USD_total');
    expect(prometheusMetricName('subagent.tokens', '{token}', 'histogram')).toBe('subagent_tokens');
    expect(prometheusMetricName('subagent.active', '{execution}', 'updowncounter')).toBe('subagent_active');
    expect(prometheusMetricName('subagent.quota.used', '', 'gauge')).toBe('subagent_quota_used');
    expect(prometheusMetricName('subagent.quota.denials', '{denial}', 'counter')).toBe('subagent_quota_denials_total');
  });

  it('agrees with the names the dashboards and alert rules are checked against', () => {
    for (const { name, kind, unit } of INSTRUMENTS) expect(prometheusMetricName(name, unit, kind), name).toBe(collectorFamily(name, kind, unit));
  });

  it('the rarer rules: ratio only on gauges, no repeated unit, total moved last, a leading digit escaped', () => {
    expect(prometheusMetricName('load', '1', 'updowncounter')).toBe('load');
    expect(prometheusMetricName('load', '1', 'histogram')).toBe('load');
    expect(prometheusMetricName('http.server.request.duration', 's', 'histogram')).toBe('http_server_request_duration_seconds');
    expect(prometheusMetricName('queue.seconds.waited', 's', 'histogram')).toBe('queue_seconds_waited');
    expect(prometheusMetricName('total.requests', '', 'counter')).toBe('requests_total');
    expect(prometheusMetricName('bytes.sent', 'By', 'counter')).toBe('bytes_sent_total');
    expect(prometheusMetricName('data.sent', 'KiBy', 'counter')).toBe('data_sent_kibibytes_total');
    expect(prometheusMetricName('disk.io', 'By/s', 'updowncounter')).toBe('disk_io_bytes_per_second');
    expect(prometheusMetricName('2xx.responses', '', 'counter')).toBe('_2xx_responses_total');
  });
});
