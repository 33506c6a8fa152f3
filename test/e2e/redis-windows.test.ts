import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMeter } from '../../src/index.js';
import { CalendarWindow, RollingWindow, type BudgetNode, type ReserveResult } from '../../src/quota-store/index.js';
import { RedisQuotaStore, type RedisLease } from '../../src/redis/index.js';
import { waitFor } from '../helpers/poll.js';
import { useRedisServer } from './helpers/redis-fixture.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

/**
 * Windows, levels and expiry on a real redis-server: window keys expire with their window, idle
 * scopes expire as the quota's idleTtlMs says (and never without one), forgotten scopes leave the
 * local view, and a layered reservation with windows keeps to one slot on Redis Cluster.
 */

const fixture = useRedisServer();
const SLACK_MS = 1_000;

function store(keyPrefix: string, options: Partial<ConstructorParameters<typeof RedisQuotaStore>[0]> = {}): RedisQuotaStore {
  return fixture.track(new RedisQuotaStore({ redis: fixture.client(), keyPrefix, refreshIntervalMs: 0, ...options }));
}

async function reserve(target: RedisQuotaStore, nodes: BudgetNode[], now = Date.now()): Promise<ReserveResult<RedisLease>> {
  return target.reserve({ nodes, estimate: { tokens: 10, costNanos: 0 }, now, enforce: true });
}

function leaseOf(result: ReserveResult<RedisLease>): RedisLease {
  if (!result.admitted) throw new Error(`expected admission, got ${JSON.stringify(result.violation)}`);
  return result.lease;
}

async function gone(keys: readonly string[], withinMs: number): Promise<void> {
  await waitFor(`${keys.join(', ')} expired`, async () => ((await fixture.admin.exists(...keys)) === 0 ? true : undefined), {
    timeoutMillis: withinMs,
    intervalMillis: 100,
  });
}

describe('Redis keys of windows and idle scopes', () => {
  it('expires window keys with their window, and an idle scope as its idleTtlMs says (never without one)', async () => {
    const target = store('expiry:');
    const rolling = new RollingWindow(2_000, 4, { executions: 5 });
    const windowsOnly: BudgetNode = { key: 'w', limits: { windows: [rolling] }, ephemeral: false, idleTtlMs: 0 };
    const idle: BudgetNode = { key: 'l', limits: { executions: 100 }, ephemeral: false, idleTtlMs: 1_500 };
    const kept: BudgetNode = { key: 'k', limits: { executions: 100 }, ephemeral: false };
    const leases = [leaseOf(await reserve(target, [windowsOnly])), leaseOf(await reserve(target, [idle])), leaseOf(await reserve(target, [kept]))];
    const node = (key: string) => `expiry:{${key}}:node:${key}`;
    const window = 'expiry:{w}:win:rolling:2s:node:w';

    // In flight: no scope expires; the window key lives until its newest bucket has left the window.
    for (const key of ['w', 'l', 'k']) expect(await fixture.admin.pttl(node(key))).toBe(-1);
    const windowTtl = await fixture.admin.pttl(window);
    expect(windowTtl).toBeGreaterThan(0);
    expect(windowTtl).toBeLessThanOrEqual(2_000 + SLACK_MS);

    for (const lease of leases) await target.settle(lease);
    const windowsOnlyTtl = await fixture.admin.pttl(node('w'));
    expect(windowsOnlyTtl).toBeGreaterThan(0);
    expect(windowsOnlyTtl).toBeLessThanOrEqual(2_000 + SLACK_MS);
    const idleTtl = await fixture.admin.pttl(node('l'));
    expect(idleTtl).toBeGreaterThan(0);
    expect(idleTtl).toBeLessThanOrEqual(1_500 + SLACK_MS);
    expect(await fixture.admin.pttl(node('k'))).toBe(-1);

    await gone([node('w'), window, node('l')], 10_000);
    expect(await fixture.admin.hgetall(node('k'))).toMatchObject({ ue: '1', rk: '0' });

    // Usage recorded after a scope expired brings back no key (it would have no expiry); a kept scope counts it.
    await target.charge(leases[1]!, { tokens: 5, costNanos: 0 });
    await target.charge(leases[2]!, { tokens: 5, costNanos: 0 });
    expect(await fixture.admin.exists(node('l'))).toBe(0);
    expect(await fixture.admin.hget(node('k'), 'ut')).toBe('5');
  });

  it('gives back the window bucket of a lease that expired, and counts its execution there', async () => {
    const minute = new CalendarWindow('minute', 'UTC', { executions: 10 });
    const scope: BudgetNode = { key: 's', limits: { windows: [minute] }, ephemeral: false };
    // Admitted early in a minute, so that the bucket is still live when the lease is swept.
    const start = minute.bucketStart(Date.now());
    const now = Date.now() - start > 50_000 ? minute.bucketEnd(Date.now()) : Date.now();
    await new Promise((done) => setTimeout(done, Math.max(0, now - Date.now())));
    const abandoned = store('sweep:', { leaseTtlMs: 1_000, timeoutMs: 400 });
    leaseOf(await reserve(abandoned, [scope], now));
    await abandoned.close(); // stops renewing: the lease expires after 1 s
    const next = store('sweep:', { leaseTtlMs: 1_000, timeoutMs: 400 });
    await waitFor(
      'the abandoned lease swept',
      async () => {
        const lease = leaseOf(await reserve(next, [scope]));
        await next.settle(lease);
        return next.read('s')?.reserved.executions === 0 ? true : undefined;
      },
      { timeoutMillis: 10_000, intervalMillis: 200 },
    );
    const state = next.read('s')!;
    expect(state.windows![0]!.reserved.executions).toBe(0);
    expect(state.windows![0]!.used.executions).toBe(state.used.executions);
  });

  it('passes the level idleTtlMs from the quota: a forgotten conversation leaves the local view and expires in Redis', async () => {
    const target = store('levels:');
    const agentmeter = new AgentMeter({
      quota: {
        store: target,
        levels: [
          { name: 'app', scopeBy: 'global', windows: [{ rollingMs: 2_000, buckets: 4, maxExecutions: 100 }] },
          { name: 'conversation', scopeBy: 'conversation', limits: { maxExecutions: 10 }, idleTtlMs: 300 },
        ],
      },
    });
    await agentmeter.run({ name: 'writer', conversationId: 'c1' }, () => undefined);
    // Every key of the reservation carries the outermost level's hash tag.
    const conversation = 'levels:{app:global}:node:conversation:c1';
    const app = 'levels:{app:global}:node:app:global';
    const ttl = await fixture.admin.pttl(conversation);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300 + SLACK_MS);
    expect(await fixture.admin.pttl(app)).toBe(-1); // a level's one global scope is kept
    expect([...target.scopes()].sort()).toEqual(['app:global', 'conversation:c1']);

    await new Promise((done) => setTimeout(done, 400));
    await agentmeter.run({ name: 'writer', conversationId: 'c2' }, () => undefined);
    expect(target.read('conversation:c1')).toBeUndefined();
    expect([...target.scopes()].sort()).toEqual(['app:global', 'conversation:c2']);
    await gone([conversation], 5_000);
  });
});

