/**
 * The Kubernetes chart (deploy/helm/agentmetry) and the plain manifests rendered from it, checked
 * by the real tools: `helm lint` and `helm template` (helm built by scripts/ensure-tools.sh), every
 * rendered object validated against its real schema (the Kubernetes OpenAPI schemas and the KEDA
 * and Prometheus Operator CRD schemas, from kubernetes-models), the PrometheusRule, ServiceMonitor,
 * PodMonitor and collector config proven equal to the files under collector/ they come from, and
 * the scaling query of the ScaledObject (and of prometheus-adapter's rule for the HPA) executed by
 * real Prometheus on runs held in flight: one app's, through the collector and its own /metrics,
 * and a fleet of two replica processes configured by environment as docs/kubernetes.md shows.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ensureBuilt } from '../helpers/build.js';
import { AgentMeter } from '../../src/index.js';
import { COLLECTOR_CONFIG } from './helpers/collector.js';
import { REPO_ROOT } from './helpers/dashboards.js';
import { CHART_DIR, CHART_EXAMPLES, findObject, helm, parseManifests, PLAIN_MANIFESTS, templateChart, type K8sObject } from './helpers/helm.js';
import { startPipelineStack, type PipelineStack } from './helpers/pipeline-stack.js';
import { makeTempDir, waitFor } from './helpers/processes.js';
import { ALERT_RULES, PROMETHEUS_CONFIG, total } from './helpers/prometheus.js';
import { ROOT } from './helpers/redis-server.js';
import { tools } from './helpers/tools.js';

/** One model class per apiVersion/kind the chart renders: `validate()` checks the object against its schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
};

/** Schema errors of one object ('' when valid); an object of a kind without a model is an error too. */
function schemaErrors(object: K8sObject): string {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (Model === undefined) return `no schema for ${object.apiVersion} ${object.kind}`;
  try {
    new Model(object as never).validate();
    return '';
  } catch (error) {
    return `${object.kind} ${object.metadata.name}: ${(error as Error).message}`;
  }
}

const TELEMETRY_REPLICA = join(ROOT, 'test/e2e/fixtures/telemetry-replica.mjs');
/** The package as users import it: dist/, built once per test run (ensureBuilt). */
const dist = join(ROOT, 'dist');

const kinds = (objects: K8sObject[]) => objects.map((object) => object.kind).sort();

interface PromConfig {
  global: { scrape_interval: string };
  scrape_configs: Array<{ job_name: string; honor_labels?: boolean; static_configs: Array<{ targets: string[] }> }>;
}
const prometheusConfig = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as PromConfig;
const scrapeJob = (name: string) => prometheusConfig.scrape_configs.find((job) => job.job_name === name)!;
const defaultPort = (name: string) => Number(new RegExp(`\\$\\{env:${name}:-(\\d+)\\}`).exec(readFileSync(COLLECTOR_CONFIG, 'utf8'))![1]);

