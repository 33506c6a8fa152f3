import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentMeter, QuotaExceededError } from '../../src/index.js';
import { RedisQuotaStore } from '../../src/redis/index.js';
import { waitFor } from '../helpers/poll.js';
import { ROOT } from './helpers/redis-server.js';
import { stopReplicas, useReplicaFixture, type Replica } from './helpers/replicas.js';

/**
 * Several Node processes (replicas) share one quota through Redis. Each replica is a real child
 * process running the built package (dist/) with its own ioredis client.
 */

const REPLICA = resolve(ROOT, 'test/e2e/fixtures/redis-replica.mjs');
const TRIALS = 5;

const fixture = useReplicaFixture();

afterEach(() => {
  for (const child of fixture.children) child.kill('SIGKILL');
  fixture.children.clear();
});

interface ReplicaOptions {
  keyPrefix: string;
  limits: Record<string, number>;
  leaseTtlMs?: number;
  timeoutMs?: number;
}

/** Starts one replica on the test's Redis, with a 60 s lease TTL and a 2 s timeout unless `options` says otherwise. */
function startRedisReplica(options: ReplicaOptions): Promise<Replica> {
  return fixture.start(REPLICA, { leaseTtlMs: 60_000, timeoutMs: 2_000, ...options });
}

describe('replicas sharing a Redis quota', () => {
  it(`admits exactly maxExecutions across 4 processes × 250 concurrent runs (${TRIALS} trials)`, async () => {
    for (let trial = 1; trial <= TRIALS; trial++) {
      const keyPrefix = `replicas${trial}:`;
      const replicas = await Promise.all(Array.from({ length: 4 }, () => startRedisReplica({ keyPrefix, limits: { maxExecutions: 100 } })));
      // Every replica starts its 250 runs at the same wall-clock moment.
      const startAt = Date.now() + 300;
      const results = await Promise.all(replicas.map((replica) => replica.request({ type: 'admit', runs: 250, workMs: 5, startAt })));
      const admitted = results.reduce((sum, result) => sum + Number(result.admitted), 0);
      const denied = results.reduce((sum, result) => sum + Number(result.denied), 0);
      expect(
        results.flatMap((result) => result.failed as string[]),
        `trial ${trial}`,
      ).toEqual([]);
      expect({ trial, admitted, denied }).toEqual({ trial, admitted: 100, denied: 900 });
      // Nothing leaked: every admitted run settled, its usage charged once.
      const node = await fixture.redis.hgetall(`${keyPrefix}{global}:node:global`);
      expect(node).toMatchObject({ ue: '100', re: '0', rk: '0', rt: '0', ut: '1000', uc: '1000000' }); // 100 × $0.00001 in nano-dollars
      expect(await fixture.redis.zcard(`${keyPrefix}{global}:leases`)).toBe(0);
      await stopReplicas(replicas);
    }
  });

  it('returns the slots of a killed replica after the lease TTL; what it consumed stays consumed', async () => {
    const keyPrefix = 'killed:';
    const limits = { maxConcurrent: 3 };
    const leaseTtlMs = 1_500;
    const replica = await startRedisReplica({ keyPrefix, limits, leaseTtlMs, timeoutMs: 300 });
    await replica.request({ type: 'hold', runs: 3, tokensEach: 100 });

    const client = new Redis(fixture.server.port, '127.0.0.1');
    const store = new RedisQuotaStore({ redis: client, keyPrefix, leaseTtlMs, timeoutMs: 300 });
    const agentmeter = new AgentMeter({ quota: { limits, store } });
    try {
      const tryRun = (): Promise<string> => agentmeter.run({ name: 'survivor' }, async () => 'ran');
      const denial = await tryRun().catch((error: unknown) => error);
      expect(QuotaExceededError.isInstance(denial) && denial.resource).toBe('concurrent');
      // While the replica lives it renews its leases: still denied after twice the TTL.
      await new Promise((done) => setTimeout(done, 2 * leaseTtlMs));
      const stillDenied = await tryRun().catch((error: unknown) => error);
      expect(QuotaExceededError.isInstance(stillDenied) && stillDenied.resource).toBe('concurrent');

      replica.child.kill('SIGKILL');
      const result = await waitFor(
        'the killed replica’s slots to come back',
        () =>
          tryRun().catch((error: unknown) => {
            if (!QuotaExceededError.isInstance(error)) throw error;
            return undefined;
          }),
        { timeoutMillis: 15_000, intervalMillis: 100 },
      );
      expect(result).toBe('ran');
      // The processor settles without awaiting the store: wait (bounded) for the settlement to land.
      await waitFor('the settlement to land', () => (agentmeter.quota!.snapshot().executions.reserved === 0 ? true : undefined), {
        timeoutMillis: 5_000,
        intervalMillis: 20,
      });
      const snapshot = agentmeter.quota!.snapshot();
      // The three stuck runs were admitted: they count as executions; their 300 tokens stay used.
      expect(snapshot.tokens).toMatchObject({ used: 300, reserved: 0 });
      expect(snapshot.executions).toMatchObject({ used: 4, reserved: 0 });
      expect(snapshot.concurrent).toMatchObject({ used: 0 });
    } finally {
      await store.close();
      client.disconnect();
    }
  });
});
