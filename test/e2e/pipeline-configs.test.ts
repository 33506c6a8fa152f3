/**
 * Every shipped pipeline config, checked by the real tools: the collector built
 * from collector/builder-config.yaml validates collector/otelcol-config.yaml and
 * contains exactly the components it uses; promtool checks the Prometheus config
 * (as shipped, as the e2e suite runs it, and as docker-compose.yml embeds it),
 * the alert rules, and runs their unit tests.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { COLLECTOR_CONFIG, collectorEnv } from './helpers/collector.js';
import { REPO_ROOT } from './helpers/dashboards.js';
import { makeTempDir } from './helpers/processes.js';
import { ALERT_RULES, PROMETHEUS_CONFIG, testPrometheusConfig } from './helpers/prometheus.js';
import { tools } from './helpers/tools.js';

const run = promisify(execFile);

function hasDockerCompose(): boolean {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function outcome(command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
  try {
    const { stdout, stderr } = await run(command, args, { env: { ...process.env, ...env }, cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? 1, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

interface CollectorConfig {
  receivers: Record<string, unknown>;
  processors: Record<string, unknown>;
  exporters: Record<string, unknown>;
  extensions: Record<string, unknown>;
  service: { extensions: string[]; pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
}

describe('collector', () => {
  const config = parseYaml(readFileSync(COLLECTOR_CONFIG, 'utf8')) as CollectorConfig;
  const ports = { grpc: 14317, http: 14318, prometheus: 18889, health: 23133, telemetry: 18888 };

  it('otelcol validate accepts collector/otelcol-config.yaml (with its one required variable set)', async () => {
    const result = await outcome(tools().OTELCOL_BIN, ['validate', '--config', COLLECTOR_CONFIG], collectorEnv(ports, 'http://127.0.0.1:4319'));
    expect(result.output).not.toMatch(/error/i);
    expect(result.code).toBe(0);
  });

  it('otelcol validate also accepts it with every default (only the trace backend set), as the README runs it', async () => {
    const result = await outcome(tools().OTELCOL_BIN, ['validate', '--config', COLLECTOR_CONFIG], { AGENTMETRY_TRACES_ENDPOINT: 'http://127.0.0.1:4319' });
    expect(result.code, result.output).toBe(0);
  });

  it('refuses to start without a trace backend, naming the exporter', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AGENTMETRY_')));
    const result = await promisify(execFile)(tools().OTELCOL_BIN, ['validate', '--config', COLLECTOR_CONFIG], { env }).then(
      () => ({ code: 0, output: '' }),
      (error: unknown) => {
        const { code, stderr } = error as { code?: number; stderr?: string };
        return { code: code ?? 1, output: stderr ?? '' };
      },
    );
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('otlp_http/traces');
  });

  it('the build contains exactly the components the config uses (builder-config.yaml is minimal)', async () => {
    const result = await outcome(tools().OTELCOL_BIN, ['components']);
    expect(result.code, result.output).toBe(0);
    const built = parseYaml(result.output) as Record<string, unknown>;
    const names = (kind: string) => ((built[kind] as Array<{ name: string }> | undefined) ?? []).map((component) => component.name).sort();
    const used = (section: Record<string, unknown>) => [...new Set(Object.keys(section).map((id) => id.split('/')[0]!))].sort();
    expect(names('receivers')).toEqual(used(config.receivers));
    expect(names('processors')).toEqual(used(config.processors));
    expect(names('exporters')).toEqual(used(config.exporters));
    expect(names('extensions')).toEqual(used(config.extensions));
    expect(names('connectors')).toEqual([]);
  });

  it('the production config listens on loopback by default and runs memory_limiter first, then batch', () => {
    const text = readFileSync(COLLECTOR_CONFIG, 'utf8');
    const listeners = [...text.matchAll(/\$\{env:AGENTMETRY_LISTEN_HOST:-([^}]+)\}/g)].map((match) => match[1]);
    expect(listeners.length).toBeGreaterThanOrEqual(5);
    expect(new Set(listeners)).toEqual(new Set(['127.0.0.1']));
    for (const pipeline of Object.values(config.service.pipelines)) expect(pipeline.processors).toEqual(['memory_limiter', 'batch']);
    expect(config.service.pipelines.metrics?.exporters).toEqual(['prometheus']);
    expect(config.service.pipelines.traces?.exporters).toEqual(['otlp_http/traces']);
    expect(config.service.extensions).toEqual(['health_check']);
  });
});

describe('prometheus', () => {
  it('promtool check config accepts collector/prometheus.yml', async () => {
    const result = await outcome(tools().PROMTOOL_BIN, ['check', 'config', PROMETHEUS_CONFIG]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('promtool check config accepts the e2e variant (targets and intervals changed only)', async () => {
    const dir = makeTempDir('promcheck');
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, testPrometheusConfig({ 'otel-collector': '127.0.0.1:1', 'otel-collector-internal': '127.0.0.1:2', 'agentmetry-app': '127.0.0.1:3' }));
    const result = await outcome(tools().PROMTOOL_BIN, ['check', 'config', file]);
    expect(result.code, result.output).toBe(0);
  });

  it('promtool check rules accepts collector/alert-rules.yml', async () => {
    const result = await outcome(tools().PROMTOOL_BIN, ['check', 'rules', ALERT_RULES]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/SUCCESS: 7 rules found/);
  });

  it('promtool test rules passes collector/alert-rules.test.yml', async () => {
    const result = await outcome(tools().PROMTOOL_BIN, ['test', 'rules', 'alert-rules.test.yml'], {}, join(REPO_ROOT, 'collector'));
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('promtool test rules fails when an alert does not behave as tested (the tests can fail)', async () => {
    const dir = makeTempDir('promtest');
    copyFileSync(join(REPO_ROOT, 'collector/alert-rules.test.yml'), join(dir, 'alert-rules.test.yml'));
    writeFileSync(join(dir, 'alert-rules.yml'), readFileSync(ALERT_RULES, 'utf8').replace('> 0.1', '> 0.5'));
    const result = await outcome(tools().PROMTOOL_BIN, ['test', 'rules', 'alert-rules.test.yml'], {}, dir);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('AgentmetryHighErrorRatio');
  });
});

describe('docker-compose.yml', () => {
  const composeFile = join(REPO_ROOT, 'collector/docker-compose.yml');
  const compose = parseYaml(readFileSync(composeFile, 'utf8')) as {
    services: Record<string, { image: string; volumes?: string[]; environment?: Record<string, string> }>;
    configs: { prometheus_config: { content: string } };
  };

  it('embeds a Prometheus config that promtool accepts, with the shipped alert rules', async () => {
    const dir = makeTempDir('compose');
    writeFileSync(join(dir, 'prometheus.yml'), compose.configs.prometheus_config.content);
    copyFileSync(ALERT_RULES, join(dir, 'alert-rules.yml'));
    const result = await outcome(tools().PROMTOOL_BIN, ['check', 'config', join(dir, 'prometheus.yml')]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS: 7 rules found');
  });

  it('runs the shipped collector config and mounts the shipped Grafana files that exist', () => {
    const collector = compose.services['otel-collector']!;
    expect(collector.image).toMatch(/^otel\/opentelemetry-collector-contrib:\d+\.\d+\.\d+$/);
    expect(collector.volumes).toContain('./otelcol-config.yaml:/etc/otelcol/config.yaml:ro');
    expect(collector.environment?.AGENTMETRY_TRACES_ENDPOINT).toMatch(/^http:\/\/jaeger:4318$/);
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.')) expect(existsSync(join(REPO_ROOT, 'collector', source)), volume).toBe(true);
      }
    }
  });

  // `docker compose config` runs only where a docker client with compose exists; elsewhere there is no such check at all.
  if (hasDockerCompose()) {
    it('docker compose config parses it', async () => {
      const result = await outcome('docker', ['compose', '-f', composeFile, 'config', '--quiet']);
      expect(result.code, result.output).toBe(0);
    });
  }
});