describe('forgetting a scope on Redis', () => {
  it('keeps a forgotten scope out of the local view, even when a late charge or sync replies for it', async () => {
    const target = store('forget:', { refreshIntervalMs: 50 });
    const scope: BudgetNode = { key: 'f', limits: { tokens: 1_000 }, ephemeral: false, idleTtlMs: 60_000 };
    const lease = leaseOf(await reserve(target, [scope]));
    await target.settle(lease);
    target.forget(scope);
    expect(target.read('f')).toBeUndefined();
    expect([...target.scopes()]).toEqual([]);
    // Usage recorded after the run ended still counts in Redis, but does not bring the scope back here.
    await target.charge(lease, { tokens: 7, costNanos: 0 });
    await new Promise((done) => setTimeout(done, 200));
    expect(target.read('f')).toBeUndefined();
    expect([...target.scopes()]).toEqual([]);
    expect(await fixture.admin.hget('forget:{f}:node:f', 'ut')).toBe('7');
    // A run in the scope again lists it, with what Redis still holds.
    await target.settle(leaseOf(await reserve(target, [scope])));
    expect(target.read('f')).toMatchObject({ used: { executions: 2, tokens: 7 } });
    expect([...target.scopes()]).toEqual(['f']);
  });
});

describe('layered windows on Redis Cluster', () => {
  let clusterServer: RedisServer;
  let cluster: Cluster;
  beforeAll(async () => {
    clusterServer = await startRedisServer({ cluster: true });
    cluster = new Cluster([{ host: '127.0.0.1', port: clusterServer.port }]);
    await cluster.ping();
  });
  afterAll(async () => {
    // Unset if beforeAll failed before making them.
    (cluster as Cluster | undefined)?.disconnect();
    await (clusterServer as RedisServer | undefined)?.stop();
  });

  it('keeps every node and window key of a layered reservation in the outermost scope slot, and names the level that refused', async () => {
    const target = fixture.track(new RedisQuotaStore({ redis: cluster, keyPrefix: 'layers:', refreshIntervalMs: 0 }));
    const app: BudgetNode = { key: 'app:global', limits: { windows: [new CalendarWindow('day', 'Europe/Paris', { executions: 3 })] }, ephemeral: false };
    const tenant = (name: string): BudgetNode => ({
      key: `tenant:${name}`,
      limits: { windows: [new RollingWindow(60_000, 6, { executions: 2 })] },
      ephemeral: false,
      idleTtlMs: 0,
    });
    const conversation = (name: string): BudgetNode => ({ key: `conversation:${name}`, limits: { concurrent: 1 }, ephemeral: false, idleTtlMs: 0 });
    const runs = [leaseOf(await reserve(target, [app, tenant('a'), conversation('1')])), leaseOf(await reserve(target, [app, tenant('a'), conversation('2')]))];
    expect(await reserve(target, [app, tenant('a'), conversation('3')])).toMatchObject({
      admitted: false,
      violation: { resource: 'executions', key: 'tenant:a', window: 'rolling:1m', used: 2 },
    });
    runs.push(leaseOf(await reserve(target, [app, tenant('b'), conversation('3')])));
    expect(await reserve(target, [app, tenant('b'), conversation('4')])).toMatchObject({
      admitted: false,
      violation: { resource: 'executions', key: 'app:global', window: 'day@Europe/Paris', used: 3 },
    });
    for (const lease of runs) await target.charge(lease, { tokens: 5, costNanos: 0 });
    for (const lease of runs) await target.settle(lease);
    expect(target.read('app:global')?.windows?.[0]).toMatchObject({ used: { executions: 3, tokens: 15 }, reserved: { executions: 0 } });
    const keys = await cluster.keys('layers:*');
    expect(keys.some((key) => key.includes(':win:'))).toBe(true);
    expect(new Set(keys.map((key) => key.slice(key.indexOf('{'), key.indexOf('}') + 1)))).toEqual(new Set(['{app:global}']));
  });
});
