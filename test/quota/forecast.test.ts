import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AgentMeter, type AgentMeterOptions, type QuotaSnapshot, type QuotaUsage, type RunSpec } from '../../src/index.js';
import { BURN_RATE_HORIZON_MS, BurnRate, MIN_RATE_SPAN_MS } from '../../src/quota/forecast.js';
import { createPipeline } from '../helpers/otel.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const START = Date.parse('2026-12-02T10:00:00Z');

function setup(quota: AgentMeterOptions['quota']) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, quota });
  return { pipeline, agentmeter, quota: agentmeter.quota! };
}

/** One run that consumes `tokens` tokens and $0.01. */
const spend = (agentmeter: AgentMeter, tokens: number, spec: string | RunSpec = 'writer') =>
  agentmeter.run(spec, (run) => run.recordUsage({ inputTokens: tokens, outputTokens: 0, costUsd: 0.01 }));

/** `steps` times: the clock moves `everyMs`, one run spends `tokens`, and `read` reads the quota (a reading of the burn rate). */
async function burn(agentmeter: AgentMeter, steps: number, everyMs: number, tokens: number, read: () => unknown, spec?: string | RunSpec): Promise<void> {
  for (let step = 0; step < steps; step++) {
    vi.setSystemTime(Date.now() + everyMs);
    if (tokens > 0) await spend(agentmeter, tokens, spec);
    await read();
  }
}

