import { DiagLogLevel, context, diag, propagation, trace, type Attributes } from '@opentelemetry/api';
import { MeterProvider, type Histogram } from '@opentelemetry/sdk-metrics';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { AgentMeter, type AgentMeterOptions } from '../../src/index.js';
import { ATTR_GEN_AI_AGENT_NAME } from '../../src/semconv.js';
import { TestReader, findPoints } from '../helpers/otel.js';

/** A real SDK pipeline (global tracer provider with an AsyncLocalStorage context manager, in-memory exporter, cumulative reader) and an AgentMeter on it. */
export function createAdapterPipeline(options: Pick<AgentMeterOptions, 'quota'> = {}) {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  // The global provider and an AsyncLocalStorage context manager, as an app's OTel setup installs them.
  trace.setGlobalTracerProvider(tracerProvider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const agentmeter = new AgentMeter({ tracerProvider, meterProvider, ...options });

  const points = async (name: string) => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw errors[0];
    return findPoints(resourceMetrics, name);
  };
  const matching = async (name: string, match: Attributes) =>
    (await points(name)).filter((point) => Object.entries(match).every(([key, value]) => point.attributes[key] === value));

  return {
    agentmeter,
    /** Every finished span. */
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
    /** Finished `invoke_agent` spans. */
    agentSpans: (): ReadableSpan[] => exporter.getFinishedSpans().filter((span) => span.attributes[ATTR_GEN_AI_AGENT_NAME] !== undefined),
    sum: async (name: string, match: Attributes = {}) => (await matching(name, match)).reduce((total, point) => total + (point.value as number), 0),
    histogram: async (name: string, match: Attributes = {}) =>
      (await matching(name, match)).reduce(
        (total, point) => ({ sum: total.sum + ((point.value as Histogram).sum ?? 0), count: total.count + (point.value as Histogram).count }),
        { sum: 0, count: 0 },
      ),
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      context.disable();
      trace.disable();
      propagation.disable();
    },
  };
}

export function parentOf(span: ReadableSpan, spans: ReadableSpan[]): ReadableSpan | undefined {
  const id = span.parentSpanContext?.spanId;
  return spans.find((candidate) => candidate.spanContext().spanId === id);
}

/**
 * A meeting point for `count` parties: each `arrive()` resolves once all have arrived. A model
 * that arrives before answering proves that its run was open at the same time as the others'.
 */
export function rendezvous(count: number): { arrive(): Promise<void> } {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return {
    arrive() {
      arrived += 1;
      if (arrived === count) release();
      return all;
    },
  };
}

/** Collects what agentmetry logs through `diag` at warn level and above, until `stop()`. */
export function captureDiag(): { messages: string[]; stop(): void } {
  const messages: string[] = [];
  const record = (...parts: unknown[]) => void messages.push(parts.join(' '));
  diag.setLogger({ error: record, warn: record, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  return { messages, stop: () => diag.disable() };
}
