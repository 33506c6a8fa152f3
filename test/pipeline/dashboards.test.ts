/**
 * Static checks of the shipped Grafana dashboards and Prometheus rules (no binaries):
 * schema, PromQL syntax, the grafana/dashboard-linter rules, and that every query
 * names a series agentmetry really produces. test/e2e/pipeline.test.ts runs the
 * same queries against a real Prometheus.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { generateDashboardSchema, OUTPUT as SCHEMA_FILE } from '../../scripts/generate-dashboard-schema.mjs';
import { dataPanels, expandQuery, legendLabels, loadDashboards, REPO_ROOT, type DashboardJson } from '../e2e/helpers/dashboards.js';
import { knownSeriesNames } from '../e2e/helpers/prometheus-names.js';
import { groupingLabels, matrixSelectors, parsePromQL, syntaxErrors, vectorSelectors, walk } from '../e2e/helpers/promql.js';

/** What dashboard-linter substitutes for $__rate_interval, so the rule can recognise it after parsing. */
const RATE_INTERVAL_SENTINEL = '8869990787ms';
const RATE_FUNCTIONS = new Set(['rate', 'irate', 'increase']);
/** Units dashboard-linter's panel-units-rule accepts that these dashboards may use (subset of Grafana's unit ids). */
const VALID_UNITS = new Set([
  'none',
  'short',
  'percent',
  'percentunit',
  'currencyUSD',
  'ns',
  'µs',
  'ms',
  's',
  'm',
  'h',
  'd',
  'dtdurationms',
  'dtdurations',
  'ops',
  'reqps',
  'rps',
  'wps',
  'iops',
  'cps',
  'opm',
  'rpm',
  'bytes',
  'decbytes',
]);
const PANELS_WITH_UNITS = new Set(['stat', 'singlestat', 'graph', 'table-old', 'timeseries', 'gauge', 'bargauge']);
const dashboards = loadDashboards();
const known = knownSeriesNames();

/** The query as linted: $__rate_interval marked, other Grafana time variables made durations. */
function lintable(expr: string, dashboard: DashboardJson): string {
  return expandQuery(expr, dashboard, { rateInterval: RATE_INTERVAL_SENTINEL, interval: '1m', range: '1h' });
}

