import { diag, DiagLogLevel } from '@opentelemetry/api';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMeter, QuotaStoreUnavailableError } from '../../src/index.js';
import { RedisQuotaStore } from '../../src/redis/index.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

/** Redis stops while runs are admitted and in flight, then comes back (empty: nothing is persisted). */

let server: RedisServer;
const clients: Redis[] = [];
const stores: RedisQuotaStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  for (const store of stores) await store.close();
  for (const client of clients) client.disconnect();
  // Unset if beforeAll failed before starting it.
  await (server as RedisServer | undefined)?.stop();
});

function setup(onUnavailable: 'deny' | 'allow', keyPrefix: string): { agentmeter: AgentMeter; redis: Redis } {
  // Default ioredis options (offline queue, reconnect with backoff), as most apps run them.
  const redis = new Redis(server.port, '127.0.0.1');
  redis.on('error', () => {}); // connection errors while Redis is down are expected here
  clients.push(redis);
  const store = new RedisQuotaStore({ redis, keyPrefix, onUnavailable, timeoutMs: 300, leaseTtlMs: 3_000, refreshIntervalMs: 200 });
  stores.push(store);
  return { agentmeter: new AgentMeter({ quota: { limits: { maxExecutions: 1_000, maxTokens: 1_000_000 }, store } }), redis };
}

