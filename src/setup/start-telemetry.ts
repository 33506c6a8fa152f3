import { randomUUID } from 'node:crypto';
import type { MeterProvider as MeterProviderApi, TracerProvider } from '@opentelemetry/api';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { isObject } from '../is-object.js';
import { logger } from '../log.js';
import { startPrometheusEndpoint, type PrometheusEndpoint } from './prometheus-endpoint.js';
import { registerGlobal } from './register-global.js';
import { readTraceEnv } from './trace-env.js';
import { requireExporter, requireSdk } from './sdk.js';

export interface PrometheusOptions {
  /** Interface the `/metrics` endpoint binds to. Default `'127.0.0.1'` (loopback only), also for a blank string. */
  host?: string;
  /** Default `9464`; `0` lets the system pick a free port (`prometheusUrl` then says which). */
  port?: number;
  /** Path. Default `'/metrics'`, also for a blank string. */
  endpoint?: string;
}

export interface OtlpOptions {
  /**
   * Base URL of an OTLP/HTTP receiver; traces go to `{endpoint}/v1/traces`, metrics to
   * `{endpoint}/v1/metrics`. Default: `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal
   * `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT` variables, read by the exporters).
   */
  endpoint?: string;
  /** Extra HTTP headers, e.g. for authentication. Default: `OTEL_EXPORTER_OTLP_HEADERS`. */
  headers?: Record<string, string>;
  /** Metric push interval in ms. Default: `OTEL_METRIC_EXPORT_INTERVAL`, else 10000. */
  exportIntervalMillis?: number;
  /** Send traces. Default `true`. */
  traces?: boolean;
  /** Send metrics. Default `true`. */
  metrics?: boolean;
}

export interface TelemetryOptions {
  /**
   * `service.name`. Default: `OTEL_SERVICE_NAME`, else the SDK's `unknown_service:node`. Attributes
   * from `OTEL_RESOURCE_ATTRIBUTES` are added; `service.instance.id` defaults to a random UUID per
   * process (set it there, e.g. to the pod name, to choose it).
   */
  serviceName?: string;
  /**
   * The Prometheus pull endpoint, or `false` to disable it; it does not keep the process alive.
   * Its metric names are the collector's (unit suffixes such as `_seconds`, `_total` on counters).
   * Default `{ host: '127.0.0.1', port: 9464 }`.
   */
  prometheus?: PrometheusOptions | false;
  /** OTLP/HTTP push of traces and metrics, or `false`. Default: on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else off. */
  otlp?: OtlpOptions | false;
  /** Upper bound for `shutdown()` and `forceFlush()` in ms. Default 5000. */
  shutdownTimeoutMillis?: number;
  /** Register the providers (and an AsyncLocalStorage context manager) globally. Default `true`. */
  registerGlobal?: boolean;
}

export interface Telemetry {
  readonly meterProvider: MeterProviderApi;
  readonly tracerProvider: TracerProvider;
  /**
   * `http://host:port/metrics` once the Prometheus endpoint listens (after `ready` resolves);
   * `undefined` before that, when it could not listen, and when it is off.
   */
  readonly prometheusUrl: string | undefined;
  /**
   * Resolves once the Prometheus endpoint listens (at once when it is off). Rejects when it
   * cannot listen (a port in use, say) with an `Error` naming host, port and reason, also logged
   * through `diag`; recording and OTLP export go on. Not awaiting it is safe: the rejection is
   * never reported as unhandled.
   */
  readonly ready: Promise<void>;
  /** Exports what is buffered. Bounded by `shutdownTimeoutMillis`; never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops every exporter. Bounded by `shutdownTimeoutMillis`, idempotent, never rejects. */
  shutdown(): Promise<void>;
}

const OPTION_KEYS = ['serviceName', 'prometheus', 'otlp', 'shutdownTimeoutMillis', 'registerGlobal'];

