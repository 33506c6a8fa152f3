import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AgentMeter, QuotaExceededError, type AgentMeterOptions, type Run, type RunSpec } from '../../src/index.js';
import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { Quota } from '../../src/quota/quota.js';
import type { QuotaTicket } from '../../src/quota/ticket.js';
import { createPipeline, delay } from '../helpers/otel.js';

function setup(quota: AgentMeterOptions['quota']) {
  const pipeline = createPipeline();
  const agentmeter = new AgentMeter({ tracerProvider: pipeline.tracerProvider, meterProvider: pipeline.meterProvider, quota });
  return { pipeline, agentmeter, quota: agentmeter.quota! };
}

async function attempt(agentmeter: AgentMeter, spec: string | RunSpec, fn: (run: Run) => unknown = () => undefined) {
  try {
    await agentmeter.run(spec, fn);
    return undefined;
  } catch (error) {
    if (QuotaExceededError.isInstance(error)) return error;
    throw error;
  }
}

const tenantOf = (spec: RunSpec) => (spec.attributes?.['app.tenant'] as string | undefined) ?? 'none';

describe('layered scopes', () => {
  const levels = (): AgentMeterOptions['quota'] => ({
    levels: [
      { name: 'global', limits: { maxConcurrent: 3 } },
      { name: 'tenant', scopeBy: tenantOf, windows: [{ per: 'day', maxTokens: 1_000 }] },
      { name: 'conversation', scopeBy: 'conversation', limits: { maxExecutions: 2 } },
    ],
    maxReportedScopes: 10,
  });
  const spec = (tenant: string, conversationId: string): RunSpec => ({ name: 'agent', conversationId, attributes: { 'app.tenant': tenant } });

  it('checks every level at once and names the level and scope that refused', async () => {
    const { agentmeter, quota } = setup(levels());
    expect(await attempt(agentmeter, spec('acme', 'c1'))).toBeUndefined();
    expect(await attempt(agentmeter, spec('acme', 'c1'))).toBeUndefined();
    const byConversation = await attempt(agentmeter, spec('acme', 'c1'));
    expect(byConversation).toMatchObject({ resource: 'executions', level: 'conversation', scope: 'c1', limit: 2 });
    expect(byConversation!.message).toBe('Quota exceeded: executions 3/2 (level conversation, scope c1)');

    expect(await attempt(agentmeter, spec('acme', 'c2'), (run) => run.recordUsage({ inputTokens: 1_000, outputTokens: 0 }))).toBeUndefined();
    expect(await attempt(agentmeter, spec('acme', 'c3'))).toMatchObject({ resource: 'tokens', level: 'tenant', scope: 'acme', window: 'day' });
    // Another tenant is not held by acme's tokens.
    expect(await attempt(agentmeter, spec('globex', 'c4'))).toBeUndefined();

    expect(quota.snapshot('acme', 'tenant').windows[0]!.tokens.used).toBe(1_000);
    expect(quota.snapshot('c1', 'conversation').executions).toMatchObject({ used: 2, limit: 2 });
    expect(quota.snapshot().level).toBe('global');
    expect(quota.snapshot().executions.used).toBe(4);
    expect(() => quota.snapshot('x', 'team')).toThrow("no level named 'team' (levels: global, tenant, conversation)");
  });

  it('the outermost level holds concurrency across every tenant and conversation', async () => {
    const { agentmeter } = setup(levels());
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const running = [spec('a', '1'), spec('b', '2'), spec('c', '3')].map((s) => agentmeter.run(s, () => gate));
    await delay(1);
    expect(await attempt(agentmeter, spec('d', '4'))).toMatchObject({ resource: 'concurrent', level: 'global', scope: 'global' });
    release();
    await Promise.all(running);
  });

  it('nested runs share every level of their root run, and their budgets narrow inside it', async () => {
    const { agentmeter, quota } = setup(levels());
    await agentmeter.run(spec('acme', 'c1'), async () => {
      // A child with its own conversation id is still accounted in its root's scopes.
      await agentmeter
        .run({ name: 'child', conversationId: 'other', budget: { maxTokens: 100 } }, async (child) => {
          expect(child.scope).toBe('c1');
          child.recordUsage({ inputTokens: 150, outputTokens: 0 });
          await delay(1);
        })
        .catch(() => undefined);
      const refused = await attempt(agentmeter, { name: 'grandchild' });
      expect(refused).toMatchObject({ resource: 'executions', level: 'conversation', scope: 'c1' });
    });
    expect(quota.snapshot('other', 'conversation').executions.used).toBe(0);
    expect(quota.snapshot('acme', 'tenant').windows[0]!.tokens.used).toBe(150);
  });

  it('exports gauges per level, with quota.level, and counts denials by level and window', async () => {
    const { agentmeter, pipeline } = setup(levels());
    await attempt(agentmeter, spec('acme', 'c1'), (run) => run.recordUsage({ inputTokens: 1_000, outputTokens: 0 }));
    await attempt(agentmeter, spec('acme', 'c2'));
    const used = await pipeline.points('subagent.quota.used');
    const key = (p: (typeof used)[number]) =>
      ['quota.level', 'quota.scope', 'quota.window', 'quota.resource'].map((name) => (p.attributes[name] as string | undefined) ?? '-').join('/');
    const values = Object.fromEntries(used.map((point) => [key(point), point.value]));
    expect(values).toMatchObject({
      'global/global/-/concurrent': 0,
      'tenant/acme/day/tokens': 1_000,
      'conversation/c1/-/executions': 1,
    });
    expect(await pipeline.sum('subagent.quota.denials', { 'quota.level': 'tenant', 'quota.window': 'day', 'quota.resource': 'tokens' })).toBe(1);
  });

  it('rejects a configuration that mixes levels with top-level limits, or repeats a level', () => {
    expect(() => new AgentMeter({ quota: { limits: { maxTokens: 1 }, levels: [{ name: 'a' }] } })).toThrow(
      'quota.limits cannot be combined with quota.levels; give each level its own limits, windows, scopeBy, idleTtlMs',
    );
    expect(() => new AgentMeter({ quota: { levels: [{ name: 'a' }, { name: 'a' }] } })).toThrow("quota.levels[1].name 'a' is used by an earlier level");
    expect(() => new AgentMeter({ quota: { levels: [{ name: 'a b' }] } })).toThrow("quota.levels[0].name must be letters, digits, '_', '-' or '.', got 'a b'");
    expect(() => new AgentMeter({ quota: { levels: [] } })).toThrow('quota.levels must be a non-empty array of levels');
    expect(() => new AgentMeter({ quota: { levels: [{ name: 'a', limit: {} } as never] } })).toThrow('quota.levels[0].limit is not a known option');
  });
});