/** A TCP proxy to Redis whose connections can be cut (a network partition) and restored. */
async function startProxy(targetPort: number): Promise<{ port: number; cut(): Promise<void>; heal(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let open = true;
  const proxy = createServer((socket) => {
    if (!open) return void socket.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const side of [socket, upstream]) {
      sockets.add(side);
      side.on('error', () => {});
      side.on('close', () => {
        sockets.delete(side);
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  const { port } = proxy.address() as AddressInfo;
  return {
    port,
    cut: async () => {
      open = false;
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => setTimeout(done, 50));
    },
    heal: () => {
      open = true;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        proxy.close(() => done());
      }),
  };
}

/** Fails the test instead of hanging: the promise must settle within `ms`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** Retries a run until it is admitted again (Redis back and the client reconnected), at most 20 s. */
async function untilAdmitted(agentmeter: AgentMeter): Promise<number> {
  const deadline = Date.now() + 20_000;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const outcome = await within(
      5_000,
      'a run while Redis restarts',
      agentmeter.run({ name: 'after' }, async () => 'ran'),
    ).catch((error: unknown) => error);
    if (outcome === 'ran') return attempts;
    if (Date.now() > deadline) throw new Error(`admissions did not resume within 20 s; last outcome: ${String(outcome)}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

describe('Redis unavailable', () => {
  it('charge and settle never reject during a network partition; a failed settlement is retried once the network heals', async () => {
    const warnings: string[] = [];
    const log = (...args: unknown[]): void => void warnings.push(args.map(String).join(' '));
    diag.setLogger({ error: log, warn: log, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
    // Redis keeps running (and keeps its state); only this client's network path through a proxy is cut.
    const proxy = await startProxy(server.port);
    try {
      // No offline queue: a command sent during the partition fails at once instead of waiting to be resent.
      const redis = new Redis(proxy.port, '127.0.0.1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
      redis.on('error', () => {});
      clients.push(redis);
      await new Promise((ready) => redis.once('ready', ready));
      const store = new RedisQuotaStore({ redis, keyPrefix: 'partition:', timeoutMs: 200, refreshIntervalMs: 100 });
      stores.push(store);
      const nodes = [{ key: 'global', limits: { concurrent: 1 }, ephemeral: false }];
      const result = await store.reserve({ nodes, estimate: { tokens: 10, costNanos: 0 }, now: Date.now(), enforce: true });
      if (!result.admitted) throw new Error('expected admission');

      await proxy.cut();
      await expect(within(5_000, 'charge', store.charge(result.lease, { tokens: 50, costNanos: 0 }))).resolves.toBeUndefined();
      await expect(within(5_000, 'settle', Promise.resolve(store.settle(result.lease)))).resolves.toBeUndefined();
      expect(warnings.some((message) => message.includes('charging 50 tokens'))).toBe(true);
      expect(warnings.some((message) => message.includes('settling a run failed'))).toBe(true);
      const direct = new Redis(server.port, '127.0.0.1');
      direct.on('error', () => {});
      clients.push(direct);
      // The lease (60 s TTL) still holds its slot in Redis; no execution is used yet.
      const held = await direct.hgetall('partition:{global}:node:global');
      expect(held).toMatchObject({ rk: '1', re: '1' });
      expect(held.ue).toBeUndefined();

      proxy.heal();
      // The background sync retries the settlement well before the lease would expire.
      const deadline = Date.now() + 10_000;
      while ((await direct.hget('partition:{global}:node:global', 'rk')) !== '0') {
        if (Date.now() > deadline) throw new Error('the failed settlement was not retried within 10 s');
        await new Promise((done) => setTimeout(done, 50));
      }
      expect(await direct.hgetall('partition:{global}:node:global')).toMatchObject({ rk: '0', re: '0', rt: '0', ue: '1' });
    } finally {
      diag.disable();
      await proxy.close();
    }
  });

  it("onUnavailable: 'deny' rejects new runs with an error naming the store; in-flight runs finish; admissions resume", async () => {
    const { agentmeter } = setup('deny', 'outage-deny:');
    expect(await agentmeter.run({ name: 'before' }, async () => 'ran')).toBe('ran');

    let release!: () => void;
    const gate = new Promise<void>((done) => (release = done));
    const inFlight = agentmeter.run({ name: 'in-flight', estimate: { tokens: 100 } }, async (run) => {
      await gate;
      run.recordUsage({ inputTokens: 500, outputTokens: 500 }); // charged while Redis is down: logged, not thrown
      return 'finished';
    });
    await new Promise((done) => setTimeout(done, 50));
    await server.stop();
    release();
    expect(await within(10_000, 'the in-flight run', inFlight)).toBe('finished');

    let called = false;
    const denied = await within(
      10_000,
      'a run while Redis is down',
      agentmeter.run({ name: 'during' }, async () => {
        called = true;
      }),
    ).catch((error: unknown) => error);
    expect(denied).toBeInstanceOf(QuotaStoreUnavailableError);
    expect(denied).toMatchObject({ store: 'redis' });
    expect((denied as QuotaStoreUnavailableError).message).toContain('Quota store redis is unavailable');
    expect(called).toBe(false);

    await server.start();
    await untilAdmitted(agentmeter);
    // Redis came back empty; the store accounts again from there.
    await new Promise((done) => setTimeout(done, 100));
    expect(agentmeter.quota!.snapshot().executions.used).toBeGreaterThanOrEqual(1);
  });

  it("onUnavailable: 'allow' admits runs unaccounted while Redis is down and accounts them again once it is back", async () => {
    const { agentmeter } = setup('allow', 'outage-allow:');
    expect(await agentmeter.run({ name: 'before' }, async () => 'ran')).toBe('ran');
    await server.stop();

    const outcomes = await within(
      10_000,
      'runs while Redis is down',
      Promise.all(Array.from({ length: 3 }, () => agentmeter.run({ name: 'during' }, async () => 'ran unaccounted'))),
    );
    expect(outcomes).toEqual(['ran unaccounted', 'ran unaccounted', 'ran unaccounted']);
    expect(agentmeter.quota!.unaccounted()).toBe(3);

    await server.start();
    await untilAdmitted(agentmeter);
    // The admission that resumed went through Redis: not counted as unaccounted.
    const unaccounted = agentmeter.quota!.unaccounted();
    expect(await agentmeter.run({ name: 'accounted' }, async () => 'ran')).toBe('ran');
    expect(agentmeter.quota!.unaccounted()).toBe(unaccounted);
    const redis = new Redis(server.port, '127.0.0.1');
    redis.on('error', () => {});
    clients.push(redis);
    const deadline = Date.now() + 5_000;
    while (Number(await redis.hget('outage-allow:{global}:node:global', 'ue')) < 1 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 50));
    }
    expect(Number(await redis.hget('outage-allow:{global}:node:global', 'ue'))).toBeGreaterThanOrEqual(1);
  });
});
