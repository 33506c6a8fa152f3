import * as trace from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startTelemetry } from '../../src/setup/index.js';
import { readTraceEnv } from '../../src/setup/trace-env.js';
import { captureDiagAndRejections } from '../helpers/diag.js';

const read = (env: Record<string, string>) => readTraceEnv(env, trace, createLogger('setup'));

describe('the OTEL_* trace variables startTelemetry honours', () => {
  const captured = captureDiagAndRejections();

  it('defaults: parent-based always-on sampling, the SDK default limits and batching', () => {
    const config = read({});
    expect(config.sampler.toString()).toBe(new trace.ParentBasedSampler({ root: new trace.AlwaysOnSampler() }).toString());
    expect(config.spanLimits).toEqual({});
    expect(config.batch).toEqual({});
  });

  it.each<[sampler: string, arg: string, expected: trace.Sampler]>([
    ['always_off', '', new trace.AlwaysOffSampler()],
    ['always_on', '', new trace.AlwaysOnSampler()],
    ['traceidratio', '0.25', new trace.TraceIdRatioBasedSampler(0.25)],
    ['parentbased_traceidratio', '0.1', new trace.ParentBasedSampler({ root: new trace.TraceIdRatioBasedSampler(0.1) })],
    ['ParentBased_Always_Off', '', new trace.ParentBasedSampler({ root: new trace.AlwaysOffSampler() })],
  ])('OTEL_TRACES_SAMPLER=%s (arg %s)', (sampler, arg, expected) => {
    expect(read({ OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: arg }).sampler.toString()).toBe(expected.toString());
  });

  it('span limits and batch settings, the span-specific variable winning over the general one', () => {
    const config = read({
      OTEL_ATTRIBUTE_COUNT_LIMIT: '64',
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '32',
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '1024',
      OTEL_SPAN_EVENT_COUNT_LIMIT: '16',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_MAX_QUEUE_SIZE: '4096',
    });
    expect(config.spanLimits).toEqual({ attributeCountLimit: 32, attributeValueLengthLimit: 1024, eventCountLimit: 16 });
    expect(config.batch).toEqual({ scheduledDelayMillis: 200, maxQueueSize: 4096 });
  });

  it('ignores invalid values with a warning that names the variable', () => {
    const config = read({ OTEL_TRACES_SAMPLER: 'xray', OTEL_BSP_MAX_QUEUE_SIZE: 'lots', OTEL_SPAN_LINK_COUNT_LIMIT: '-1' });
    expect(config.sampler.toString()).toBe(new trace.ParentBasedSampler({ root: new trace.AlwaysOnSampler() }).toString());
    expect(config.batch).toEqual({});
    expect(config.spanLimits).toEqual({});
    const ratio = read({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' });
    expect(ratio.sampler.toString()).toBe(new trace.TraceIdRatioBasedSampler(1).toString());
    const warnings = captured.logged.join('\n');
    for (const name of ['OTEL_TRACES_SAMPLER=xray', 'OTEL_BSP_MAX_QUEUE_SIZE=lots', 'OTEL_SPAN_LINK_COUNT_LIMIT=-1', 'OTEL_TRACES_SAMPLER_ARG=2']) {
      expect(warnings).toContain(name);
    }
  });

  it('startTelemetry samples as OTEL_TRACES_SAMPLER says', async () => {
    const saved = process.env.OTEL_TRACES_SAMPLER;
    process.env.OTEL_TRACES_SAMPLER = 'always_off';
    try {
      const telemetry = startTelemetry({ prometheus: false, otlp: false, registerGlobal: false });
      expect(telemetry.tracerProvider.getTracer('test').startSpan('dropped').isRecording()).toBe(false);
      await telemetry.shutdown();
    } finally {
      if (saved === undefined) delete process.env.OTEL_TRACES_SAMPLER;
      else process.env.OTEL_TRACES_SAMPLER = saved;
    }
    const telemetry = startTelemetry({ prometheus: false, otlp: false, registerGlobal: false });
    expect(telemetry.tracerProvider.getTracer('test').startSpan('kept').isRecording()).toBe(true);
    await telemetry.shutdown();
  });
});
