import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetNode, ReserveResult } from '../../src/quota-store/index.js';
import { QuotaStoreUnavailableError } from '../../src/index.js';
import { RedisQuotaStore, type RedisLease } from '../../src/redis/index.js';
import { waitFor } from '../helpers/poll.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

/**
 * The store under a busy client (issue 15): time this process's own event loop spends blocked
 * does not count against Redis, and Redis that really is late still times out.
 */

let server: RedisServer;
let admin: Redis;
const clients: Redis[] = [];
const stores: RedisQuotaStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.port, '127.0.0.1');
});

afterAll(async () => {
  for (const store of stores) await store.close();
  for (const client of clients) client.disconnect();
  // Unset if beforeAll failed before starting them.
  (admin as Redis | undefined)?.disconnect();
  await (server as RedisServer | undefined)?.stop();
});

function createStore(options: Partial<ConstructorParameters<typeof RedisQuotaStore>[0]> & { keyPrefix: string }): RedisQuotaStore {
  const redis = new Redis(server.port, '127.0.0.1');
  clients.push(redis);
  const store = new RedisQuotaStore({ redis, refreshIntervalMs: 0, ...options });
  stores.push(store);
  return store;
}

const scope = (limits: BudgetNode['limits']): BudgetNode => ({ key: 'global', limits, ephemeral: false });

function reserve(store: RedisQuotaStore, nodes: BudgetNode[]): Promise<ReserveResult<RedisLease>> {
  return store.reserve({ nodes, estimate: { tokens: 0, costNanos: 0 }, now: Date.now(), enforce: true });
}

/** A CPU spike: nothing else runs on this event loop for `ms`. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spinning
  }
}

/** Settles a promise into `{ ok, value | error }` so that a rejection is asserted, not thrown. */
function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

describe('RedisQuotaStore under a busy client', () => {
  it('a reply received while the event loop was blocked wins over the timer that fired meanwhile', async () => {
    const store = createStore({ keyPrefix: 'busy-one:', timeoutMs: 100 });
    const nodes = [scope({ executions: 10 })];
    await store.settle((await reserve(store, nodes).then((result) => (result.admitted ? result : Promise.reject(new Error('denied'))))).lease);

    const pending = settle(reserve(store, nodes)); // written to the socket at once
    busyWait(400); // Redis answers meanwhile; the reply waits, unread, behind the timer
    const outcome = await pending;
    expect(outcome.ok && outcome.value.admitted).toBe(true);
  });

  it('commands queued behind a blocked loop get timeoutMs from when the loop runs again', async () => {
    const store = createStore({ keyPrefix: 'busy-many:', timeoutMs: 100 });
    const nodes = [scope({ executions: 300 })];
    const pending = Array.from({ length: 500 }, () => settle(reserve(store, nodes)));
    busyWait(400);
    const outcomes = await Promise.all(pending);
    const admitted = outcomes.filter((outcome) => outcome.ok && outcome.value.admitted).length;
    const unavailable = outcomes.filter((outcome) => !outcome.ok && QuotaStoreUnavailableError.isInstance(outcome.error)).length;
    expect({ admitted, unavailable }).toEqual({ admitted: 300, unavailable: 0 });
  });

  it('still times out when Redis itself is late, and gives a late reservation back', async () => {
    const store = createStore({ keyPrefix: 'busy-paused:', timeoutMs: 100 });
    const nodes = [scope({ executions: 10 })];
    await admin.client('PAUSE', 600, 'ALL');
    const outcome = await settle(reserve(store, nodes));
    expect(!outcome.ok && QuotaStoreUnavailableError.isInstance(outcome.error)).toBe(true);
    // Once Redis runs the reservation, nothing of it is left held.
    await waitFor(
      'the late reservation to be given back',
      async () => {
        const node = await admin.hgetall('busy-paused:{global}:node:global');
        return node.re === '0' && node.rk === '0' ? node : undefined;
      },
      { timeoutMillis: 5_000, intervalMillis: 50 },
    );
    // Cancelled, not settled: its execution is given back too.
    expect((await admin.hget('busy-paused:{global}:node:global', 'ue')) ?? '0').toBe('0');
  });

  it('a reservation that reaches Redis after its caller gave up reserves nothing there', async () => {
    const keyPrefix = 'busy-expired:';
    const store = createStore({ keyPrefix, timeoutMs: 100 });
    const nodes = [scope({ executions: 10 })];
    // Longer than timeoutMs plus the clock tolerance (1 s): Redis runs the script past the deadline.
    await admin.client('PAUSE', 1_500, 'ALL');
    const outcome = await settle(reserve(store, nodes));
    expect(!outcome.ok && QuotaStoreUnavailableError.isInstance(outcome.error)).toBe(true);
    await new Promise((done) => setTimeout(done, 1_600));
    // Neither a reservation given back later nor a lease: the script refused it as expired.
    expect(await admin.keys(`${keyPrefix}*`)).toEqual([]);
    const again = await reserve(store, nodes);
    expect(again.admitted).toBe(true);
  });

  it('a reservation refused as expired while its caller still waits (a blocked loop) is sent again', async () => {
    const keyPrefix = 'busy-resent:';
    const store = createStore({ keyPrefix, timeoutMs: 100 });
    const nodes = [scope({ executions: 10 })];
    await admin.client('PAUSE', 1_300, 'ALL');
    const pending = settle(reserve(store, nodes));
    busyWait(1_400); // the caller's loop is blocked past its deadline; Redis runs the script after it
    const outcome = await pending;
    expect(outcome.ok && outcome.value.admitted).toBe(true);
    expect(await admin.hget(`${keyPrefix}{global}:node:global`, 're')).toBe('1');
  });
});