describe('helm lint and helm template', () => {
  it('helm lint --strict passes with each example values file', async () => {
    for (const values of Object.values(CHART_EXAMPLES)) {
      const result = await helm(['lint', '--strict', CHART_DIR, '-f', values]);
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('0 chart(s) failed');
    }
  });

  it('helm lint fails on values the schema refuses (minReplicas 0: the replicas report the metric themselves)', async () => {
    const result = await helm(['lint', CHART_DIR, '-f', CHART_EXAMPLES.keda, '--set', 'autoscaling.minReplicas=0']);
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/minReplicas/);
  });

  it('a missing required value fails the render and names it', async () => {
    await expect(templateChart({ set: { 'autoscaling.mode': 'keda', 'collector.tracesEndpoint': 'http://tempo:4318' } })).rejects.toThrow(
      /app\.deployment is required/,
    );
    await expect(templateChart({ valuesFiles: [CHART_EXAMPLES.keda], set: { 'collector.tracesEndpoint': '' } })).rejects.toThrow(
      /collector\.tracesEndpoint is required/,
    );
  });

  it('renders the expected objects in each mode, every one valid against its real schema', async () => {
    const keda = parseManifests(await templateChart({ valuesFiles: [CHART_EXAMPLES.keda] }));
    expect(kinds(keda)).toEqual(['ConfigMap', 'Deployment', 'PrometheusRule', 'ScaledObject', 'Service', 'ServiceMonitor']);
    const hpa = parseManifests(await templateChart({ valuesFiles: [CHART_EXAMPLES.hpa] }));
    expect(kinds(hpa)).toEqual(['HorizontalPodAutoscaler', 'PodMonitor', 'PrometheusRule']);
    for (const object of [...keda, ...hpa]) expect(schemaErrors(object)).toBe('');
  });

  it('the values of docs/kubernetes.md render valid objects, scaling my-agent-app with KEDA', async () => {
    const page = readFileSync(join(REPO_ROOT, 'docs/kubernetes.md'), 'utf8');
    const values = /cat > my-values\.yaml <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(page);
    expect(values, 'the my-values.yaml heredoc of docs/kubernetes.md').not.toBeNull();
    const file = join(makeTempDir('docs-values'), 'my-values.yaml');
    writeFileSync(file, values![1]!);
    const objects = parseManifests(await templateChart({ valuesFiles: [file] }));
    for (const object of objects) expect(schemaErrors(object)).toBe('');
    expect(findObject(objects, 'ScaledObject').spec).toMatchObject({ scaleTargetRef: { name: 'my-agent-app' }, minReplicaCount: 2, maxReplicaCount: 20 });
  });

  it('the schema check catches a broken manifest (it can fail)', async () => {
    const scaledObject = findObject(parseManifests(await templateChart({ valuesFiles: [CHART_EXAMPLES.keda] })), 'ScaledObject');
    const trigger = (scaledObject.spec!.triggers as Array<{ metadata: Record<string, unknown> }>)[0]!;
    trigger.metadata.threshold = 10; // KEDA wants strings in trigger metadata
    expect(schemaErrors(scaledObject)).toMatch(/threshold must be string/);
  });

  it('deploy/kubernetes/agentmetry.yaml is the chart rendered with ci/keda-values.yaml (scripts/render-manifests.sh)', async () => {
    const rendered = await templateChart({ valuesFiles: [CHART_EXAMPLES.keda] });
    const file = readFileSync(PLAIN_MANIFESTS, 'utf8');
    expect(file.slice(0, file.indexOf('\n---\n') + 1)).toMatch(/^(#.*\n)+$/); // the script's comment header
    expect(file.slice(file.indexOf('\n---\n') + 1)).toBe(rendered);
  });
});

describe('one source of truth: the rendered objects equal the files under collector/', () => {
  let keda: K8sObject[];
  let hpa: K8sObject[];
  beforeAll(async () => {
    keda = parseManifests(await templateChart({ valuesFiles: [CHART_EXAMPLES.keda] }));
    hpa = parseManifests(await templateChart({ valuesFiles: [CHART_EXAMPLES.hpa] }));
  });

  it('the PrometheusRule holds the groups of collector/alert-rules.yml, rule for rule', () => {
    const rules = parseYaml(readFileSync(ALERT_RULES, 'utf8')) as { groups: unknown[] };
    expect(findObject(keda, 'PrometheusRule').spec!.groups).toEqual(rules.groups);
    expect(findObject(hpa, 'PrometheusRule').spec!.groups).toEqual(rules.groups);
  });

  it('promtool check rules accepts the PrometheusRule groups as a rules file', async () => {
    const file = join(makeTempDir('prometheusrule'), 'rules.yml');
    writeFileSync(file, JSON.stringify({ groups: findObject(keda, 'PrometheusRule').spec!.groups }));
    const { stdout } = await promisify(execFile)(tools().PROMTOOL_BIN, ['check', 'rules', file]);
    expect(stdout).toContain('SUCCESS: 7 rules found');
  });

  it('the collector ConfigMap is collector/otelcol-config.yaml byte for byte, and the pod listens where that config does', () => {
    expect(findObject(keda, 'ConfigMap').data!['config.yaml']).toBe(readFileSync(COLLECTOR_CONFIG, 'utf8'));
    const container = (
      findObject(keda, 'Deployment').spec as {
        template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }>; ports: Array<{ name: string; containerPort: number }> }> } };
      }
    ).template.spec.containers[0]!;
    const env = Object.fromEntries(container.env.map((variable) => [variable.name, variable.value]));
    expect(env.AGENTMETRY_LISTEN_HOST).toBe('0.0.0.0');
    const port = (name: string) => container.ports.find((entry) => entry.name === name)!.containerPort;
    for (const [portName, variable] of [
      ['otlp-grpc', 'AGENTMETRY_OTLP_GRPC_PORT'],
      ['otlp-http', 'AGENTMETRY_OTLP_HTTP_PORT'],
      ['prom-exporter', 'AGENTMETRY_PROMETHEUS_EXPORTER_PORT'],
      ['otelcol-metrics', 'AGENTMETRY_COLLECTOR_METRICS_PORT'],
      ['health', 'AGENTMETRY_HEALTH_CHECK_PORT'],
    ] as const) {
      expect(port(portName), variable).toBe(defaultPort(variable));
      expect(Number(env[variable]), variable).toBe(port(portName));
    }
  });

  it('the ServiceMonitor and PodMonitor scrape what collector/prometheus.yml scrapes, with its settings', () => {
    const endpoints = (findObject(keda, 'ServiceMonitor').spec as { endpoints: Array<{ port: string; interval: string; honorLabels?: boolean }> }).endpoints;
    const byPort = Object.fromEntries(endpoints.map((endpoint) => [endpoint.port, endpoint]));
    // otel-collector: the exporter's port, honor_labels; otel-collector-internal: the collector's own metrics.
    expect(Number(scrapeJob('otel-collector').static_configs[0]!.targets[0]!.split(':')[1])).toBe(defaultPort('AGENTMETRY_PROMETHEUS_EXPORTER_PORT'));
    expect(byPort['prom-exporter']!.honorLabels ?? false).toBe(scrapeJob('otel-collector').honor_labels ?? false);
    expect(Number(scrapeJob('otel-collector-internal').static_configs[0]!.targets[0]!.split(':')[1])).toBe(defaultPort('AGENTMETRY_COLLECTOR_METRICS_PORT'));
    expect(byPort['otelcol-metrics']!.honorLabels ?? false).toBe(scrapeJob('otel-collector-internal').honor_labels ?? false);
    const podEndpoints = (findObject(hpa, 'PodMonitor').spec as { podMetricsEndpoints: Array<{ interval: string; honorLabels?: boolean }> })
      .podMetricsEndpoints;
    expect(podEndpoints[0]!.honorLabels ?? false).toBe(scrapeJob('agentmetry-app').honor_labels ?? false);
    for (const endpoint of [...endpoints, ...podEndpoints]) expect(endpoint.interval).toBe(prometheusConfig.global.scrape_interval);
    // The Service exposes the ports the ServiceMonitor names.
    const servicePorts = (findObject(keda, 'Service').spec as { ports: Array<{ name: string }> }).ports.map((entry) => entry.name);
    for (const endpoint of endpoints) expect(servicePorts).toContain(endpoint.port);
  });
});

