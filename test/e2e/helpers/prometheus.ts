/** The real Prometheus, running collector/prometheus.yml with loopback targets the test picks. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT } from './dashboards.js';
import { freePort, httpOk, makeTempDir, startProcess, waitFor, type ManagedProcess } from './processes.js';
import { tools } from './tools.js';

export const PROMETHEUS_CONFIG = join(REPO_ROOT, 'collector/prometheus.yml');
export const ALERT_RULES = join(REPO_ROOT, 'collector/alert-rules.yml');
/** Scrape interval in the test: short, so data shows up quickly. Grafana's $__rate_interval floor is 4x this. */
export const SCRAPE_INTERVAL_SECONDS = 1;

interface ScrapeConfig {
  job_name: string;
  static_configs: Array<{ targets: string[] }>;
  [key: string]: unknown;
}
interface PrometheusConfig {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
}

/**
 * collector/prometheus.yml with only addresses and intervals changed: each job's
 * target comes from `targets` (by job name), the rule file path is made absolute.
 * Relabelling and every other setting stay as shipped.
 */
export function testPrometheusConfig(targets: Record<string, string>): string {
  const config = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as PrometheusConfig;
  config.global.scrape_interval = `${SCRAPE_INTERVAL_SECONDS}s`;
  config.global.evaluation_interval = `${SCRAPE_INTERVAL_SECONDS}s`;
  config.rule_files = config.rule_files.map((file) => join(REPO_ROOT, 'collector', file));
  for (const job of config.scrape_configs) {
    const target = targets[job.job_name];
    if (target === undefined) throw new Error(`no test target for scrape job ${job.job_name}`);
    job.static_configs = [{ targets: [target] }];
  }
  return stringifyYaml(config);
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  process: ManagedProcess;
  url: string;
  configFile: string;
  /** Instant query; `time` in seconds since the epoch. Throws on a PromQL error. */
  query(expr: string, time?: number): Promise<PromSample[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: { targets: Record<string, string>; logDir: string }): Promise<RunningPrometheus> {
  const dir = makeTempDir('prometheus');
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, testPrometheusConfig(options.targets));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const prometheus = startProcess(
    'prometheus',
    tools().PROMETHEUS_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { logDir: options.logDir },
  );
  try {
    await waitFor('Prometheus to be ready', () => httpOk(`${url}/-/ready`), { timeoutMillis: 60_000, describe: () => prometheus.logTail() });
  } catch (error) {
    await prometheus.stop();
    throw error;
  }
  return {
    process: prometheus,
    url,
    configFile,
    query: (expr, time) => instantQuery(url, expr, time),
    stop: () => prometheus.stop(),
  };
}

export async function instantQuery(url: string, expr: string, time?: number): Promise<PromSample[]> {
  const body = new URLSearchParams({ query: expr });
  if (time !== undefined) body.set('time', String(time));
  const response = await fetch(`${url}/api/v1/query`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
  const json = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
  if (json.status !== 'success' || json.data === undefined) throw new Error(`query failed: ${json.error ?? response.status}: ${expr}`);
  if (json.data.resultType !== 'vector') throw new Error(`expected an instant vector, got ${json.data.resultType}: ${expr}`);
  return json.data.result;
}

/** Sum of an instant vector's values (for totals). */
export function total(samples: PromSample[]): number {
  return samples.reduce((sum, sample) => sum + Number(sample.value[1]), 0);
}
