import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AgentMeter, QuotaExceededError, type AgentMeterOptions, type Run } from '../../src/index.js';
import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { createPipeline } from '../helpers/otel.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function setup(quota: AgentMeterOptions['quota']) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, quota });
  return { pipeline, agentmeter, quota: agentmeter.quota! };
}

/** Runs `fn` as one run and returns what it was refused with, if it was. */
async function attempt(agentmeter: AgentMeter, spec: Parameters<AgentMeter['run']>[0], fn: (run: Run) => unknown = () => undefined) {
  try {
    await agentmeter.run(spec, fn);
    return undefined;
  } catch (error) {
    if (QuotaExceededError.isInstance(error)) return error;
    throw error;
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.parse('2026-12-02T10:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('calendar windows', () => {
  it('1M tokens per day and 20M per month: the day frees at midnight UTC, the month keeps counting', async () => {
    const { agentmeter, quota } = setup({
      windows: [
        { per: 'day', maxTokens: 1_000 },
        { per: 'month', maxTokens: 1_500 },
      ],
    });
    const spend = (tokens: number) => attempt(agentmeter, 'writer', (run) => run.recordUsage({ inputTokens: tokens, outputTokens: 0 }));

    expect(await spend(1_000)).toBeUndefined();
    const refused = await attempt(agentmeter, 'writer');
    expect(refused).toMatchObject({ resource: 'tokens', scope: 'global', window: 'day', limit: 1_000, used: 1_000 });
    expect(refused!.message).toBe('Quota exceeded: tokens 1000/1000 (scope global, window day)');

    vi.setSystemTime(Date.parse('2026-12-03T00:00:00Z'));
    expect(await spend(400)).toBeUndefined();
    const snapshot = quota.snapshot();
    expect(snapshot.windows.map((window) => [window.window, window.tokens.used])).toEqual([
      ['day', 400],
      ['month', 1_400],
    ]);
    expect(snapshot.windows[0]!.resetsAt).toBe(Date.parse('2026-12-04T00:00:00Z'));
    // 1,400 of the month's 1,500 are gone: the next day's budget is capped by the month.
    expect(await spend(100)).toBeUndefined();
    expect(await attempt(agentmeter, 'writer')).toMatchObject({ resource: 'tokens', window: 'month', used: 1_500 });
    vi.setSystemTime(Date.parse('2027-01-01T00:00:00Z'));
    expect(await attempt(agentmeter, 'writer')).toBeUndefined();
  });

  it('100 executions per minute, with a lifetime limit beside it', async () => {
    const { agentmeter, quota } = setup({ limits: { maxExecutions: 250 }, windows: [{ per: 'minute', maxExecutions: 100 }] });
    const results = await Promise.all(Array.from({ length: 150 }, () => attempt(agentmeter, 'worker')));
    expect(results.filter((result) => result === undefined)).toHaveLength(100);
    expect(results.find((result) => result !== undefined)).toMatchObject({ resource: 'executions', window: 'minute', limit: 100 });
    vi.setSystemTime(Date.now() + 60_000);
    expect((await Promise.all(Array.from({ length: 150 }, () => attempt(agentmeter, 'worker')))).filter((r) => r === undefined)).toHaveLength(100);
    vi.setSystemTime(Date.now() + 60_000);
    const third = await Promise.all(Array.from({ length: 150 }, () => attempt(agentmeter, 'worker')));
    expect(third.filter((result) => result === undefined)).toHaveLength(50);
    expect(third.find((result) => result !== undefined)).toMatchObject({ resource: 'executions', window: undefined, limit: 250 });
    expect(quota.snapshot().executions.used).toBe(250);
  });

  it('a run admitted before midnight counts in the day it was admitted, also for usage after midnight', async () => {
    const { agentmeter, quota } = setup({ windows: [{ per: 'day', maxTokens: 1_000 }] });
    vi.setSystemTime(Date.parse('2026-12-02T23:59:59Z'));
    await agentmeter.run({ name: 'late', estimate: { tokens: 300 } }, (run) => {
      expect(quota.snapshot().windows[0]!.tokens).toMatchObject({ used: 0, reserved: 300 });
      vi.setSystemTime(Date.parse('2026-12-03T00:00:01Z'));
      // Its reservation does not count in the new day; its usage does not either.
      expect(quota.snapshot().windows[0]!.tokens).toMatchObject({ used: 0, reserved: 0 });
      run.recordUsage({ inputTokens: 900, outputTokens: 0 });
    });
    expect(quota.snapshot().windows[0]!.tokens).toMatchObject({ used: 0, reserved: 0, remaining: 1_000 });
    expect(await attempt(agentmeter, { name: 'next', estimate: { tokens: 1_000 } })).toBeUndefined();
  });

  it('a month in a time zone: the budget frees at local midnight on the 1st, not at UTC midnight', async () => {
    const { agentmeter } = setup({ windows: [{ per: 'month', timeZone: 'America/New_York', maxExecutions: 1 }] });
    vi.setSystemTime(Date.parse('2027-01-31T23:00:00-05:00'));
    expect(await attempt(agentmeter, 'a')).toBeUndefined();
    vi.setSystemTime(Date.parse('2027-02-01T04:59:00Z')); // 23:59 on 31 January in New York
    expect(await attempt(agentmeter, 'b')).toMatchObject({ window: 'month@America/New_York' });
    vi.setSystemTime(Date.parse('2027-02-01T05:00:00Z'));
    expect(await attempt(agentmeter, 'c')).toBeUndefined();
  });
});

describe('rolling windows', () => {
  it('free the oldest bucket as it leaves the window: precision is rollingMs / buckets', async () => {
    const { agentmeter, quota } = setup({ windows: [{ rollingMs: DAY, buckets: 24, maxTokens: 1_000 }] });
    const spend = (tokens: number) => attempt(agentmeter, 'writer', (run) => run.recordUsage({ inputTokens: tokens, outputTokens: 0 }));
    vi.setSystemTime(Date.parse('2026-12-02T10:15:00Z'));
    expect(await spend(600)).toBeUndefined();
    vi.setSystemTime(Date.parse('2026-12-02T16:00:00Z'));
    expect(await spend(400)).toBeUndefined();
    expect(await attempt(agentmeter, 'writer')).toMatchObject({ window: 'rolling:1d', used: 1_000 });
    // 10:15 is in the 10:00 bucket, which leaves the last 24 hours at 10:00 the next day (not 10:15).
    vi.setSystemTime(Date.parse('2026-12-03T09:59:59Z'));
    expect(await attempt(agentmeter, 'writer')).toMatchObject({ window: 'rolling:1d' });
    vi.setSystemTime(Date.parse('2026-12-03T10:00:00Z'));
    expect(quota.snapshot().windows[0]!.tokens).toMatchObject({ used: 400, remaining: 600 });
    expect(await spend(600)).toBeUndefined();
  });
});

describe('warnings per window', () => {
  it('fire once per period and again in the next one', async () => {
    const { agentmeter, pipeline } = setup({ warnAt: [0.5], windows: [{ per: 'day', maxExecutions: 4 }] });
    for (let i = 0; i < 3; i++) await attempt(agentmeter, 'w');
    vi.setSystemTime(Date.now() + DAY);
    for (let i = 0; i < 3; i++) await attempt(agentmeter, 'w');
    const events = pipeline
      .finishedSpans()
      .flatMap((span) => span.events)
      .filter((event) => event.name === 'quota.warning');
    expect(events.map((event) => [event.attributes?.['quota.window'], event.attributes?.['quota.used']])).toEqual([
      ['day', 2],
      ['day', 2],
    ]);
  });
});

describe('gauges', () => {
  it('report each window with a quota.window attribute beside the limits that never reset', async () => {
    const { agentmeter, pipeline } = setup({ limits: { maxTokens: 10_000 }, windows: [{ per: 'hour', maxTokens: 500, maxExecutions: 10 }] });
    await agentmeter.run('a', (run) => run.recordUsage({ inputTokens: 120, outputTokens: 0 }));
    const used = await pipeline.points('subagent.quota.used');
    const tokens = used.filter((point) => point.attributes['quota.resource'] === 'tokens');
    expect(tokens.map((point) => [point.attributes['quota.window'] ?? 'none', point.value]).sort()).toEqual([
      ['hour', 120],
      ['none', 120],
    ]);
    const limits = await pipeline.points('subagent.quota.limit');
    expect(limits.filter((point) => point.attributes['quota.window'] === 'hour').map((p) => [p.attributes['quota.resource'], p.value])).toEqual([
      ['executions', 10],
      ['tokens', 500],
    ]);
    expect(used.every((point) => point.attributes['quota.level'] === undefined)).toBe(true);
  });
});

describe('configuration', () => {
  const bad = (quota: AgentMeterOptions['quota']) => () => new AgentMeter({ quota });
  it('names the field and what it expected', () => {
    expect(bad({ windows: [{ per: 'fortnight' as 'day', maxTokens: 1 }] })).toThrow(
      "quota.windows[0].per must be one of 'minute', 'hour', 'day', 'week', 'month', got 'fortnight'",
    );
    expect(bad({ windows: [{ per: 'day', timeZone: 'Mars/Olympus', maxTokens: 1 }] })).toThrow(
      "quota.windows[0].timeZone must be an IANA time zone name such as 'Europe/Paris', got 'Mars/Olympus'",
    );
    expect(bad({ windows: [{ per: 'day' }] })).toThrow('quota.windows[0] sets no limit (expected at least one of maxExecutions, maxTokens, maxCostUsd)');
    expect(bad({ windows: [{ per: 'day', maxConcurrent: 2 } as never] })).toThrow('maxConcurrent does not accumulate, so it has no window; set it in limits');
    expect(bad({ windows: [{ rollingMs: 1_000, buckets: 3, maxTokens: 1 }] })).toThrow('quota.windows[0].rollingMs (1000) must divide into 3 buckets');
    expect(bad({ windows: [{ per: 'day', rollingMs: 1_000, maxTokens: 1 } as never] })).toThrow(
      "either 'per' (a calendar window) or 'rollingMs' (a rolling window), not both",
    );
    expect(bad({ windows: [{ per: 'day', maxTokens: -1 }] })).toThrow('quota.windows[0].maxTokens must be a non-negative integer, got -1');
    expect(
      bad({
        windows: [
          { per: 'day', maxTokens: 1 },
          { per: 'day', maxCostUsd: 1 },
        ],
      }),
    ).toThrow("quota.windows[1] repeats the window 'day'");
    expect(bad({ idleTtlMs: -5 })).toThrow('quota.idleTtlMs must be a non-negative finite number of milliseconds, got -5');
  });

  it("a time zone's alias and UTC spellings are one window", () => {
    const { quota } = setup({ windows: [{ per: 'day', timeZone: 'Etc/UTC', maxTokens: 1 }] });
    expect(quota.snapshot().windows[0]!.window).toBe('day');
  });

  it('runs on a shared memory store keep their windows', async () => {
    const store = new MemoryQuotaStore();
    const a = setup({ store, windows: [{ per: 'day', maxExecutions: 1 }] });
    const b = setup({ store, windows: [{ per: 'day', maxExecutions: 1 }] });
    expect(await attempt(a.agentmeter, 'x')).toBeUndefined();
    expect(await attempt(b.agentmeter, 'x')).toMatchObject({ window: 'day' });
  });
});
