// The part of the 2.x `@opentelemetry/sdk-trace-base` API that agentmetry uses, on top of
// `@opentelemetry/sdk-trace` 3.x, where sdk-trace-base no longer exists. It does what
// sdk-trace-base 2.12 itself does over sdk-trace 2.12 (its *-shim.js files): processors take the
// exporter as their first argument, and BasicTracerProvider is TracerProvider. Unlike 2.12 it reads
// no OTEL_* environment variables (sampler, span limits, OTEL_BSP_*), as 3.x sdk-trace reads none.
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
} from '@opentelemetry/sdk-trace';

export class BasicTracerProvider extends sdk.TracerProvider {}

export class SimpleSpanProcessor extends sdk.SimpleSpanProcessor {
  constructor(exporter) {
    super({ exporter });
  }
}

export class BatchSpanProcessor extends sdk.BatchSpanProcessor {
  constructor(exporter, config = {}) {
    super({ ...config, exporter });
  }
}
