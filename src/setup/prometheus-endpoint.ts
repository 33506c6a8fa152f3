import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CollectionResult, IMetricReader, MetricData, MetricReader, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { logger } from '../log.js';
import { prometheusMetricName, type PrometheusMetricType } from './prometheus-names.js';
import type { Exporters, Sdk } from './sdk.js';

export interface PrometheusEndpointOptions {
  readonly host: string;
  readonly port: number;
  /** The path, with its leading `/`. */
  readonly endpoint: string;
}

export interface PrometheusEndpoint {
  /** The pull reader to give the meter provider. */
  readonly reader: IMetricReader;
  /**
   * Resolves with the endpoint's URL once it listens (with the port the system chose for port
   * 0); rejects with an `Error` naming host, port and reason when it cannot listen (also
   * logged through `diag`).
   */
  readonly listening: Promise<string>;
  /** Stops listening; resolves once the server is closed (or was never open). Never rejects. */
  close(): Promise<void>;
}

/** Why `listen` fails, in words, for the codes a user can act on. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
};

/**
 * The app's own `/metrics`: the OpenTelemetry Prometheus exporter's reader and request handler,
 * on an HTTP server of ours. Owning the server gives the listen error to the caller (the
 * exporter only logs it), the real port for port 0, and a server that does not keep the
 * process alive. Metrics are renamed as the collector names them (`prometheusMetricName`) before
 * the exporter serializes them, so both paths feed the same dashboards and alert rules.
 */
export function startPrometheusEndpoint(sdk: Sdk, exporterModule: Exporters['prometheus'], options: PrometheusEndpointOptions): PrometheusEndpoint {
  const { host, port, endpoint } = options;
  const reader = new (collectorNamedExporter(sdk, exporterModule))({ preventServerStart: true });
  const server = createServer((request, response) => {
    let path: string | undefined;
    try {
      path = new URL(request.url ?? '/', 'http://localhost').pathname;
    } catch {
      response.writeHead(400).end('Bad Request');
      return;
    }
    if (path === endpoint) reader.getMetricsRequestHandler(request, response);
    else response.writeHead(404).end();
  });
  // Like the SDK's export timers, the endpoint must not keep a finished script alive.
  server.unref();
  const address = host.includes(':') ? `[${host}]` : host;
  const listening = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(`http://${address}:${(server.address() as AddressInfo).port}${endpoint}`);
    });
  }).catch((error: unknown) => {
    const problem = `the Prometheus endpoint cannot listen on ${address}:${port}: ${describeListenError(error)}`;
    logger.error(problem);
    throw new Error(`agentmetry: ${problem}`, { cause: error });
  });
  let closed: Promise<void> | undefined;
  return {
    reader,
    listening,
    close: () =>
      // After `listen` settles, so that a close right after the start leaves no port bound.
      (closed ??= listening.then(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          }),
        () => undefined,
      )),
  };
}

function describeListenError(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && LISTEN_ERRORS[code] !== undefined) return `${LISTEN_ERRORS[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** The exporter, collecting metrics under their collector names. Built per SDK line's classes. */
function collectorNamedExporter(sdk: Sdk, exporterModule: Exporters['prometheus']) {
  const { DataPointType } = sdk.metrics;
  const typeOf = (metric: MetricData): PrometheusMetricType => {
    if (metric.dataPointType === DataPointType.SUM) return metric.isMonotonic ? 'counter' : 'updowncounter';
    return metric.dataPointType === DataPointType.GAUGE ? 'gauge' : 'histogram';
  };
  const rename = (resourceMetrics: ResourceMetrics): ResourceMetrics => ({
    ...resourceMetrics,
    scopeMetrics: resourceMetrics.scopeMetrics.map((scopeMetrics) => ({
      ...scopeMetrics,
      metrics: scopeMetrics.metrics.map((metric) => ({
        ...metric,
        descriptor: { ...metric.descriptor, name: prometheusMetricName(metric.descriptor.name, metric.descriptor.unit, typeOf(metric)) },
      })),
    })),
  });
  return class CollectorNamedPrometheusExporter extends exporterModule.PrometheusExporter {
    // The exporter's request handler serializes what `collect` returns.
    override async collect(options?: Parameters<MetricReader['collect']>[0]): Promise<CollectionResult> {
      const result = await super.collect(options);
      return { ...result, resourceMetrics: rename(result.resourceMetrics) };
    }
  };
}
