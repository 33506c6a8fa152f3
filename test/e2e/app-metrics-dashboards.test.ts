/**
 * The most natural setup, for real: a stock Prometheus scrapes the app's own `/metrics`, served by
 * `startTelemetry`, with a scrape job that has no `metric_relabel_configs` and nothing else in
 * front. After a workload that exercises every instrument (durations, costs, tokens, every
 * outcome, quota gauges, denials, warnings, a run admitted unaccounted), every query of every
 * shipped dashboard and every series every alert rule reads must return data.
 *
 * The same Prometheus also scrapes an app that runs its own OpenTelemetry Prometheus exporter,
 * with the relabel rules docs/pipeline.md gives for that case (read from the page), and the same
 * queries must return data there too.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AgentMeter, type QuotaOptions } from '../../src/index.js';
import { MemoryQuotaStore } from '../../src/quota-store/index.js';
import { startTelemetry, type Telemetry } from '../../src/setup/index.js';
import { docBlocks } from '../helpers/doc-blocks.js';
import { dashboardQueries, expandQuery, loadDashboards } from './helpers/dashboards.js';
import { freePort, httpOk, makeTempDir, sleep, startProcess, waitFor, type ManagedProcess } from './helpers/processes.js';
import { ALERT_RULES, instantQuery, SCRAPE_INTERVAL_SECONDS, total, type PromSample } from './helpers/prometheus.js';
import { collectorFamily, INSTRUMENTS, seriesNames } from './helpers/prometheus-names.js';
import { parsePromQL, vectorSelectors } from './helpers/promql.js';
import { tools } from './helpers/tools.js';
import { runWorkload, Tally, workloadQuota } from './helpers/workload.js';

/** The app's own endpoint, as `startTelemetry` serves it. */
const APP_JOB = 'agentmetry-app';
/** An app whose own OpenTelemetry Prometheus exporter serves its metrics, relabelled as docs/pipeline.md says. */
const OWN_EXPORTER_JOB = 'own-prometheus-exporter';
const JOBS = [APP_JOB, OWN_EXPORTER_JOB] as const;
const AGENT_OFFLINE = 'offline';

type ReserveRequest = Parameters<MemoryQuotaStore['reserve']>[0];
type ReserveResult = ReturnType<MemoryQuotaStore['reserve']>;

/**
 * The in-process store, except that the reservations it is told to mark come back unaccounted,
 * as a shared store's do while its backend is down (`onUnavailable: 'allow'`).
 */
class PartlyUnaccountedStore extends MemoryQuotaStore {
  unaccountedLeft = 0;
  override reserve(request: ReserveRequest): ReserveResult {
    const result = super.reserve(request);
    if (!result.admitted || this.unaccountedLeft === 0) return result;
    this.unaccountedLeft -= 1;
    return { ...result, unaccounted: true };
  }
}

interface App {
  job: string;
  agentmeter: AgentMeter;
  store: PartlyUnaccountedStore;
  tallies: Tally[];
}

/** The relabel rules docs/pipeline.md tells an app with its own OpenTelemetry Prometheus exporter to copy. */
function documentedRelabelRules(): unknown[] {
  const blocks = docBlocks('yaml', ['docs/pipeline.md']).map((block) => parseYaml(block.code) as Record<string, unknown> | null);
  const rules = blocks.map((block) => block?.metric_relabel_configs).filter((found) => found !== undefined);
  expect(rules, 'one yaml block of docs/pipeline.md holds metric_relabel_configs').toHaveLength(1);
  return rules[0] as unknown[];
}

const scrapeConfigs = (targets: Record<string, string>) => [
  { job_name: APP_JOB, static_configs: [{ targets: [targets[APP_JOB]] }] },
  { job_name: OWN_EXPORTER_JOB, static_configs: [{ targets: [targets[OWN_EXPORTER_JOB]] }], metric_relabel_configs: documentedRelabelRules() },
];

let telemetry: Telemetry | undefined;
let ownProvider: MeterProvider | undefined;
let prometheus: ManagedProcess | undefined;
let prometheusUrl: string;
let configs: ReturnType<typeof scrapeConfigs>;
const apps: App[] = [];
/** Evaluation time (s since the epoch) and a rate window that covers both phases of the workload. */
let evalTime: number;
let windowSeconds: number;

const query = (expr: string, time?: number): Promise<PromSample[]> => instantQuery(prometheusUrl, expr, time);

function createApp(job: string, meterProvider: MeterProvider | Telemetry['meterProvider']): App {
  const store = new PartlyUnaccountedStore();
  const quota: QuotaOptions = { ...workloadQuota(3), store };
  return { job, agentmeter: new AgentMeter({ meterProvider, quota }), store, tallies: [] };
}

/** One phase on every app: the shared workload, then one run admitted unaccounted. */
async function runPhase(phase: number): Promise<void> {
  for (const app of apps) {
    const tally = new Tally();
    await runWorkload(app.agentmeter, tally, phase);
    app.store.unaccountedLeft = 1;
    await app.agentmeter.run(AGENT_OFFLINE, async () => 'ran without accounting');
    tally.execution(AGENT_OFFLINE, 0, 'ok');
    app.tallies.push(tally);
  }
  for (const app of apps) {
    const executions = app.tallies.reduce((sum, tally) => sum + tally.totalExecutions, 0);
    await waitFor(
      `${executions} executions of job ${app.job} in Prometheus`,
      async () => (total(await query(`sum(subagent_executions_total{job="${app.job}"})`)) === executions ? true : undefined),
      { timeoutMillis: 60_000, describe: () => prometheus?.logTail() ?? '' },
    );
  }
}

