/** The real collector, built from collector/builder-config.yaml, running the shipped config. */
import { join } from 'node:path';
import { REPO_ROOT } from './dashboards.js';
import { freePort, httpOk, startProcess, waitFor, type ManagedProcess } from './processes.js';
import { tools } from './tools.js';

export const COLLECTOR_CONFIG = join(REPO_ROOT, 'collector/otelcol-config.yaml');

export interface CollectorPorts {
  grpc: number;
  http: number;
  prometheus: number;
  health: number;
  telemetry: number;
}

export interface RunningCollector {
  process: ManagedProcess;
  ports: CollectorPorts;
  /** OTLP/HTTP base URL for the app. */
  otlpEndpoint: string;
  /** The collector's prometheus exporter, host:port, for Prometheus to scrape. */
  metricsTarget: string;
  stop(): Promise<void>;
}

export async function pickCollectorPorts(): Promise<CollectorPorts> {
  return { grpc: await freePort(), http: await freePort(), prometheus: await freePort(), health: await freePort(), telemetry: await freePort() };
}

/** Environment that points the shipped config at the given ports and trace backend. */
export function collectorEnv(ports: CollectorPorts, tracesEndpoint: string): NodeJS.ProcessEnv {
  return {
    AGENTMETRY_LISTEN_HOST: '127.0.0.1',
    AGENTMETRY_OTLP_GRPC_PORT: String(ports.grpc),
    AGENTMETRY_OTLP_HTTP_PORT: String(ports.http),
    AGENTMETRY_PROMETHEUS_EXPORTER_PORT: String(ports.prometheus),
    AGENTMETRY_HEALTH_CHECK_PORT: String(ports.health),
    AGENTMETRY_COLLECTOR_METRICS_PORT: String(ports.telemetry),
    AGENTMETRY_TRACES_ENDPOINT: tracesEndpoint,
  };
}

/**
 * Starts the collector with collector/otelcol-config.yaml unchanged. The one
 * override (`--set`) asks the trace exporter for JSON instead of protobuf, so the
 * test's trace sink can read spans without a protobuf decoder.
 */
export async function startCollector(options: { ports: CollectorPorts; tracesEndpoint: string; logDir: string; name?: string }): Promise<RunningCollector> {
  const { ports } = options;
  const collector = startProcess(
    options.name ?? 'otelcol',
    tools().OTELCOL_BIN,
    ['--config', COLLECTOR_CONFIG, '--set', 'exporters::otlp_http/traces::encoding=json'],
    { env: collectorEnv(ports, options.tracesEndpoint), logDir: options.logDir },
  );
  try {
    await waitFor('the collector health check', () => httpOk(`http://127.0.0.1:${ports.health}/`), {
      timeoutMillis: 60_000,
      describe: () => collector.logTail(),
    });
  } catch (error) {
    await collector.stop();
    throw error;
  }
  return {
    process: collector,
    ports,
    otlpEndpoint: `http://127.0.0.1:${ports.http}`,
    metricsTarget: `127.0.0.1:${ports.prometheus}`,
    stop: () => collector.stop(),
  };
}