describe('bounded memory: idle scopes are forgotten', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-12-02T10:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a conversation scope with windows only is forgotten once its windows closed; one that comes back starts afresh', async () => {
    const store = new MemoryQuotaStore();
    const { agentmeter } = setup({ store, scopeBy: 'conversation', windows: [{ per: 'hour', maxExecutions: 1 }] });
    for (let i = 0; i < 100; i++) await attempt(agentmeter, { name: 'a', conversationId: `c${i}` });
    expect([...store.scopes()]).toHaveLength(100);
    expect(await attempt(agentmeter, { name: 'a', conversationId: 'c0' })).toMatchObject({ window: 'hour' });
    vi.setSystemTime(Date.parse('2026-12-02T11:00:00Z'));
    expect(await attempt(agentmeter, { name: 'a', conversationId: 'c0' })).toBeUndefined();
    // That admission forgot the 99 others, whose hour had ended with nothing in flight.
    expect([...store.scopes()]).toEqual(['c0']);
  });

  it('a late child of a run whose scope was forgotten counts in that scope found afresh, never in the scope that took its node over', async () => {
    const store = new MemoryQuotaStore();
    const { agentmeter, quota } = setup({ store, scopeBy: 'conversation', windows: [{ per: 'hour', maxExecutions: 5 }] });
    let start!: () => void;
    let late!: Promise<unknown>;
    await agentmeter.run({ name: 'parent', conversationId: 'c0' }, () => {
      // Called in the parent's context: the child runs as the parent's, after the parent ended.
      late = new Promise<void>((resolve) => (start = resolve)).then(() => agentmeter.run({ name: 'child' }, () => undefined));
    });
    vi.setSystemTime(Date.parse('2026-12-02T11:00:00Z'));
    // c0's hour closed: this admission forgets c0, and c1 is made in the node c0 had.
    await attempt(agentmeter, { name: 'a', conversationId: 'c1' });
    expect([...store.scopes()]).toEqual(['c1']);
    start();
    await late;
    expect(quota.snapshot('c1').windows[0]!.executions.used).toBe(1);
    expect(quota.snapshot('c0').windows[0]!.executions.used).toBe(1);
    expect([...store.scopes()].sort()).toEqual(['c0', 'c1']);
  });

  it('with levels, a late child counts in every scope of its parent as they are now: the tenant kept, the conversation found afresh', async () => {
    const { agentmeter, quota } = setup({
      levels: [
        { name: 'tenant', scopeBy: tenantOf, windows: [{ per: 'day', maxExecutions: 10 }] },
        { name: 'conversation', scopeBy: 'conversation', windows: [{ per: 'hour', maxExecutions: 5 }] },
      ],
    });
    const spec = (name: string, conversationId: string): RunSpec => ({ name, conversationId, attributes: { 'app.tenant': 'acme' } });
    let start!: () => void;
    let late!: Promise<unknown>;
    await agentmeter.run(spec('parent', 'c0'), () => {
      late = new Promise<void>((resolve) => (start = resolve)).then(() => agentmeter.run({ name: 'child' }, () => undefined));
    });
    vi.setSystemTime(Date.parse('2026-12-02T11:00:00Z'));
    await attempt(agentmeter, spec('a', 'c1'));
    start();
    await late;
    expect(quota.snapshot('acme', 'tenant').windows[0]!.executions.used).toBe(3);
    expect(quota.snapshot('c0', 'conversation').windows[0]!.executions.used).toBe(1);
    expect(quota.snapshot('c1', 'conversation').windows[0]!.executions.used).toBe(1);
  });

  it('a scope with limits that never reset is kept until idleTtlMs has passed, and never while a run is in flight', async () => {
    const store = new MemoryQuotaStore();
    const { agentmeter, quota } = setup({ store, scopeBy: 'conversation', idleTtlMs: 60_000, limits: { maxExecutions: 1 } });
    let release!: () => void;
    const long = agentmeter.run({ name: 'long', conversationId: 'busy' }, () => new Promise<void>((resolve) => (release = resolve)));
    await attempt(agentmeter, { name: 'a', conversationId: 'idle' });
    vi.setSystemTime(Date.now() + 59_999);
    await attempt(agentmeter, { name: 'a', conversationId: 'trigger-1' });
    expect(quota.snapshot('idle', 'default').executions.used).toBe(1);
    vi.setSystemTime(Date.now() + 1);
    await attempt(agentmeter, { name: 'a', conversationId: 'trigger-2' });
    // Forgotten: a conversation that comes back after idleTtlMs starts from zero (documented).
    expect(quota.snapshot('idle').executions.used).toBe(0);
    expect(await attempt(agentmeter, { name: 'a', conversationId: 'idle' })).toBeUndefined();
    expect(quota.snapshot('busy').executions.reserved).toBe(1);
    release();
    await long;
    expect(quota.snapshot('busy').executions.used).toBe(1);
  });

  it('without idleTtlMs, such a scope is kept for good (and the quota says so once, at construction)', async () => {
    const store = new MemoryQuotaStore();
    const { agentmeter } = setup({ store, scopeBy: 'conversation', limits: { maxExecutions: 1 } });
    await attempt(agentmeter, { name: 'a', conversationId: 'kept' });
    vi.setSystemTime(Date.now() + 365 * 86_400_000);
    expect(await attempt(agentmeter, { name: 'a', conversationId: 'kept' })).toMatchObject({ resource: 'executions' });
  });

  it('a scope with only a concurrency limit is forgotten as soon as nothing is in flight', async () => {
    const store = new MemoryQuotaStore();
    const { agentmeter } = setup({ store, scopeBy: 'conversation', limits: { maxConcurrent: 1 } });
    for (let i = 0; i < 1_000; i++) await attempt(agentmeter, { name: 'a', conversationId: `c${i}` });
    expect([...store.scopes()].length).toBeLessThanOrEqual(1);
  });

  it('scopes reported by name stay the first maxReportedScopes for good, however many come and go: the series stay bounded', () => {
    const quota = new Quota({ scopeBy: 'conversation', maxReportedScopes: 2, windows: [{ per: 'minute', maxExecutions: 5 }] });
    const ignore = () => undefined;
    const events = { denied: ignore, exceeded: ignore, stopped: ignore, warned: ignore };
    const named = new Set<string>();
    for (let minute = 0; minute < 50; minute++) {
      vi.setSystemTime(Date.parse('2026-12-02T10:00:00Z') + minute * 60_000);
      (quota.admit({ spec: { name: 'a', conversationId: `c${minute}` }, depth: 0, parent: undefined, events }) as QuotaTicket).settle();
      quota.forEachGauge((_kind, _resource, scope) => named.add(scope));
    }
    // c0 and c1 took the two named slots; every later conversation is summed as other.
    expect([...named].sort()).toEqual(['c0', 'c1', 'other']);
  });

  it('the gauge source stops visiting a forgotten scope', async () => {
    const quota = new Quota({ scopeBy: 'conversation', maxReportedScopes: 5, windows: [{ per: 'minute', maxExecutions: 5 }] });
    const ignore = () => undefined;
    const events = { denied: ignore, exceeded: ignore, stopped: ignore, warned: ignore };
    const visited = () => {
      const scopes = new Set<string>();
      quota.forEachGauge((_kind, _resource, scope) => scopes.add(scope));
      return scopes;
    };
    const admit = (conversationId: string) => {
      const ticket = quota.admit({ spec: { name: 'a', conversationId }, depth: 0, parent: undefined, events }) as QuotaTicket;
      ticket.settle();
    };
    admit('old');
    expect(visited()).toEqual(new Set(['old']));
    vi.setSystemTime(Date.now() + 60_000);
    admit('new');
    expect(visited()).toEqual(new Set(['new']));
  });
});
