import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { BURST_SCOPES as scopes, BUSY_MS, drainedNode, PROCESSES, runBurst } from './helpers/burst.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';
import { ROOT } from './helpers/redis-server.js';
import { tools } from './helpers/tools.js';

/**
 * The busy-client trial of redis-burst.test.ts (issue 15) on a real 3-primary, 3-replica Redis
 * Cluster: each of 4 processes, with its own ioredis `Cluster` client, launches 8 scopes × 250 runs
 * in one synchronous burst, then blocks its own event loop for longer than `timeoutMs`. The scopes'
 * hash tags put them on all three primaries. Every scope must admit exactly min(demand, limit), no
 * run may be refused as "store unavailable", and nothing may stay reserved on any primary.
 */

declare module './helpers/tools.js' {
  interface Tools {
    /** Printed by scripts/ensure-tools.sh; global-setup passes every printed path through. */
    REDIS_CLI_BIN?: string;
  }
}

/** The package as users import it: dist/, built once per test run (ensureBuilt). */
const dist = resolve(ROOT, 'dist');
let cluster: RedisCluster | undefined;
let admin: Cluster | undefined;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  await ensureBuilt();
  cluster = await startRedisCluster({
    redisServer: tools().REDIS_SERVER_BIN,
    redisCli: tools().REDIS_CLI_BIN ?? 'redis-cli',
    nodeTimeoutMillis: 1_000,
  });
  admin = new Cluster(cluster.startupNodes);
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  admin?.disconnect();
  await cluster?.stop();
});

describe('a busy client sharing a quota on a 3-primary, 3-replica Redis Cluster', () => {
  it(`admits exactly min(demand, limit) per scope on every primary when ${PROCESSES} processes burst and then block their loop for ${BUSY_MS} ms`, async () => {
    const keyPrefix = 'burst:';
    const nodeKey = (scope: string) => `${keyPrefix}{${scope}}:node:${scope}`;

    // The scopes' hash tags spread them over all three primaries.
    const primaryPortOf = new Map<string, number>();
    for (const scope of scopes) {
      const slot = Number(await cluster!.cli(cluster!.ports[0]!, 'CLUSTER', 'KEYSLOT', nodeKey(scope)));
      primaryPortOf.set(scope, (await cluster!.primaryOf(slot)).port);
    }
    const primaries = (await cluster!.nodes()).filter((node) => node.role === 'master').map((node) => node.port);
    expect(primaries).toHaveLength(3);
    expect(new Set(primaryPortOf.values())).toEqual(new Set(primaries));

    const admitted = await runBurst({ dist, startupNodes: cluster!.startupNodes }, keyPrefix, children, 'redis cluster burst');

    // Each scope's state lives on the primary its slot names; nothing is held any more, and its
    // usage is its admitted runs' usage, counted once.
    for (const port of primaries) {
      const held = (await cluster!.cli(port, '--raw', 'KEYS', `${keyPrefix}*:node:*`)).trim().split('\n').filter(Boolean).sort();
      expect({ port, held }).toEqual({
        port,
        held: scopes
          .filter((scope) => primaryPortOf.get(scope) === port)
          .map(nodeKey)
          .sort(),
      });
    }
    for (const scope of scopes) {
      expect({ scope, ...(await admin!.hgetall(nodeKey(scope))) }).toMatchObject({ scope, ...drainedNode(admitted[scope] ?? 0) });
    }
  });
});