const forecastOf = (usage: QuotaUsage) => [usage.burnRatePerSecond, usage.exhaustsAt];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(START);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('snapshot(): burn rate and projected exhaustion', () => {
  it('a steady burn: the rate per second, and when the rest of each limit runs out at it', async () => {
    const { agentmeter, quota } = setup({ limits: { maxTokens: 100_000, maxExecutions: 1_000, maxCostUsd: 10 } });
    await spend(agentmeter, 100);
    const first = quota.snapshot();
    // One reading is not a rate.
    expect(Object.keys(first.tokens)).toEqual(['limit', 'used', 'reserved', 'remaining']);

    // 100 tokens, one execution and $0.01 every 10 s, read each time; 10 minutes cross the horizon twice.
    let snapshot: QuotaSnapshot = first;
    await burn(agentmeter, 60, 10 * SECOND, 100, () => (snapshot = quota.snapshot()));
    const now = Date.now();
    expect(now - START).toBeGreaterThanOrEqual(2 * BURN_RATE_HORIZON_MS);
    expect(snapshot.tokens.used).toBe(6_100);
    expect(snapshot.tokens.burnRatePerSecond).toBeCloseTo(10, 9);
    expect(snapshot.tokens.exhaustsAt).toBeCloseTo(now + ((100_000 - 6_100) / 10) * SECOND, 3);
    expect(snapshot.executions.burnRatePerSecond).toBeCloseTo(0.1, 9);
    expect(snapshot.executions.exhaustsAt).toBeCloseTo(now + ((1_000 - 61) / 0.1) * SECOND, 3);
    expect(snapshot.costUsd.burnRatePerSecond).toBeCloseTo(0.001, 12);
    expect(snapshot.costUsd.exhaustsAt).toBeCloseTo(now + ((10 - 0.61) / 0.001) * SECOND, 0);
    // Not consumed: no forecast.
    expect(forecastOf(snapshot.concurrent)).toEqual([undefined, undefined]);
  });

  it('the rate follows a change of pace within the horizon', async () => {
    const { agentmeter, quota } = setup({ limits: { maxTokens: 1_000_000 } });
    await burn(agentmeter, 60, 10 * SECOND, 100, () => quota.snapshot());
    let snapshot = quota.snapshot();
    expect(snapshot.tokens.burnRatePerSecond).toBeCloseTo(10, 9);
    await burn(agentmeter, BURN_RATE_HORIZON_MS / (10 * SECOND), 10 * SECOND, 400, () => (snapshot = quota.snapshot()));
    expect(snapshot.tokens.burnRatePerSecond).toBeCloseTo(40, 9);
  });

  it('an idle scope, and one idle for a horizon after a burst: rate 0, no exhaustion', async () => {
    const { agentmeter, quota } = setup({ limits: { maxTokens: 10_000 } });
    await agentmeter.run('idle', () => undefined);
    quota.snapshot();
    vi.setSystemTime(START + MINUTE);
    expect(forecastOf(quota.snapshot().tokens)).toEqual([0, undefined]);

    await burn(agentmeter, 6, 10 * SECOND, 500, () => quota.snapshot());
    expect(quota.snapshot().tokens.exhaustsAt).toBeDefined();
    let snapshot = quota.snapshot();
    await burn(agentmeter, BURN_RATE_HORIZON_MS / (30 * SECOND), 30 * SECOND, 0, () => (snapshot = quota.snapshot()));
    expect(snapshot.tokens.used).toBe(3_000);
    expect(forecastOf(snapshot.tokens)).toEqual([0, undefined]);
  });

  it('a scope with nothing left runs out now while it burns; no limit, no exhaustion', async () => {
    // Observing, so that the run that overruns the limit is not stopped.
    const { agentmeter, quota } = setup({ mode: 'observe', limits: { maxTokens: 1_000 } });
    await agentmeter.run('first', () => undefined);
    quota.snapshot();
    vi.setSystemTime(START + 10 * SECOND);
    await spend(agentmeter, 1_200);
    const snapshot = quota.snapshot();
    expect(snapshot.tokens.remaining).toBe(0);
    expect(snapshot.tokens.exhaustsAt).toBe(Date.now());
    expect(snapshot.executions.limit).toBeUndefined();
    expect(forecastOf(snapshot.executions)).toEqual([0.1, undefined]);
  });

  it('a calendar window that resets before the budget runs out: no exhaustion in it', async () => {
    const { agentmeter, quota } = setup({ windows: [{ per: 'hour', maxTokens: 10_000 }], limits: { maxTokens: 1_000_000 } });
    // 10 tokens a second from 10:00: 10,000 are gone 16 minutes 40 s in, well before 11:00.
    await burn(agentmeter, 6, 10 * SECOND, 100, () => quota.snapshot());
    let [hour] = quota.snapshot().windows;
    expect(hour!.tokens.exhaustsAt).toBeCloseTo(Date.now() + ((10_000 - 600) / 10) * SECOND, 3);
    expect(hour!.resetsAt).toBe(Date.parse('2026-12-02T11:00:00Z'));

    // The same pace from 10:55 (a new AgentMeter, a new scope): 11:00 comes first.
    const late = setup({ windows: [{ per: 'hour', maxTokens: 10_000 }], limits: { maxTokens: 1_000_000 } });
    vi.setSystemTime(Date.parse('2026-12-02T10:55:00Z'));
    let snapshot = late.quota.snapshot();
    await burn(late.agentmeter, 6, 10 * SECOND, 100, () => (snapshot = late.quota.snapshot()));
    [hour] = snapshot.windows;
    expect(hour!.tokens.used).toBe(600);
    expect(forecastOf(hour!.tokens)).toEqual([10, undefined]);
    // The limit that never resets still has a forecast.
    expect(snapshot.tokens.exhaustsAt).toBeCloseTo(Date.now() + ((1_000_000 - 600) / 10) * SECOND, 3);
  });

  it('a rolling window: a pace that fills it runs out; one that fits in it never does', async () => {
    const rolling = { rollingMs: 60 * MINUTE, maxTokens: 10_000 };
    const fast = setup({ windows: [rolling] });
    fast.quota.snapshot();
    await burn(fast.agentmeter, 6, 10 * SECOND, 100, () => fast.quota.snapshot());
    const [window] = fast.quota.snapshot().windows;
    // 10 a second comes in; what the window holds (600) leaves at 600 an hour.
    const net = 10 - 600 / 3_600;
    expect(window!.tokens.exhaustsAt).toBeCloseTo(Date.now() + ((10_000 - 600) / net) * SECOND, 3);

    // 2 a second is 7,200 an hour: it never fills 10,000.
    const slow = setup({ windows: [rolling] });
    slow.quota.snapshot();
    await burn(slow.agentmeter, 6, 10 * SECOND, 20, () => slow.quota.snapshot());
    expect(forecastOf(slow.quota.snapshot().windows[0]!.tokens)).toEqual([2, undefined]);
  });
});

