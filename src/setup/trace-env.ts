import type { DiagLogger } from '@opentelemetry/api';
import type { Sampler } from '@opentelemetry/sdk-trace';
import type { Sdk } from './sdk.js';

type Trace = Sdk['trace'];

/** What the standard `OTEL_*` trace variables configure, as the `@opentelemetry/sdk-trace` options that take it. */
export interface TraceEnvConfig {
  readonly sampler: Sampler;
  readonly spanLimits: {
    attributeValueLengthLimit?: number;
    attributeCountLimit?: number;
    eventCountLimit?: number;
    linkCountLimit?: number;
    attributePerEventCountLimit?: number;
    attributePerLinkCountLimit?: number;
  };
  readonly batch: { scheduledDelayMillis?: number; exportTimeoutMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number };
}

const SPAN_LIMITS = {
  attributeValueLengthLimit: ['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'],
  attributeCountLimit: ['OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT'],
  eventCountLimit: ['OTEL_SPAN_EVENT_COUNT_LIMIT'],
  linkCountLimit: ['OTEL_SPAN_LINK_COUNT_LIMIT'],
  attributePerEventCountLimit: ['OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT'],
  attributePerLinkCountLimit: ['OTEL_LINK_ATTRIBUTE_COUNT_LIMIT'],
} as const;

const BATCH = {
  scheduledDelayMillis: 'OTEL_BSP_SCHEDULE_DELAY',
  exportTimeoutMillis: 'OTEL_BSP_EXPORT_TIMEOUT',
  maxQueueSize: 'OTEL_BSP_MAX_QUEUE_SIZE',
  maxExportBatchSize: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
} as const;

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

/**
 * Reads the trace variables of the OpenTelemetry specification that the 2.x Node SDK honoured
 * and `@opentelemetry/sdk-trace` (both lines) leaves to the app: the sampler
 * (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), span limits (`OTEL_SPAN_*_LIMIT`,
 * `OTEL_ATTRIBUTE_*_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`)
 * and the batch span processor (`OTEL_BSP_*`). An unset or empty variable keeps the default; an
 * invalid one is ignored with a warning naming it.
 */
export function readTraceEnv(env: Record<string, string | undefined>, trace: Trace, logger: DiagLogger): TraceEnvConfig {
  const integer = (name: string): number | undefined => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (Number.isInteger(value) && value >= 0) return value;
    logger.warn(`${name}=${raw} is not a non-negative integer; ignored`);
    return undefined;
  };
  const spanLimits: Record<string, number> = {};
  for (const [option, names] of Object.entries(SPAN_LIMITS)) {
    const value = names.map(integer).find((candidate) => candidate !== undefined);
    if (value !== undefined) spanLimits[option] = value;
  }
  const batch: Record<string, number> = {};
  for (const [option, name] of Object.entries(BATCH)) {
    const value = integer(name);
    if (value !== undefined) batch[option] = value;
  }
  return { sampler: readSampler(env, trace, logger), spanLimits, batch };
}

function readSampler(env: Record<string, string | undefined>, trace: Trace, logger: DiagLogger): Sampler {
  let name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() || 'parentbased_always_on';
  if (!SAMPLERS.includes(name)) {
    logger.warn(`OTEL_TRACES_SAMPLER=${name} is not supported (expected one of ${SAMPLERS.join(', ')}); using parentbased_always_on`);
    name = 'parentbased_always_on';
  }
  const ratio = (): number => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
    if (raw === undefined || raw === '') return 1;
    const value = Number(raw);
    if (Number.isFinite(value) && value >= 0 && value <= 1) return value;
    logger.warn(`OTEL_TRACES_SAMPLER_ARG=${raw} is not a ratio from 0 to 1; using 1`);
    return 1;
  };
  switch (name) {
    case 'always_on':
      return new trace.AlwaysOnSampler();
    case 'always_off':
      return new trace.AlwaysOffSampler();
    case 'traceidratio':
      return new trace.TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_off':
      return new trace.ParentBasedSampler({ root: new trace.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new trace.ParentBasedSampler({ root: new trace.TraceIdRatioBasedSampler(ratio()) });
    default:
      return new trace.ParentBasedSampler({ root: new trace.AlwaysOnSampler() });
  }
}
