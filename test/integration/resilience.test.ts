import type { Meter, MeterProvider, Tracer, TracerProvider } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { captureDiagAndRejections } from '../helpers/diag.js';
import { AgentMeter } from '../../src/index.js';
import { createPipeline } from '../helpers/otel.js';

/** A tracer provider whose tracer throws on every call. */
const throwingTracerProvider: TracerProvider = {
  getTracer: (): Tracer => ({
    startSpan: () => {
      throw new Error('tracer exploded');
    },
    startActiveSpan: () => {
      throw new Error('tracer exploded');
    },
  }),
};

/** A meter provider whose instruments throw on every record. */
function throwingMeterProvider(where: 'getMeter' | 'record'): MeterProvider {
  const explode = () => {
    throw new Error(`meter exploded in ${where}`);
  };
  if (where === 'getMeter') return { getMeter: explode };
  const instrument = { record: explode, add: explode, addCallback: explode, removeCallback: explode };
  const meter = new Proxy({} as Meter, {
    get: (_target, property) => (property === 'addBatchObservableCallback' ? explode : () => instrument),
  });
  return { getMeter: () => meter };
}

describe('telemetry failures never reach the host app', () => {
  const { logged, unhandled } = captureDiagAndRejections();

  it('survives a tracer that throws: the result and the error pass through, metrics still count', async () => {
    const pipeline = createPipeline();
    const agentmeter = new AgentMeter({ tracerProvider: throwingTracerProvider, meterProvider: pipeline.meterProvider });
    await expect(agentmeter.run('a', async (run) => (run.recordUsage({ inputTokens: 1 }), 'result'))).resolves.toBe('result');
    const error = new Error('app error');
    await expect(agentmeter.run('a', async () => Promise.reject(error))).rejects.toBe(error);
    await expect(agentmeter.runParallel([{ subagent: 'b', fn: async () => 2 }])).resolves.toEqual([{ status: 'fulfilled', value: 2 }]);
    expect(await pipeline.sum('subagent.executions', { 'gen_ai.agent.name': 'a' })).toBe(2);
    expect(logged.some((message) => message.includes('starting a span failed'))).toBe(true);
  });

  it.each(['getMeter', 'record'] as const)('survives a meter provider that throws in %s', async (where) => {
    const pipeline = createPipeline();
    const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: throwingMeterProvider(where) });
    await expect(agentmeter.run('a', async (run) => (run.recordTurn(), run.recordUsage({ inputTokens: 3 }), 7))).resolves.toBe(7);
    await expect(agentmeter.run('a', async () => Promise.reject(new TypeError('x')))).rejects.toThrow(TypeError);
    expect(pipeline.finishedSpans().map((span) => span.attributes['subagent.outcome'])).toEqual(['ok', 'error']);
    expect(logged.length).toBeGreaterThan(0);
    expect(unhandled).toEqual([]);
  });

  it('survives an observable callback read by a reader while runs are in flight', async () => {
    const pipeline = createPipeline();
    const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider });
    const runs = Array.from({ length: 20 }, (_, index) =>
      agentmeter.run(`a${index % 3}`, async (run) => {
        await pipeline.reader.collect();
        run.recordUsage({ inputTokens: index });
      }),
    );
    await Promise.all(runs);
    expect(await pipeline.sum('subagent.executions')).toBe(20);
    expect(await pipeline.sum('subagent.active')).toBe(0);
  });
});