beforeAll(async () => {
  const logDir = makeTempDir('app-metrics');
  const [appPort, ownPort, prometheusPort] = [await freePort(), await freePort(), await freePort()];
  telemetry = startTelemetry({ serviceName: 'agentmetry-e2e-app', prometheus: { port: appPort }, otlp: false, registerGlobal: false });
  await telemetry.ready;
  const ownExporter = new PrometheusExporter({ host: '127.0.0.1', port: ownPort, preventServerStart: true });
  await ownExporter.startServer();
  ownProvider = new MeterProvider({ readers: [ownExporter] });

  const dir = makeTempDir('app-metrics-prometheus');
  configs = scrapeConfigs({ [APP_JOB]: `127.0.0.1:${appPort}`, [OWN_EXPORTER_JOB]: `127.0.0.1:${ownPort}` });
  const config = {
    global: { scrape_interval: `${SCRAPE_INTERVAL_SECONDS}s`, evaluation_interval: `${SCRAPE_INTERVAL_SECONDS}s` },
    rule_files: [ALERT_RULES],
    scrape_configs: configs,
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringifyYaml(config));
  prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
  prometheus = startProcess(
    'prometheus',
    tools().PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${prometheusPort}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { logDir },
  );
  await waitFor('Prometheus to be ready', () => httpOk(`${prometheusUrl}/-/ready`), { timeoutMillis: 60_000, describe: () => prometheus!.logTail() });

  apps.push(createApp(APP_JOB, telemetry.meterProvider), createApp(OWN_EXPORTER_JOB, ownProvider));
  const started = Date.now() / 1000;
  // Two phases with scrapes between them: rates then see counters grow, as on a live dashboard.
  await runPhase(1);
  await sleep(5 * SCRAPE_INTERVAL_SECONDS * 1000);
  await runPhase(2);
  await sleep(3 * SCRAPE_INTERVAL_SECONDS * 1000);
  evalTime = Date.now() / 1000;
  windowSeconds = evalTime - started;
});

afterAll(async () => {
  await Promise.allSettled([telemetry?.shutdown(), ownProvider?.shutdown(), prometheus?.stop()]);
});

describe("a stock Prometheus scraping the app's own /metrics (startTelemetry)", () => {
  it('the scrape job has no metric_relabel_configs: nothing renames the series', () => {
    const job = configs.find((candidate) => candidate.job_name === APP_JOB)!;
    expect(Object.keys(job).sort()).toEqual(['job_name', 'static_configs']);
  });

  it('the workload went as planned', () => {
    for (const app of apps) for (const tally of app.tallies) expect(tally.unexpected).toEqual([]);
  });

  it("every instrument's series is there under the collector's name", async () => {
    for (const { name, kind, unit } of INSTRUMENTS) {
      for (const series of seriesNames(collectorFamily(name, kind, unit), kind)) {
        expect(await query(`count(${series}{job="${APP_JOB}"})`, evalTime), `${series} (${name})`).toHaveLength(1);
      }
    }
  });
});

const dashboards = new Map(loadDashboards().map(({ dashboard }) => [dashboard.uid, dashboard] as const));
const queries = dashboardQueries();
const alertRules = (parseYaml(readFileSync(ALERT_RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap(
  (group) => group.rules,
);

describe.each(JOBS)('job %s', (job) => {
  it.each(queries.map((entry) => [entry.key, entry] as const))('%s returns data', async (_key, entry) => {
    const expr = expandQuery(entry.target.expr, dashboards.get(entry.dashboard)!, {
      rateInterval: `${Math.floor(windowSeconds * 1000)}ms`,
      variables: { job: [job] },
    });
    const samples = await query(expr, evalTime);
    expect(samples.length, `no data: ${expr}`).toBeGreaterThan(0);
    for (const sample of samples) expect(sample.metric.job ?? job).toBe(job);
    expect(
      samples.some((sample) => Number.isFinite(Number(sample.value[1]))),
      `only NaN or infinite values: ${expr}`,
    ).toBe(true);
  });

  it.each(alertRules.map((rule) => [rule.alert, rule] as const))('every series alert %s reads is there', async (_alert, rule) => {
    const selectors = vectorSelectors(parsePromQL(rule.expr));
    expect(selectors.length).toBeGreaterThan(0);
    for (const { metric, matchers } of selectors) {
      const labels = [`job="${job}"`, ...matchers.map(({ label, op, value }) => `${label}${op}${JSON.stringify(value)}`)];
      const selector = `${metric}{${labels.join(', ')}}`;
      expect(await query(`count(${selector})`, evalTime), selector).toHaveLength(1);
    }
  });
});

describe('the alert rules', () => {
  it('all evaluate without error on these series', async () => {
    const response = await fetch(`${prometheusUrl}/api/v1/rules`);
    const body = (await response.json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
    const rules = body.data.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.name).sort()).toEqual(alertRules.map((rule) => rule.alert).sort());
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError ?? ''}`).not.toBe('err');
  });
});
