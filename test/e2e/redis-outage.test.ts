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
  await server?.stop();
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
    const outcome = await within(5_000, 'a run while Redis restarts', agentmeter.run({ name: 'after' }, async () => 'ran')).catch((error: unknown) => error);
    if (outcome === 'ran') return attempts;
    if (Date.now() > deadline) throw new Error(`admissions did not resume within 20 s; last outcome: ${String(outcome)}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

describe('Redis unavailable', () => {
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
    expect(denied).toMatchObject({ store: 'redis', message: expect.stringContaining('Quota store redis is unavailable') });
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
    clients.push(redis);
    const deadline = Date.now() + 5_000;
    while (Number(await redis.hget('outage-allow:{global}:node:global', 'ue')) < 1 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 50));
    }
    expect(Number(await redis.hget('outage-allow:{global}:node:global', 'ue'))).toBeGreaterThanOrEqual(1);
  });
});
