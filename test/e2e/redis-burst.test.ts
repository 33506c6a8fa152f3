import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BURST_SCOPES, BUSY_MS, drainedNode, PROCESSES, runBurst } from './helpers/burst.js';
import { buildPackage, startRedisServer, type RedisServer } from './helpers/redis-server.js';

/**
 * A busy client (issue 15): each of 4 processes launches 8 scopes × 250 runs in one synchronous
 * burst, then blocks its own event loop for longer than `timeoutMs` (a CPU spike). Redis answers
 * in time throughout, so no run may be refused as "store unavailable", every scope must admit
 * exactly min(demand, limit), and nothing may stay reserved.
 */

let server: RedisServer;
let redis: Redis;
let dist: string | undefined;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dist = buildPackage();
  server = await startRedisServer();
  redis = new Redis(server.port, '127.0.0.1');
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  // Unset if beforeAll failed before starting them.
  (redis as Redis | undefined)?.disconnect();
  await (server as RedisServer | undefined)?.stop();
  if (dist !== undefined) rmSync(dist, { recursive: true, force: true });
});

describe('a busy client sharing a Redis quota', () => {
  it(`admits exactly min(demand, limit) per scope when ${PROCESSES} processes burst and then block their loop for ${BUSY_MS} ms`, async () => {
    const keyPrefix = 'burst:';
    const admitted = await runBurst({ dist: dist!, port: server.port }, keyPrefix, children, 'redis burst');

    // Nothing is held any more, and each scope's usage is its admitted runs' usage, counted once.
    const nodes = (await redis.keys(`${keyPrefix}*:node:*`)).sort();
    expect(nodes).toHaveLength(BURST_SCOPES.length);
    for (const key of nodes) {
      const scope = key.slice(key.lastIndexOf(':') + 1);
      expect({ key, ...(await redis.hgetall(key)) }).toMatchObject({ key, ...drainedNode(admitted[scope] ?? 0) });
    }
  });
});