/**
 * Sets up OpenTelemetry for an app that has none of its own: a tracer provider, a meter
 * provider, a Prometheus endpoint on loopback and OTLP/HTTP push, registered globally so that
 * every `AgentMeter` (created before or after) exports through them. Throws, with the
 * `npm install` command to run, when the OpenTelemetry JS SDK or a configured exporter is not
 * installed (they are optional peer dependencies).
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  validate(options);
  const env = process.env;
  const otlp = options.otlp ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT ? {} : false);
  // Every package this configuration needs is there before anything starts.
  const sdk = requireSdk();
  // What the 2.x Node SDK read from OTEL_* itself (sampler, span limits, batching); sdk-trace leaves it to us.
  const traceEnv = readTraceEnv(env, sdk.trace, logger);
  const prometheusExporter = options.prometheus === false ? undefined : requireExporter('prometheus', 'prometheus');
  const traceExporter = otlp === false || otlp.traces === false ? undefined : requireExporter('otlpTraces', 'otlp.traces');
  const metricExporter = otlp === false || otlp.metrics === false ? undefined : requireExporter('otlpMetrics', 'otlp.metrics');

  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = sdk.resources;
  const shutdownTimeoutMillis = options.shutdownTimeoutMillis ?? 5000;
  const serviceName = options.serviceName ?? env.OTEL_SERVICE_NAME;
  // Replicas must not overwrite each other's series on the collector path: each process gets its
  // own `service.instance.id` (a random UUID, as the conventions recommend) unless the environment sets one.
  let resource = resourceFromAttributes({ 'service.instance.id': randomUUID() })
    .merge(defaultResource())
    .merge(detectResources({ detectors: [envDetector] }));
  if (serviceName !== undefined) resource = resource.merge(resourceFromAttributes({ 'service.name': serviceName }));

  const readers: IMetricReader[] = [];
  let prometheusUrl: string | undefined;
  let ready: Promise<void> = Promise.resolve();
  let prometheus: PrometheusEndpoint | undefined;
  if (prometheusExporter !== undefined && options.prometheus !== false) {
    // Blank means the default: `host: process.env.METRICS_HOST ?? '127.0.0.1'` with the variable set but empty.
    const host = options.prometheus?.host?.trim() || '127.0.0.1';
    const port = options.prometheus?.port ?? 9464;
    const path = options.prometheus?.endpoint?.trim() || '/metrics';
    prometheus = startPrometheusEndpoint(sdk, prometheusExporter, { host, port, endpoint: path.startsWith('/') ? path : `/${path}` });
    ready = prometheus.listening.then((url) => {
      prometheusUrl = url;
    });
    // An app that never awaits `ready` gets no unhandled rejection; one that does still sees it reject.
    void ready.catch(() => undefined);
    readers.push(prometheus.reader);
  }

  const spanProcessors: SpanProcessor[] = [];
  if (otlp !== false) {
    const base = otlp.endpoint?.replace(/\/+$/, '');
    const common = { headers: otlp.headers, timeoutMillis: Math.min(10_000, shutdownTimeoutMillis) };
    if (traceExporter !== undefined) {
      const exporter = new traceExporter.OTLPTraceExporter({ ...common, ...(base === undefined ? {} : { url: `${base}/v1/traces` }) });
      spanProcessors.push(new sdk.trace.BatchSpanProcessor({ exporter, ...traceEnv.batch }));
    }
    if (metricExporter !== undefined) {
      const exporter = new metricExporter.OTLPMetricExporter({ ...common, ...(base === undefined ? {} : { url: `${base}/v1/metrics` }) });
      const interval = otlp.exportIntervalMillis ?? (Number(env.OTEL_METRIC_EXPORT_INTERVAL) || 10_000);
      readers.push(
        new sdk.metrics.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval, exportTimeoutMillis: Math.min(interval, 10_000) }),
      );
    }
  }

  const meterProvider = new sdk.metrics.MeterProvider({ resource, readers });
  const tracerProvider = new sdk.trace.TracerProvider({ resource, spanProcessors, sampler: traceEnv.sampler, spanLimits: traceEnv.spanLimits });
  if (options.registerGlobal !== false) registerGlobal(sdk, tracerProvider, meterProvider);

  const bounded = (what: string, work: () => Promise<unknown>) =>
    withTimeout(work(), shutdownTimeoutMillis).then(
      (finished) => {
        if (!finished) logger.warn(`${what} did not finish within ${shutdownTimeoutMillis} ms; gave up`);
      },
      (error: unknown) => logger.error(`${what} failed`, error),
    );
  let shutdownPromise: Promise<void> | undefined;
  return {
    meterProvider,
    tracerProvider,
    get prometheusUrl() {
      return prometheusUrl;
    },
    ready,
    forceFlush: () => bounded('flushing telemetry', () => Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()])),
    shutdown: () =>
      (shutdownPromise ??= bounded('shutting telemetry down', () =>
        Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown(), prometheus?.close()]),
      )),
  };
}

function validate(options: TelemetryOptions): void {
  if (!isObject(options)) throw new TypeError('agentmetry: startTelemetry options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new TypeError(`agentmetry: startTelemetry: ${key} is not a known option (expected one of ${OPTION_KEYS.join(', ')})`);
    }
  }
  const { prometheus, otlp, shutdownTimeoutMillis } = options;
  if (prometheus !== undefined && prometheus !== false) {
    if (!isObject(prometheus)) throw new TypeError('agentmetry: startTelemetry: prometheus must be an object or false');
    for (const key of ['host', 'endpoint'] as const) {
      if (prometheus[key] !== undefined && typeof prometheus[key] !== 'string') {
        throw new TypeError(`agentmetry: startTelemetry: prometheus.${key} must be a string, got ${String(prometheus[key])}`);
      }
    }
    if (prometheus.port !== undefined && !(Number.isInteger(prometheus.port) && prometheus.port >= 0 && prometheus.port <= 65535)) {
      throw new RangeError(`agentmetry: startTelemetry: prometheus.port must be an integer from 0 to 65535, got ${String(prometheus.port)}`);
    }
  }
  if (otlp !== undefined && otlp !== false) {
    if (!isObject(otlp)) throw new TypeError('agentmetry: startTelemetry: otlp must be an object or false');
    if (otlp.endpoint !== undefined && !/^https?:\/\//.test(otlp.endpoint)) {
      throw new TypeError(`agentmetry: startTelemetry: otlp.endpoint must be an http(s) URL, got '${otlp.endpoint}'`);
    }
    if (otlp.exportIntervalMillis !== undefined && !(Number.isFinite(otlp.exportIntervalMillis) && otlp.exportIntervalMillis > 0)) {
      throw new RangeError(`agentmetry: startTelemetry: otlp.exportIntervalMillis must be a positive number, got ${String(otlp.exportIntervalMillis)}`);
    }
  }
  if (shutdownTimeoutMillis !== undefined && !(Number.isFinite(shutdownTimeoutMillis) && shutdownTimeoutMillis > 0)) {
    throw new RangeError(`agentmetry: startTelemetry: shutdownTimeoutMillis must be a positive number, got ${String(shutdownTimeoutMillis)}`);
  }
}

/** Resolves `true` when `promise` settles in time, `false` on timeout; rejects with its error. */
function withTimeout(promise: Promise<unknown>, timeoutMillis: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(false), timeoutMillis);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