describe('BurnRate', () => {
  const used = (tokens: number) => ({ executions: 0, tokens, costNanos: 0, concurrent: 0 });

  it('needs two readings at least a second apart: snapshots a moment apart say nothing of the burn', () => {
    const rate = new BurnRate();
    rate.record(START, used(100));
    rate.record(START + MIN_RATE_SPAN_MS - 1, used(5_000));
    expect(rate.perSecond('tokens')).toBeUndefined();
    rate.record(START + MIN_RATE_SPAN_MS, used(5_100));
    expect(rate.perSecond('tokens')).toBe(5_000);
  });

  it('starts over when the counts shrink (a store that forgot the scope) or the clock goes back', () => {
    const rate = new BurnRate();
    rate.record(START, used(100));
    rate.record(START + 10 * SECOND, used(200));
    expect(rate.perSecond('tokens')).toBe(10);
    rate.record(START + 20 * SECOND, used(50));
    expect(rate.perSecond('tokens')).toBeUndefined();
    rate.record(START + 30 * SECOND, used(150));
    expect(rate.perSecond('tokens')).toBe(10);
    rate.record(START, used(150));
    expect(rate.perSecond('tokens')).toBeUndefined();
  });
});

describe('the subagent.quota.exhaustion gauge', () => {
  it('seconds until exhaustion per limit and window, with the quota gauges’ attributes; -1 when none is projected', async () => {
    const { agentmeter, pipeline } = setup({ limits: { maxTokens: 100_000, maxExecutions: 1_000 }, windows: [{ per: 'day', maxTokens: 10_000 }] });
    await pipeline.points('subagent.quota.exhaustion');
    await burn(agentmeter, 6, 10 * SECOND, 100, () => pipeline.points('subagent.quota.exhaustion'));
    const points = await pipeline.points('subagent.quota.exhaustion');
    const values = Object.fromEntries(
      points.map((point) => [
        ['quota.scope', 'quota.window', 'quota.resource'].map((name) => (point.attributes[name] as string | undefined) ?? '-').join('/'),
        point.value,
      ]),
    );
    expect(values).toEqual({
      'global/-/tokens': expect.closeTo((100_000 - 600) / 10, 6) as number,
      'global/-/executions': expect.closeTo((1_000 - 6) / 0.1, 6) as number,
      'global/day/tokens': expect.closeTo((10_000 - 600) / 10, 6) as number,
    });
    expect(points.every((point) => point.attributes['quota.level'] === undefined)).toBe(true);

    // Idle past the horizon: the series stay, at -1.
    await burn(agentmeter, BURN_RATE_HORIZON_MS / (30 * SECOND), 30 * SECOND, 0, () => pipeline.points('subagent.quota.exhaustion'));
    expect((await pipeline.points('subagent.quota.exhaustion')).map((point) => point.value)).toEqual([-1, -1, -1]);
  });

  it('with levels: quota.level; scopes past maxReportedScopes report the soonest of theirs as other', async () => {
    const tenantOf = (spec: RunSpec) => (spec.attributes?.['app.tenant'] as string | undefined) ?? 'none';
    const { agentmeter, pipeline } = setup({
      levels: [{ name: 'tenant', scopeBy: tenantOf, windows: [{ per: 'day', maxTokens: 10_000 }] }],
      maxReportedScopes: 1,
    });
    const tenant = (name: string): RunSpec => ({ name: 'agent', attributes: { 'app.tenant': name } });
    for (const name of ['acme', 'globex', 'initech']) await spend(agentmeter, 0, tenant(name));
    await pipeline.points('subagent.quota.exhaustion');
    // acme burns 10 a second, globex 20, initech nothing.
    for (let step = 0; step < 6; step++) {
      vi.setSystemTime(Date.now() + 10 * SECOND);
      await spend(agentmeter, 100, tenant('acme'));
      await spend(agentmeter, 200, tenant('globex'));
    }
    const points = await pipeline.points('subagent.quota.exhaustion');
    const values = Object.fromEntries(
      points.map((point) => [`${String(point.attributes['quota.level'])}/${String(point.attributes['quota.scope'])}`, point.value]),
    );
    expect(points.every((point) => point.attributes['quota.window'] === 'day' && point.attributes['quota.resource'] === 'tokens')).toBe(true);
    expect(values).toEqual({
      'tenant/acme': expect.closeTo((10_000 - 600) / 10, 6) as number,
      'tenant/other': expect.closeTo((10_000 - 1_200) / 20, 6) as number,
    });
  });
});
