import { describe, expect, it } from 'vitest';
import type { BudgetNode, ReserveResult } from '../../src/quota-store/index.js';
import { QuotaStoreUnavailableError } from '../../src/index.js';
import { QuotaStoreOverloadedError, RedisQuotaStore, type RedisLease } from '../../src/redis/index.js';
import { waitFor } from '../helpers/poll.js';
import { useRedisServer } from './helpers/redis-fixture.js';

/**
 * The store under a busy client (issue 15): time this process's own event loop spends blocked
 * does not count against Redis, and Redis that really is late still times out.
 */

const fixture = useRedisServer();

function createStore(options: Partial<ConstructorParameters<typeof RedisQuotaStore>[0]> & { keyPrefix: string }): RedisQuotaStore {
  return fixture.track(new RedisQuotaStore({ redis: fixture.client(), refreshIntervalMs: 0, ...options }));
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
    await fixture.admin.client('PAUSE', 600, 'ALL');
    const outcome = await settle(reserve(store, nodes));
    expect(!outcome.ok && QuotaStoreUnavailableError.isInstance(outcome.error)).toBe(true);
    // Once Redis runs the reservation, nothing of it is left held.
    await waitFor(
      'the late reservation to be given back',
      async () => {
        const node = await fixture.admin.hgetall('busy-paused:{global}:node:global');
        return node.re === '0' && node.rk === '0' ? node : undefined;
      },
      { timeoutMillis: 5_000, intervalMillis: 50 },
    );
    // Cancelled, not settled: its execution is given back too.
    expect((await fixture.admin.hget('busy-paused:{global}:node:global', 'ue')) ?? '0').toBe('0');
  });

  it('a reservation that reaches Redis after its caller gave up reserves nothing there', async () => {
    const keyPrefix = 'busy-expired:';
    const store = createStore({ keyPrefix, timeoutMs: 100 });
    const nodes = [scope({ executions: 10 })];
    // Longer than timeoutMs plus the clock tolerance (1 s): Redis runs the script past the deadline.
    await fixture.admin.client('PAUSE', 1_500, 'ALL');
    const outcome = await settle(reserve(store, nodes));
    expect(!outcome.ok && QuotaStoreUnavailableError.isInstance(outcome.error)).toBe(true);
    await new Promise((done) => setTimeout(done, 1_600));
    // Neither a reservation given back later nor a lease: the script refused it as expired.
    expect(await fixture.admin.keys(`${keyPrefix}*`)).toEqual([]);
    const again = await reserve(store, nodes);
    expect(again.admitted).toBe(true);
  });

  it('a reservation refused as expired while its caller still waits (a blocked loop) is sent again', async () => {
    const keyPrefix = 'busy-resent:';
    const store = createStore({ keyPrefix, timeoutMs: 100 });
    const nodes = [scope({ executions: 10 })];
    await fixture.admin.client('PAUSE', 1_300, 'ALL');
    const pending = settle(reserve(store, nodes));
    busyWait(1_400); // the caller's loop is blocked past its deadline; Redis runs the script after it
    const outcome = await pending;
    expect(outcome.ok && outcome.value.admitted).toBe(true);
    expect(await fixture.admin.hget(`${keyPrefix}{global}:node:global`, 're')).toBe('1');
  });

  it('smooths a burst larger than Redis answers within timeoutMs instead of refusing it', async () => {
    // Redis runs about 10,000 reservations a second: sent at once, the last of 6,000 would wait
    // longer than 250 ms for their reply.
    const store = createStore({ keyPrefix: 'busy-burst:', timeoutMs: 250 });
    const nodes = [scope({ executions: 100_000 })];
    const outcomes = await Promise.all(Array.from({ length: 6_000 }, () => settle(reserve(store, nodes))));
    const refused = outcomes.filter((outcome) => !outcome.ok).map((outcome) => (outcome as { error: Error }).error.name);
    expect({ admitted: outcomes.length - refused.length, refused: [...new Set(refused)] }).toEqual({ admitted: 6_000, refused: [] });
  });

  it('refuses runs beyond maxQueueDepth or maxQueueAgeMs with QuotaStoreOverloadedError, naming the bound', async () => {
    const nodes = [scope({ executions: 100_000 })];
    const reasons = (outcomes: Array<Awaited<ReturnType<typeof settle>>>): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const outcome of outcomes) {
        const key = outcome.ok ? 'admitted' : QuotaStoreOverloadedError.isInstance(outcome.error) ? outcome.error.reason : String(outcome.error);
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    };

    const shallow = createStore({ keyPrefix: 'busy-deep:', maxQueueDepth: 10 });
    const full = await Promise.all(Array.from({ length: 64 + 10 + 5 }, () => settle(reserve(shallow, nodes))));
    expect(reasons(full)).toEqual({ admitted: 74, 'queue-full': 5 });
    const refusal = full.find((outcome) => !outcome.ok) as { error: QuotaStoreOverloadedError };
    expect(refusal.error.name).toBe('QuotaStoreOverloadedError');
    expect(refusal.error.message).toMatch(/maxQueueDepth 10/);

    const impatient = createStore({ keyPrefix: 'busy-old:', maxQueueAgeMs: 50 });
    const pending = Array.from({ length: 200 }, () => settle(reserve(impatient, nodes)));
    busyWait(200); // every queued run is older than 50 ms by the time its turn comes
    expect(reasons(await Promise.all(pending))).toEqual({ admitted: 64, 'queue-timeout': 136 });
  });

  it("under onUnavailable: 'allow', admits a run beyond the queue's bound unaccounted instead", async () => {
    const store = createStore({ keyPrefix: 'busy-allow:', maxQueueDepth: 0, onUnavailable: 'allow' });
    const nodes = [scope({ executions: 100_000 })];
    const outcomes = await Promise.all(Array.from({ length: 64 + 3 }, () => reserve(store, nodes)));
    const unaccounted = outcomes.filter((outcome) => outcome.admitted && outcome.unaccounted === true).length;
    expect({ admitted: outcomes.filter((outcome) => outcome.admitted).length, unaccounted }).toEqual({ admitted: 67, unaccounted: 3 });
  });
});
