import * as sdk from '@opentelemetry/sdk-trace';

export {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  NoopSpanProcessor,
  ParentBasedSampler,
  RandomIdGenerator,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type IdGenerator,
  type ReadableSpan,
  type Sampler,
  type SamplingResult,
  type Span,
  type SpanExporter,
  type SpanLimits,
  type SpanProcessor,
  type TimedEvent,
  type TracerProviderOptions as TracerConfig,
} from '@opentelemetry/sdk-trace';

export declare class BasicTracerProvider extends sdk.TracerProvider {}

export declare class SimpleSpanProcessor extends sdk.SimpleSpanProcessor {
  constructor(exporter: sdk.SpanExporter);
}

export declare class BatchSpanProcessor extends sdk.BatchSpanProcessor {
  constructor(exporter: sdk.SpanExporter, config?: Omit<sdk.BatchSpanProcessorOptions, 'exporter'>);
}
