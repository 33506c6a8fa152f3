import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { BudgetNode } from '../../src/quota-store/index.js';
import { ScriptCalls } from '../../src/quota/redis/script-calls.js';
import { RedisQuotaStore, type RedisLease } from '../../src/redis/index.js';
import { waitFor } from '../helpers/poll.js';
import { useRedisServer } from './helpers/redis-fixture.js';

/** Charges under a busy client or a flaky link (issue 15): no usage lost, none counted twice. */

const fixture = useRedisServer();

function client(options: RedisOptions = {}): Redis {
  const redis = fixture.client(options);
  redis.on('error', () => {}); // the link is cut on purpose here
  return redis;
}

function createStore(redis: Redis, keyPrefix: string, timeoutMs: number): RedisQuotaStore {
  return fixture.track(new RedisQuotaStore({ redis, keyPrefix, timeoutMs, leaseTtlMs: 3_000, refreshIntervalMs: 100 }));
}

const scope: BudgetNode = { key: 'global', limits: { tokens: 1_000_000 }, ephemeral: false };

async function admit(store: RedisQuotaStore): Promise<RedisLease> {
  const result = await store.reserve({ nodes: [scope], estimate: { tokens: 0, costNanos: 0 }, now: Date.now(), enforce: true });
  if (!result.admitted) throw new Error(`denied: ${JSON.stringify(result.violation)}`);
  return result.lease;
}

const usedTokens = async (keyPrefix: string): Promise<string | null> => fixture.admin.hget(`${keyPrefix}{global}:node:global`, 'ut');

describe('RedisQuotaStore charges and settlements', () => {
  it('resends a charge that could not be sent, and counts it once it lands', async () => {
    const keyPrefix = 'charge-lost:';
    const redis = client({ enableOfflineQueue: false });
    const store = createStore(redis, keyPrefix, 200);
    if (redis.status !== 'ready') await new Promise((ready) => redis.once('ready', ready));
    const lease = await admit(store);
    redis.disconnect(true); // the link drops; commands fail at once until it is back
    await store.charge(lease, { tokens: 50, costNanos: 0 });
    await waitFor('the charge to land', async () => ((await usedTokens(keyPrefix)) === '50' ? true : undefined), {
      timeoutMillis: 5_000,
      intervalMillis: 50,
    });
    await store.settle(lease);
    await new Promise((done) => setTimeout(done, 500)); // more background syncs: nothing more is charged
    expect(await usedTokens(keyPrefix)).toBe('50');
  });

  it('counts a charge once when its late reply and its resend cross', async () => {
    const keyPrefix = 'charge-late:';
    const store = createStore(client(), keyPrefix, 100);
    const lease = await admit(store);
    await fixture.admin.client('PAUSE', 500, 'ALL'); // the charge times out; the background sync resends it meanwhile
    await store.charge(lease, { tokens: 50, costNanos: 0 });
    await new Promise((done) => setTimeout(done, 1_000));
    expect(await usedTokens(keyPrefix)).toBe('50');
    await store.charge(lease, { tokens: 7, costNanos: 0 });
    expect(await usedTokens(keyPrefix)).toBe('57');
  });

  it('applies each charge number once, in whatever order they land', async () => {
    const keyPrefix = 'charge-order:';
    const redis = client();
    const store = createStore(redis, keyPrefix, 1_000);
    const lease = await admit(store);
    const calls = new ScriptCalls(redis, { timeoutMs: 1_000, maxWaitMs: 1_000 });
    const charge = (sequence: number, tokens: number) =>
      calls.charge({
        keys: lease.keys,
        leaseId: lease.id,
        nodes: lease.nodes,
        leaseTtlMs: 3_000,
        tokens,
        costNanos: 0,
        sequence,
        admittedAt: lease.admittedAt,
        now: Date.now(),
      });
    const statuses = [];
    statuses.push((await charge(2, 20)).status); // charge 1 is still on its way
    statuses.push((await charge(1, 10)).status);
    statuses.push((await charge(1, 10)).status);
    statuses.push((await charge(2, 20)).status);
    expect(statuses).toEqual(['charged', 'charged', 'duplicate', 'duplicate']);
    expect(await usedTokens(keyPrefix)).toBe('30');
  });

  it('counts a settlement once when its late reply and its retry cross', async () => {
    const keyPrefix = 'settle-late:';
    const store = createStore(client(), keyPrefix, 100);
    const lease = await admit(store);
    await fixture.admin.client('PAUSE', 500, 'ALL'); // the settlement times out; the background sync retries it meanwhile
    await store.settle(lease);
    await new Promise((done) => setTimeout(done, 1_000));
    expect(await fixture.admin.hgetall(`${keyPrefix}{global}:node:global`)).toMatchObject({ ue: '1', re: '0', rk: '0' });
  });
});