describe('dashboard JSON schema', () => {
  it('grafana/schema/dashboard.schema.json is current for the installed @grafana/schema', () => {
    const committed = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as unknown;
    expect(committed).toEqual(generateDashboardSchema());
  });

  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);
  it.each(dashboards.map(({ file, dashboard }) => [file, dashboard] as const))('%s validates', (_file, dashboard) => {
    const valid = validate(dashboard);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('rejects what Grafana would not read (the schema has teeth)', () => {
    const dashboard = dashboards[0]!.dashboard;
    expect(validate({ ...dashboard, schemaVersion: undefined })).toBe(false);
    expect(validate({ ...dashboard, refreshh: '30s' })).toBe(false);
    const panels = dashboard.panels.map((panel, index) => (index === 1 ? { ...panel, gridPos: { x: 0, y: 0 } } : panel));
    expect(validate({ ...dashboard, panels })).toBe(false);
  });
});

describe.each(dashboards.map(({ file, dashboard }) => [file, dashboard] as const))('%s', (_file, dashboard) => {
  const variables = dashboard.templating.list;
  const panels = dataPanels(dashboard);
  const targets = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));

  it('has a unique uid, a title, and is not editable (uneditable-dashboard)', () => {
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboards.filter((other) => other.dashboard.uid === dashboard.uid)).toHaveLength(1);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.editable).toBe(false);
  });

  it('has exactly one templated datasource, named datasource, for Prometheus (template-datasource-rule)', () => {
    const datasources = variables.filter((variable) => variable.type === 'datasource');
    expect(datasources).toHaveLength(1);
    expect(datasources[0]).toMatchObject({ name: 'datasource', label: 'Data source', query: 'prometheus' });
    expect(JSON.stringify(dashboard)).not.toContain('__inputs');
    expect(JSON.stringify(dashboard)).not.toContain('DS_PROMETHEUS');
  });

  it.each(['job', 'instance', 'agent', 'depth'])('has a multi-select %s variable over the templated datasource (template-job/instance-rule)', (name) => {
    const variable = variables.find((candidate) => candidate.name === name);
    expect(variable).toMatchObject({
      type: 'query',
      datasource: { type: 'prometheus', uid: '${datasource}' },
      multi: true,
      includeAll: true,
      allValue: '.+',
      refresh: 2, // template-on-time-change-reload-rule
    });
    expect(variable?.label).toBe(name[0]!.toUpperCase() + name.slice(1));
  });

  it('variable queries are label_values() over valid PromQL (template-label-promql-rule)', () => {
    for (const variable of variables.filter((candidate) => candidate.type === 'query')) {
      const query = typeof variable.query === 'string' ? variable.query : JSON.stringify(variable.query);
      const match = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/.exec(query);
      expect(match, `${variable.name}: ${query}`).not.toBeNull();
      const selector = lintable(match![1]!, dashboard);
      expect(syntaxErrors(selector), selector).toEqual([]);
      for (const { metric } of vectorSelectors(parsePromQL(selector))) expect(known, metric).toContain(metric);
    }
  });

  it('every panel has a title, a description, the templated datasource and at least one query (panel-* rules)', () => {
    expect(panels.length).toBeGreaterThan(0);
    for (const panel of panels) {
      expect(panel.title, `panel ${panel.id}`).toBeTruthy();
      expect(panel.description, panel.title).toBeTruthy();
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    const ids = dashboard.panels.flatMap((panel) => [panel.id, ...(panel.panels ?? []).map((inner) => inner.id)]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('every panel has a valid unit (panel-units-rule)', () => {
    for (const panel of panels.filter((candidate) => PANELS_WITH_UNITS.has(candidate.type))) {
      expect(VALID_UNITS, `${panel.title}: unit ${panel.fieldConfig?.defaults?.unit}`).toContain(panel.fieldConfig?.defaults?.unit);
    }
  });

  it('every query parses as PromQL (target-promql-rule)', () => {
    for (const { panel, target } of targets) {
      const expr = lintable(target.expr, dashboard);
      expect(syntaxErrors(expr), `${panel.title} ${target.refId}: ${expr}`).toEqual([]);
    }
  });

  it('rate, irate and increase use $__rate_interval, and no range selector stands alone (target-rate-interval-rule)', () => {
    for (const { panel, target } of targets) {
      for (const { range, fn } of matrixSelectors(parsePromQL(lintable(target.expr, dashboard)))) {
        expect(fn, `${panel.title}: range selector outside a function`).toBeDefined();
        if (RATE_FUNCTIONS.has(fn!)) expect(range, `${panel.title}: ${fn}() over ${range}`).toBe(RATE_INTERVAL_SENTINEL);
      }
    }
  });

  it('counters (and histogram series) are only read through rate, irate or increase (target-counter-agg-rule)', () => {
    for (const { panel, target } of targets) {
      for (const { metric, node } of vectorSelectors(parsePromQL(lintable(target.expr, dashboard)))) {
        if (!/_(total|bucket|sum|count)$/.test(metric)) continue;
        expect(node.parent?.name, `${panel.title}: ${metric} not in a range selector`).toBe('MatrixSelector');
        const fn = matrixSelectors(node.parent!.parent!).find((selector) => selector.node === node.parent)?.fn;
        expect(RATE_FUNCTIONS, `${panel.title}: ${metric} under ${fn}`).toContain(fn);
      }
    }
  });

  it('every selector filters on $job and $instance (target-job-rule, target-instance-rule)', () => {
    for (const { panel, target } of targets) {
      for (const { metric, matchers } of vectorSelectors(parsePromQL(lintable(target.expr, dashboard)))) {
        for (const label of ['job', 'instance']) {
          const expected = expandQuery(`$${label}`, dashboard, { rateInterval: '1m' });
          expect(matchers, `${panel.title}: ${metric}`).toContainEqual({ label, op: '=~', value: expected });
        }
      }
    }
  });

  it('agent and depth filters apply wherever the series carry those labels', () => {
    const withAgent =
      /^subagent_(executions_total|duration_seconds_\w+|turns_\w+|tokens_\w+|active|errors_total|cost_USD_total|tool_duration_seconds_\w+|quota_denials_total)$/;
    const withDepth = /^subagent_(executions_total|duration_seconds_\w+|turns_\w+|tokens_\w+|active|errors_total|cost_USD_total|tool_duration_seconds_\w+)$/;
    for (const { panel, target } of targets) {
      for (const { metric, matchers } of vectorSelectors(parsePromQL(target.expr.replaceAll('$__rate_interval', '5m')))) {
        if (withAgent.test(metric)) expect(matchers, `${panel.title}: ${metric}`).toContainEqual({ label: 'gen_ai_agent_name', op: '=~', value: '$agent' });
        if (withDepth.test(metric)) expect(matchers, `${panel.title}: ${metric}`).toContainEqual({ label: 'subagent_depth', op: '=~', value: '$depth' });
      }
    }
  });

  it('every query names series agentmetry produces, and legends name labels the query keeps', () => {
    for (const { panel, target } of targets) {
      const root = parsePromQL(lintable(target.expr, dashboard));
      const selectors = vectorSelectors(root);
      expect(selectors.length, panel.title).toBeGreaterThan(0);
      for (const { metric } of selectors) expect(known, `${panel.title}: ${metric}`).toContain(metric);
      const kept = groupingLabels(root);
      for (const label of legendLabels(target.legendFormat)) expect(kept, `${panel.title}: legend {{${label}}}`).toContain(label);
    }
  });

  it('refIds are unique within a panel', () => {
    for (const panel of panels) {
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
  });
});

describe('overview and quota dashboards cover the issue', () => {
  const all = (uid: string) => {
    const dashboard = dashboards.find((entry) => entry.dashboard.uid === uid)?.dashboard;
    expect(dashboard, uid).toBeDefined();
    return dataPanels(dashboard!)
      .flatMap((panel) => (panel.targets ?? []).map((target) => target.expr))
      .join('\n');
  };
  it('overview: executions by agent and outcome, active, p50/p95/p99, turns, tokens by type, cost, errors by type, depth, tool calls', () => {
    const text = all('agentmetry-overview');
    for (const needle of [
      'by (gen_ai_agent_name, subagent_outcome)',
      'subagent_active',
      'histogram_quantile(0.5,',
      'histogram_quantile(0.95,',
      'histogram_quantile(0.99,',
      'subagent_turns_bucket',
      'by (gen_ai_token_type)',
      'subagent_cost_USD_total',
      'by (error_type)',
      'by (subagent_depth)',
      // Tool calls: which tools and how often, how long, and their failures.
      'sum by (gen_ai_tool_name) (rate(subagent_tool_duration_seconds_count',
      'sum by (gen_ai_agent_name, gen_ai_tool_name) (rate(subagent_tool_duration_seconds_count',
      'histogram_quantile(0.95, sum by (le, gen_ai_tool_name) (rate(subagent_tool_duration_seconds_bucket',
      'sum by (gen_ai_tool_name, error_type) (rate(subagent_tool_duration_seconds_count',
    ])
      expect(text).toContain(needle);
  });
  it('quotas: usage against limit, reserved, denials, warnings, burn rate, projected exhaustion', () => {
    const text = all('agentmetry-quotas');
    for (const needle of [
      'subagent_quota_used',
      'subagent_quota_limit',
      'subagent_quota_reserved',
      'subagent_quota_denials_total',
      'subagent_quota_warnings_total',
      'deriv(',
      'subagent_quota_exhaustion_seconds',
    ]) {
      expect(text).toContain(needle);
    }
  });
});

describe('alert rules and provisioning', () => {
  const rules = parseYaml(readFileSync(join(REPO_ROOT, 'collector/alert-rules.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  const alerts = rules.groups.flatMap((group) => group.rules);

  it('has the alerts the issue asks for, each with a promtool unit test', () => {
    const names = alerts.map((rule) => rule.alert);
    expect(names).toEqual(
      expect.arrayContaining([
        'AgentmetryQuotaAbove80Percent',
        'AgentmetryQuotaExhausted',
        'AgentmetryQuotaDenials',
        'AgentmetryQuotaExhaustionForecast',
        'AgentmetryHighErrorRatio',
        'AgentmetrySlowExecutions',
        'AgentmetryRunsStuckActive',
      ]),
    );
    const tests = parseYaml(readFileSync(join(REPO_ROOT, 'collector/alert-rules.test.yml'), 'utf8')) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const firing = new Set(tests.tests.flatMap((test) => test.alert_rule_test.filter((check) => check.exp_alerts.length > 0).map((check) => check.alertname)));
    for (const name of names) expect(firing, `${name} has no test in which it fires`).toContain(name);
  });

  it.each(alerts.map((rule) => [rule.alert, rule.expr] as const))('%s parses and names known series', (_name, expr) => {
    expect(syntaxErrors(expr)).toEqual([]);
    for (const { metric } of vectorSelectors(parsePromQL(expr))) expect(known, metric).toContain(metric);
    for (const node of walk(parsePromQL(expr))) expect(node.error).toBe(false);
  });

  it('provisioning files parse and point at the dashboards', () => {
    const datasources = parseYaml(readFileSync(join(REPO_ROOT, 'grafana/provisioning/datasources/agentmetry.yaml'), 'utf8')) as {
      datasources: Array<{ type: string; jsonData?: { timeInterval?: string } }>;
    };
    expect(datasources.datasources.filter((source) => source.type === 'prometheus')).toHaveLength(1);
    const providers = parseYaml(readFileSync(join(REPO_ROOT, 'grafana/provisioning/dashboards/agentmetry.yaml'), 'utf8')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    const compose = readFileSync(join(REPO_ROOT, 'collector/docker-compose.yml'), 'utf8');
    expect(compose).toContain(`../grafana/dashboards:${providers.providers[0]!.options.path}:ro`);
  });
});
