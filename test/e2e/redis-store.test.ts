import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetNode, ReserveResult } from '../../src/quota-store/index.js';
import { AgentMeter, QuotaStoreUnavailableError } from '../../src/index.js';
import { RedisQuotaStore, type RedisLease } from '../../src/redis/index.js';
import { waitFor } from '../helpers/poll.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

let server: RedisServer;
const clients: Array<Redis | Cluster> = [];
const stores: RedisQuotaStore[] = [];
let prefixSerial = 0;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  for (const store of stores) await store.close();
  for (const client of clients) client.disconnect();
  // Unset if beforeAll failed before starting it.
  await (server as RedisServer | undefined)?.stop();
});

function client(): Redis {
  const redis = new Redis(server.port, '127.0.0.1');
  clients.push(redis);
  return redis;
}

function createStore(options: Partial<ConstructorParameters<typeof RedisQuotaStore>[0]> & { keyPrefix: string }): RedisQuotaStore {
  const store = new RedisQuotaStore({ redis: client(), ...options });
  stores.push(store);
  return store;
}

const global = (limits: BudgetNode['limits']): BudgetNode => ({ key: 'global', limits, ephemeral: false });

async function reserve(store: RedisQuotaStore, nodes: BudgetNode[], tokens = 0): Promise<ReserveResult<RedisLease>> {
  return store.reserve({ nodes, estimate: { tokens, costNanos: 0 }, now: Date.now(), enforce: true });
}

function leaseOf(result: ReserveResult<RedisLease>): RedisLease {
  if (!result.admitted) throw new Error(`expected admission, got ${JSON.stringify(result.violation)}`);
  return result.lease;
}

/** Waits (polling every 50 ms) until `check` holds; fails after `withinMs`. */
async function eventually(check: () => boolean | Promise<boolean>, withinMs: number, what: string): Promise<void> {
  await waitFor(what, async () => ((await check()) ? true : undefined), { timeoutMillis: withinMs, intervalMillis: 50 });
}

describe('RedisQuotaStore options', () => {
  it('rejects invalid options, naming the field', () => {
    const redis = client();
    expect(() => new RedisQuotaStore(undefined as never)).toThrow(/options must be an object/);
    expect(() => new RedisQuotaStore({} as never)).toThrow(/options\.redis must be an ioredis client/);
    expect(() => new RedisQuotaStore({ redis: {} as never })).toThrow(/options\.redis/);
    expect(() => new RedisQuotaStore({ redis, keyPrefix: 'a{b}:' })).toThrow(/options\.keyPrefix/);
    expect(() => new RedisQuotaStore({ redis, onUnavailable: 'fail' as never })).toThrow(/options\.onUnavailable must be 'deny' or 'allow'/);
    expect(() => new RedisQuotaStore({ redis, leaseTtlMs: 500 })).toThrow(/options\.leaseTtlMs/);
    expect(() => new RedisQuotaStore({ redis, leaseTtlMs: 1500.5 })).toThrow(/options\.leaseTtlMs/);
    expect(() => new RedisQuotaStore({ redis, timeoutMs: 0 })).toThrow(/options\.timeoutMs/);
    expect(() => new RedisQuotaStore({ redis, maxQueueDepth: -1 })).toThrow(/options\.maxQueueDepth must be an integer of at least 0 .*got -1/);
    expect(() => new RedisQuotaStore({ redis, maxQueueDepth: 1.5 })).toThrow(/options\.maxQueueDepth/);
    expect(() => new RedisQuotaStore({ redis, maxQueueAgeMs: 0 })).toThrow(/options\.maxQueueAgeMs must be a positive finite number .*got 0/);
    expect(() => new RedisQuotaStore({ redis, maxQueueAgeMs: Number.POSITIVE_INFINITY })).toThrow(/options\.maxQueueAgeMs/);
    expect(() => new RedisQuotaStore({ redis, timeoutMs: Number.NaN })).toThrow(/options\.timeoutMs/);
    expect(() => new RedisQuotaStore({ redis, leaseTtlMs: 2_000, timeoutMs: 1_500 })).toThrow(/options\.timeoutMs must be below leaseTtlMs/);
    expect(() => new RedisQuotaStore({ redis, refreshIntervalMs: -1 })).toThrow(/options\.refreshIntervalMs/);
    expect(() => new RedisQuotaStore({ redis, leaseTTL: 5 } as never)).toThrow(/unknown option leaseTTL/);
    expect(new RedisQuotaStore({ redis }).name).toBe('redis');
  });
});

