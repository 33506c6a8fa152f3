import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { quotaStoreConformance } from '../../src/quota-store/index.js';
import { RedisQuotaStore } from '../../src/redis/index.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

/**
 * The Redis store passes the quota store conformance kit on a real redis-server: the contract
 * case by case, then random workloads (nested budgets, observe mode, estimates, overshoots,
 * double and late settlements, wall time) that must account exactly like the in-memory store
 * after every step. Each store gets its own key prefix, so every case starts from an empty Redis.
 */

let server: RedisServer;
let redis: Redis;
let prefixSerial = 0;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.port, '127.0.0.1', { lazyConnect: false });
});

afterAll(async () => {
  // Unset if beforeAll failed before starting them.
  (redis as Redis | undefined)?.disconnect();
  await (server as RedisServer | undefined)?.stop();
});

describe('RedisQuotaStore conformance', () => {
  const cases = quotaStoreConformance({
    createStore: () => new RedisQuotaStore({ redis, keyPrefix: `conformance${++prefixSerial}:`, refreshIntervalMs: 0 }),
  });
  for (const check of cases) it(check.name, check.run);
});