describe('the scaling query on real Prometheus, with runs held in flight', () => {
  const SERVICE = 'agentmetry-deploy';
  /** The direct path's scrape job in collector/prometheus.yml (in Kubernetes, the PodMonitor's jobLabel sets it). */
  const DIRECT_JOB = 'agentmetry-app';
  /** A fleet of two replicas (child processes), configured by environment as docs/kubernetes.md shows. */
  const FLEET = 'agentmetry-fleet';
  const FLEET_RUNS = [7, 16];
  const IN_FLIGHT = 23;
  let stack: PipelineStack | undefined;
  const release: Array<() => void> = [];
  let runs: Array<Promise<unknown>> = [];
  const fleet: ChildProcess[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    stack = await startPipelineStack({ name: 'deploy', serviceName: SERVICE, directJob: DIRECT_JOB });
    // Its quota is full while the runs are held: the walk-through's firing alert.
    const agentmeter = new AgentMeter({ quota: { limits: { maxConcurrent: IN_FLIGHT } } });
    runs = Array.from({ length: IN_FLIGHT }, () => agentmeter.run('worker', () => new Promise<void>((resolve) => release.push(resolve))));
    for (const [index, count] of FLEET_RUNS.entries()) {
      const env = {
        ...process.env,
        OTEL_SERVICE_NAME: FLEET,
        OTEL_EXPORTER_OTLP_ENDPOINT: stack.collector.otlpEndpoint,
        OTEL_RESOURCE_ATTRIBUTES: `service.instance.id=my-agent-app-${index}`,
        OTEL_METRIC_EXPORT_INTERVAL: '500',
      };
      const child = fork(TELEMETRY_REPLICA, [JSON.stringify({ dist, runs: count })], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      fleet.push(child);
      await once(child, 'message');
    }
  });

  afterAll(async () => {
    for (const resolve of release) resolve();
    for (const child of fleet) child.kill('SIGKILL');
    await Promise.allSettled(runs);
    await stack?.telemetry.shutdown();
    await Promise.allSettled([stack?.prometheus.stop(), stack?.collector.stop()]);
    await stack?.sink.stop();
  });

  /** The rendered ScaledObject's trigger, and prometheus-adapter's query for the HPA's external metric, for one job. */
  async function scalingQueries(job: string) {
    const objects = parseManifests(await templateChart({ valuesFiles: [CHART_EXAMPLES.keda], set: { 'app.job': job } }));
    const trigger = (findObject(objects, 'ScaledObject').spec!.triggers as Array<{ metadata: Record<string, string> }>)[0]!.metadata;
    const hpa = findObject(parseManifests(await templateChart({ valuesFiles: [CHART_EXAMPLES.hpa], set: { 'app.job': job } })), 'HorizontalPodAutoscaler');
    const external = (
      hpa.spec!.metrics as Array<{
        external: { metric: { name: string; selector: { matchLabels: Record<string, string> } }; target: { averageValue: string } };
      }>
    )[0]!.external;
    const adapter = parseYaml(readFileSync(join(REPO_ROOT, 'deploy/prometheus-adapter/values.yaml'), 'utf8')) as {
      rules: { external: Array<{ seriesQuery: string; name: { as: string }; metricsQuery: string }> };
    };
    const rule = adapter.rules.external.find((candidate) => candidate.name.as === external.metric.name)!;
    // What prometheus-adapter sends for the HPA's selector: its template with the series and label matchers filled in.
    const matchers = Object.entries(external.metric.selector.matchLabels).map(([label, value]) => `${label}=${JSON.stringify(value)}`);
    const adapterQuery = rule.metricsQuery.replace('<<.Series>>', rule.seriesQuery.split('{')[0]!).replace('<<.LabelMatchers>>', matchers.join(','));
    return { keda: trigger, hpaTarget: Number(external.target.averageValue), adapterQuery };
  }

  async function waitForValue(query: string, expected: number): Promise<void> {
    await waitFor(`${query} = ${expected}`, async () => (total(await stack!.prometheus.query(query)) === expected ? true : undefined), {
      timeoutMillis: 60_000,
      describe: () => `--- collector\n${stack?.collector.process.logTail() ?? ''}`,
    });
  }

  it('returns the runs in flight of one app on both paths, and of a fleet of replicas added up; KEDA and the HPA agree on the replicas', async () => {
    for (const job of [SERVICE, DIRECT_JOB, FLEET]) {
      const queries = await scalingQueries(job);
      expect(queries.keda.query).toBe(`sum(subagent_active{job="${job}"})`);
      await waitForValue(queries.keda.query!, IN_FLIGHT);
      expect(total(await stack!.prometheus.query(queries.adapterQuery))).toBe(IN_FLIGHT);
      // AverageValue: replicas = ceil(total / target per replica), the same target for both autoscalers.
      expect(Number(queries.keda.threshold)).toBe(queries.hpaTarget);
      expect(Math.ceil(IN_FLIGHT / queries.hpaTarget)).toBe(3);
      expect(IN_FLIGHT).toBeGreaterThan(Number(queries.keda.activationThreshold));
    }
    // The fleet's two replicas are two series (one instance each), not one written over by both.
    expect((await stack!.prometheus.query(`subagent_active{job="${FLEET}"}`)).map((sample) => Number(sample.value[1])).sort((a, b) => a - b)).toEqual(
      FLEET_RUNS,
    );
  });

  it('fires AgentmetryQuotaExhausted while a full quota holds the runs (the alert docs/kubernetes.md walks to)', async () => {
    // Both paths carry the app's quota gauges: the rule fires once per job.
    const firing = await waitFor(
      'AgentmetryQuotaExhausted to fire on both paths',
      async () => {
        const response = await fetch(`${stack!.prometheus.url}/api/v1/alerts`);
        const { data } = (await response.json()) as { data: { alerts: Array<{ labels: Record<string, string>; state: string }> } };
        const alerts = data.alerts.filter((alert) => alert.labels.alertname === 'AgentmetryQuotaExhausted' && alert.state === 'firing');
        return alerts.length === 2 ? alerts : undefined;
      },
      { timeoutMillis: 60_000 },
    );
    expect(firing.map((alert) => alert.labels.job).sort()).toEqual([DIRECT_JOB, SERVICE].sort());
    for (const alert of firing) expect(alert.labels).toMatchObject({ quota_resource: 'concurrent', severity: 'critical' });
  });

  it('falls back to 0 once the runs end', async () => {
    for (const resolve of release.splice(0)) resolve();
    await Promise.all(runs);
    await Promise.all(
      fleet.map(async (child) => {
        const released = once(child, 'message');
        child.send({ type: 'release' });
        await released;
      }),
    );
    for (const job of [SERVICE, DIRECT_JOB, FLEET]) await waitForValue((await scalingQueries(job)).keda.query!, 0);
  });
});