describe('RedisQuotaStore leases', () => {
  it('gives the slots and reservations of a holder that stopped renewing back after the TTL, keeping what it consumed', async () => {
    const keyPrefix = `ttl${++prefixSerial}:`;
    // A timeout well above Redis's answer time on a loaded machine: what is tested is the TTL.
    const holder = createStore({ keyPrefix, leaseTtlMs: 2_000, timeoutMs: 900 });
    const other = createStore({ keyPrefix, leaseTtlMs: 2_000, timeoutMs: 900 });
    const root = global({ concurrent: 2, tokens: 1_000 });
    const held = [leaseOf(await reserve(holder, [root], 100)), leaseOf(await reserve(holder, [root], 100))];
    expect(await holder.charge(held[0]!, { tokens: 30, costNanos: 0 })).toBeUndefined();
    expect(await reserve(other, [root])).toMatchObject({ admitted: false, violation: { resource: 'concurrent', used: 2 } });
    await holder.close(); // the holder stops renewing, as a dead replica would

    let admitted: ReserveResult<RedisLease> | undefined;
    await eventually(
      async () => {
        admitted = await reserve(other, [root]);
        return admitted.admitted;
      },
      10_000,
      'a slot freed by lease expiry',
    );
    // Expired leases: their executions count as used, their consumed tokens stay, their reserve is gone.
    expect(other.read('global')).toMatchObject({
      used: { executions: 2, tokens: 30 },
      reserved: { executions: 1, tokens: 0, concurrent: 1 },
    });
    await other.settle(leaseOf(admitted!));
    // The holder settling late (a replica that was only partitioned) changes nothing.
    await holder.settle(held[0]!);
    await holder.settle(held[1]!);
    expect(other.read('global')).toMatchObject({ used: { executions: 3, tokens: 30 }, reserved: { executions: 0, tokens: 0, concurrent: 0 } });
  });

  it('keeps the leases of a live process alive past the TTL', async () => {
    const keyPrefix = `renew${++prefixSerial}:`;
    const holder = createStore({ keyPrefix, leaseTtlMs: 2_000, timeoutMs: 900 });
    const other = createStore({ keyPrefix, leaseTtlMs: 2_000, timeoutMs: 900 });
    const root = global({ concurrent: 1 });
    const lease = leaseOf(await reserve(holder, [root]));
    const heldSince = Date.now();
    // Twice the TTL: the lease lives on only because its holder renews it.
    while (Date.now() - heldSince < 4_500) {
      expect(await reserve(other, [root])).toMatchObject({ admitted: false, violation: { resource: 'concurrent' } });
      await new Promise((done) => setTimeout(done, 250));
    }
    await holder.settle(lease);
    expect(await reserve(other, [root])).toMatchObject({ admitted: true });
  });

  it('reports the shared state on every replica', async () => {
    const keyPrefix = `view${++prefixSerial}:`;
    const writer = createStore({ keyPrefix });
    const reader = createStore({ keyPrefix, refreshIntervalMs: 100 });
    const root = global({ tokens: 10_000 });
    // The reader has seen the scope once; from then on the refresh keeps its view current.
    await reader
      .reserve({ nodes: [root], estimate: { tokens: 0, costNanos: 0 }, now: Date.now(), enforce: true })
      .then((result) => reader.settle(leaseOf(result)));
    const leases = await Promise.all(Array.from({ length: 5 }, () => reserve(writer, [root], 100)));
    await writer.charge(leaseOf(leases[0]!), { tokens: 250, costNanos: 7 });
    await writer.settle(leaseOf(leases[1]!));
    expect(writer.read('global')).toMatchObject({
      used: { executions: 2, tokens: 250, costNanos: 7 },
      reserved: { executions: 4, tokens: 300, concurrent: 4 },
    });
    await eventually(
      () => JSON.stringify(reader.read('global')) === JSON.stringify(writer.read('global')),
      5_000,
      `reader view ${JSON.stringify(reader.read('global'))} equal to ${JSON.stringify(writer.read('global'))}`,
    );
    expect([...reader.scopes()]).toEqual(['global']);
    for (const result of leases) await writer.settle(leaseOf(result));
  });

  it('admits a reservation delivered twice only once, and cancels one that arrived after its caller gave up', async () => {
    // A client whose socket is paused: the reserve times out in the store, then reaches Redis.
    const keyPrefix = `late${++prefixSerial}:`;
    const redis = client();
    await redis.ping();
    const store = new RedisQuotaStore({ redis, keyPrefix, timeoutMs: 100, onUnavailable: 'deny' });
    stores.push(store);
    const observer = createStore({ keyPrefix, refreshIntervalMs: 100 });
    const root = global({ executions: 10 });
    await observer.reserve({ nodes: [root], estimate: { tokens: 0, costNanos: 0 }, now: Date.now(), enforce: false });
    const stream = (redis as unknown as { stream: { pause(): void; resume(): void; cork(): void; uncork(): void } }).stream;
    stream.cork();
    await expect(reserve(store, [root])).rejects.toMatchObject({ name: 'QuotaStoreUnavailableError', store: 'redis' });
    stream.uncork();
    // The late reservation is applied by Redis, then given back by the store (execution included).
    const settledLeases = async (): Promise<number> => {
      const keys = await redis.keys(`${keyPrefix}{global}:leases:*`);
      const flags = await Promise.all(keys.map((key) => redis.hget(key, 'st')));
      return flags.filter((flag) => flag === '1').length;
    };
    await eventually(async () => (await settledLeases()) === 1, 5_000, 'the late reservation cancelled');
    await eventually(
      () => observer.read('global')?.reserved.executions === 1 && observer.read('global')?.used.executions === 0,
      5_000,
      `only the observer's run counted: ${JSON.stringify(observer.read('global'))}`,
    );
  });
});

