import type { Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type Histogram, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
// @opentelemetry/sdk-trace has the same API on both lines the package supports (2.9+ and 3.x).
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

/** A cumulative reader that only collects when asked: it has no exporter to shut down or flush. */
export class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

export interface TestPipeline {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  spans: InMemorySpanExporter;
  reader: TestReader;
  /** Finished spans so far. */
  finishedSpans(): ReadableSpan[];
  /** Collects and returns every data point of one metric. */
  points(name: string): Promise<Array<DataPoint<number | Histogram>>>;
  /** Sum of a counter's (or gauge's) values over points whose attributes include `match`. */
  sum(name: string, match?: Attributes): Promise<number>;
  /** Sum of a histogram's `sum` (or `count`) over matching points. */
  histogram(name: string, match?: Attributes): Promise<{ sum: number; count: number }>;
}

export function createPipeline(): TestPipeline {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const points = async (name: string) => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw errors[0];
    return findPoints(resourceMetrics, name);
  };
  const matching = async (name: string, match: Attributes = {}) =>
    (await points(name)).filter((point) => Object.entries(match).every(([key, value]) => point.attributes[key] === value));
  return {
    tracerProvider,
    meterProvider,
    spans,
    reader,
    finishedSpans: () => spans.getFinishedSpans(),
    points,
    sum: async (name, match) => (await matching(name, match)).reduce((total, point) => total + (point.value as number), 0),
    histogram: async (name, match) =>
      (await matching(name, match)).reduce(
        (total, point) => ({ sum: total.sum + ((point.value as Histogram).sum ?? 0), count: total.count + (point.value as Histogram).count }),
        { sum: 0, count: 0 },
      ),
  };
}

export function findPoints(resourceMetrics: ResourceMetrics, name: string): Array<DataPoint<number | Histogram>> {
  return resourceMetrics.scopeMetrics.flatMap((scope) =>
    scope.metrics.filter((metric) => metric.descriptor.name === name).flatMap((metric) => metric.dataPoints as Array<DataPoint<number | Histogram>>),
  );
}

export function spanNamed(spans: ReadableSpan[], name: string): ReadableSpan {
  const span = spans.find((candidate) => candidate.name === name);
  if (span === undefined) throw new Error(`no span named '${name}' among ${spans.map((s) => s.name).join(', ')}`);
  return span;
}

export function parentId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `signal` has fired (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
