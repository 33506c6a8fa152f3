import { startTelemetry, type Telemetry } from '../../../src/setup/index.js';
import { pickCollectorPorts, startCollector, type RunningCollector } from './collector.js';
import { freePort, makeTempDir } from './processes.js';
import { startPrometheus, type RunningPrometheus } from './prometheus.js';
import { startTraceSink, type TraceSink } from './trace-sink.js';

export interface PipelineStack {
  logDir: string;
  sink: TraceSink;
  collector: RunningCollector;
  prometheus: RunningPrometheus;
  /** The app's telemetry: OTLP to the collector, and its own /metrics scraped as `directJob`. */
  telemetry: Telemetry;
}

/**
 * The whole pipeline on loopback ports: a trace sink, the built collector exporting to it,
 * Prometheus scraping the collector (and the collector's own metrics) and the app's own
 * /metrics, and the app's telemetry pushing OTLP to the collector. Whatever started is
 * stopped again if a later step fails.
 */
export async function startPipelineStack(options: {
  name: string;
  serviceName: string;
  directJob: string;
  shutdownTimeoutMillis?: number;
}): Promise<PipelineStack> {
  const logDir = makeTempDir(options.name);
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const sink = await startTraceSink();
    started.push(sink);
    const collector = await startCollector({ ports: await pickCollectorPorts(), tracesEndpoint: sink.url, logDir });
    started.push(collector);
    const appPort = await freePort();
    const prometheus = await startPrometheus({
      targets: {
        'otel-collector': collector.metricsTarget,
        'otel-collector-internal': `127.0.0.1:${collector.ports.telemetry}`,
        [options.directJob]: `127.0.0.1:${appPort}`,
      },
      logDir,
    });
    started.push(prometheus);
    const telemetry = startTelemetry({
      serviceName: options.serviceName,
      prometheus: { host: '127.0.0.1', port: appPort },
      otlp: { endpoint: collector.otlpEndpoint, exportIntervalMillis: 500 },
      ...(options.shutdownTimeoutMillis === undefined ? {} : { shutdownTimeoutMillis: options.shutdownTimeoutMillis }),
    });
    await telemetry.ready;
    return { logDir, sink, collector, prometheus, telemetry };
  } catch (error) {
    await Promise.allSettled(started.reverse().map((running) => running.stop()));
    throw error;
  }
}