describe('RedisQuotaStore amounts', () => {
  // Lua numbers are doubles, and Redis formats one passed to a command with limited precision:
  // nano-dollars near the top of the range must survive HINCRBY and come back exact.
  it('keeps costs exact up to the largest ledger amount (2^53 nano-dollars)', async () => {
    const store = createStore({ keyPrefix: `amounts${++prefixSerial}:` });
    const root = global({ costNanos: Number.MAX_SAFE_INTEGER });
    const reserved = 4_503_599_627_370_497; // 2^52 + 1: odd, so one rounding would show
    const lease = leaseOf(await store.reserve({ nodes: [root], estimate: { tokens: 0, costNanos: reserved }, now: Date.now(), enforce: true }));
    expect(store.read('global')?.reserved.costNanos).toBe(reserved);
    expect(await store.charge(lease, { tokens: 0, costNanos: 1_234_567_891_234_567 })).toBeUndefined();
    await store.settle(lease);
    expect(store.read('global')).toMatchObject({ used: { costNanos: 1_234_567_891_234_567 }, reserved: { costNanos: 0 } });
    const [node] = await client().keys(`amounts${prefixSerial}:*:node:global`);
    expect(await client().hget(node!, 'uc')).toBe('1234567891234567');
  });
});

describe('RedisQuotaStore with a corrupted key', () => {
  // A field that is not a number (a hand edit, another tool writing under the prefix) makes Lua
  // end the script's reply array early: a truncated reply, as from a broken proxy.
  it('refuses runs with QuotaStoreUnavailableError, never a TypeError, and never rejects charge or settle', async () => {
    const keyPrefix = `corrupt${++prefixSerial}:`;
    const store = createStore({ keyPrefix, timeoutMs: 500 });
    const agentmeter = new AgentMeter({ quota: { limits: { maxTokens: 1_000 }, store } });
    let finish = () => {};
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const inFlight = agentmeter.run('first', async (run) => {
      await finished;
      run.recordUsage({ inputTokens: 10 });
    });
    await eventually(() => store.read('global')?.reserved.executions === 1, 5_000, 'the first run admitted');
    const [node] = await clients[clients.length - 1]!.keys(`${keyPrefix}*:node:global`);
    await client().hset(node!, 's', 'not-a-number');

    const refused = await agentmeter.run('second', async () => 'ran').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(QuotaStoreUnavailableError);
    expect(String((refused as Error).cause)).toMatch(/malformed reply/);
    // The run in flight charges and settles against the corrupted key: logged, never thrown.
    finish();
    await expect(inFlight).resolves.toBeUndefined();

    const allowing = new AgentMeter({ quota: { limits: { maxTokens: 1_000 }, store: createStore({ keyPrefix, timeoutMs: 500, onUnavailable: 'allow' }) } });
    await expect(allowing.run('third', async () => 'ran')).resolves.toBe('ran');
    expect(allowing.quota!.unaccounted()).toBe(1);
  });
});

