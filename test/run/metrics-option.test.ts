import { afterEach, describe, expect, it } from 'vitest';
import { AgentMeter } from '../../src/index.js';
import { metricsFromEnv } from '../../src/run/spec.js';
import * as semconv from '../../src/semconv.js';
import { createPipeline } from '../helpers/otel.js';

const ENV = semconv.ENV_SEMCONV_STABILITY_OPT_IN;
const saved = process.env[ENV];

afterEach(() => {
  if (saved === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
  else process.env[ENV] = saved;
});

/** The metric names one run of a meter made with `options` records. */
async function recorded(options: ConstructorParameters<typeof AgentMeter>[0] = {}) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, ...options });
  await agentmeter.run('a', (run) => run.recordToolCall({ name: 't', durationMs: 1 }));
  const { resourceMetrics } = await pipeline.reader.collect();
  const names = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.descriptor.name));
  return {
    metrics: agentmeter.metrics,
    subagent: names.includes(semconv.METRIC_DURATION),
    genAi: names.includes(semconv.METRIC_GEN_AI_INVOKE_AGENT_DURATION),
  };
}

describe('the metrics option', () => {
  it("defaults to 'subagent' without OTEL_SEMCONV_STABILITY_OPT_IN", async () => {
    delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    expect(await recorded()).toEqual({ metrics: 'subagent', subagent: true, genAi: false });
  });

  it.each([
    ['gen_ai_latest_experimental', 'both'],
    ['http,gen_ai_latest_experimental', 'both'],
    [' database , gen_ai_latest_experimental ', 'both'],
    ['http', 'subagent'],
    ['gen_ai_latest_experimental/dup', 'subagent'],
    ['', 'subagent'],
  ] as const)("OTEL_SEMCONV_STABILITY_OPT_IN=%j without the option means '%s'", async (value, expected) => {
    process.env[ENV] = value;
    const result = await recorded();
    expect(result.metrics).toBe(expected);
    expect(result.genAi).toBe(expected === 'both');
    expect(result.subagent).toBe(true);
  });

  it('an explicit option wins over the environment variable', async () => {
    process.env[ENV] = 'gen_ai_latest_experimental';
    expect(await recorded({ metrics: 'subagent' })).toEqual({ metrics: 'subagent', subagent: true, genAi: false });
    expect(await recorded({ metrics: 'gen_ai' })).toEqual({ metrics: 'gen_ai', subagent: false, genAi: true });
    delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    expect(await recorded({ metrics: 'both' })).toEqual({ metrics: 'both', subagent: true, genAi: true });
  });

  it.each([
    ['otel', `agentmetry: metrics must be one of 'subagent', 'gen_ai', 'both', got "otel"`],
    ['GEN_AI', `agentmetry: metrics must be one of 'subagent', 'gen_ai', 'both', got "GEN_AI"`],
    [1, `agentmetry: metrics must be one of 'subagent', 'gen_ai', 'both', got 1`],
  ])('rejects metrics: %j at construction, naming the field, the value and the choices', (value, message) => {
    expect(() => new AgentMeter({ metrics: value as never })).toThrow(new TypeError(message));
  });

  it('metricsFromEnv reads a comma-separated list', () => {
    expect(metricsFromEnv(undefined)).toBe('subagent');
    expect(metricsFromEnv('gen_ai_latest_experimental')).toBe('both');
    expect(metricsFromEnv('a,b')).toBe('subagent');
  });
});