describe('RedisQuotaStore on Redis Cluster', () => {
  let clusterServer: RedisServer;
  let cluster: Cluster;

  beforeAll(async () => {
    clusterServer = await startRedisServer({ cluster: true });
    cluster = new Cluster([{ host: '127.0.0.1', port: clusterServer.port }]);
    clients.push(cluster);
    await cluster.ping();
  });

  afterAll(async () => {
    // Unset if beforeAll failed before starting them.
    (cluster as Cluster | undefined)?.disconnect();
    await (clusterServer as RedisServer | undefined)?.stop();
  });

  it('keeps every key of a budget hierarchy in one slot (Redis Cluster refuses a script whose keys span two slots)', async () => {
    for (const scope of ['global', 'conversation-42', '{odd}scope', '']) {
      const store = new RedisQuotaStore({ redis: cluster, keyPrefix: 'cluster:', leaseTtlMs: 1_000, timeoutMs: 400, refreshIntervalMs: 100 });
      stores.push(store);
      const root: BudgetNode = { key: scope, limits: { executions: 4, concurrent: 2, tokens: 100 }, ephemeral: false };
      const parent: BudgetNode = { key: `${scope}/planner#1`, limits: { tokens: 80 }, ephemeral: true };
      const child: BudgetNode = { key: `${scope}/writer#2`, limits: { tokens: 40 }, ephemeral: true };
      const first = leaseOf(await reserve(store, [root, parent], 10));
      const second = leaseOf(await reserve(store, [root, parent, child], 20));
      expect(await reserve(store, [root])).toMatchObject({ admitted: false, violation: { resource: 'concurrent', key: scope } });
      expect(await store.charge(second, { tokens: 50, costNanos: 0 })).toMatchObject({ resource: 'tokens', key: `${scope}/writer#2` });
      await store.settle(second);
      // The first lease is left to expire: the sweep inside the scripts reads its node keys from the lease.
      await store.close();
      const next = new RedisQuotaStore({ redis: cluster, keyPrefix: 'cluster:', leaseTtlMs: 1_000, timeoutMs: 400 });
      stores.push(next);
      const blocker = leaseOf(await reserve(next, [root]));
      let third: ReserveResult<RedisLease> | undefined;
      await eventually(
        async () => {
          third = await reserve(next, [root]);
          return third.admitted;
        },
        10_000,
        'the expired lease swept on the cluster',
      );
      expect(next.read(scope)).toMatchObject({ used: { executions: 2, tokens: 50 }, reserved: { executions: 2, concurrent: 2, tokens: 0 } });
      await next.settle(leaseOf(third!));
      await next.settle(blocker);
      await store.settle(first); // too late: already swept, changes nothing
      expect(next.read(scope)).toMatchObject({ used: { executions: 4, tokens: 50 }, reserved: { executions: 0, concurrent: 0, tokens: 0 } });
      await next.close();
    }
    const keys = await cluster.keys('cluster:*');
    const slots = new Set(keys.map((key) => key.slice(key.indexOf('{'), key.indexOf('}') + 1)));
    expect(slots).toEqual(new Set(['{global}', '{conversation-42}', '{_odd_scope}', '{_}']));
  });
});
