import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
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

const REPLICA = resolve(ROOT, 'test/e2e/fixtures/redis-burst.mjs');
/** The package as users import it: dist/, built once per test run (ensureBuilt). */
const dist = resolve(ROOT, 'dist');
const PROCESSES = 4;
const SCOPES = 8;
const RUNS_PER_SCOPE = 250;
const LIMIT = 100;
const TIMEOUT_MS = 500;
const BUSY_MS = 1_500;
/** The fixture's scopes: conversation ids `c0` … `c7`. */
const scopes = Array.from({ length: SCOPES }, (_, i) => `c${i}`);

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

type Counts = Partial<Record<'admitted' | 'quota' | 'unavailable' | 'overloaded', number>> & Record<string, number>;
interface BurstResult {
  byScope: Record<string, Counts>;
  landed: { charges: number; settlements: number };
  messages: string[];
}

async function startReplica(keyPrefix: string): Promise<(message: Record<string, unknown>) => Promise<Record<string, unknown>>> {
  const options = { dist, startupNodes: cluster!.startupNodes, keyPrefix, limits: { maxExecutions: LIMIT }, timeoutMs: TIMEOUT_MS };
  const child = fork(REPLICA, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const next = (): Promise<Record<string, unknown>> =>
    new Promise((resolveMessage, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`replica exited (${code}) before answering`));
      child.once('exit', onExit);
      child.once('message', (message: Record<string, unknown>) => {
        child.off('exit', onExit);
        if (message.type === 'error') reject(new Error(String(message.message)));
        else resolveMessage(message);
      });
    });
  await next(); // ready
  return (message) => {
    const answer = next();
    child.send(message);
    return answer;
  };
}

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

    const replicas = await Promise.all(Array.from({ length: PROCESSES }, () => startReplica(keyPrefix)));
    const startAt = Date.now() + 300;
    const results = (await Promise.all(
      replicas.map((request) => request({ type: 'burst', scopes: SCOPES, runsPerScope: RUNS_PER_SCOPE, busyMs: BUSY_MS, startAt })),
    )) as unknown as BurstResult[];

    const totals: Record<string, Counts> = {};
    for (const result of results) {
      for (const [scope, counts] of Object.entries(result.byScope)) {
        const total = (totals[scope] ??= {});
        for (const [key, value] of Object.entries(counts)) total[key] = (total[key] ?? 0) + value;
      }
    }
    // Printed so that a refusal explained by the admission queue's bound is visible, counted.
    console.log(
      `redis cluster burst: outcomes per scope ${JSON.stringify(totals)}; messages ${JSON.stringify([...new Set(results.flatMap((r) => r.messages))])}`,
    );

    expect(Object.keys(totals).sort()).toEqual(scopes);
    for (const [scope, counts] of Object.entries(totals)) {
      const demand = PROCESSES * RUNS_PER_SCOPE - (counts.overloaded ?? 0);
      const { admitted = 0, quota = 0, overloaded = 0, ...others } = counts;
      expect({ scope, admitted, others }).toEqual({ scope, admitted: Math.min(demand, LIMIT), others: {} });
      expect(admitted + quota + overloaded).toBe(PROCESSES * RUNS_PER_SCOPE);
    }
    for (const result of results) {
      const admitted = Object.values(result.byScope).reduce((sum, counts) => sum + (counts.admitted ?? 0), 0);
      expect(result.landed).toEqual({ charges: admitted, settlements: admitted });
    }

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
      const admitted = totals[scope]?.admitted ?? 0;
      expect({ scope, ...(await admin!.hgetall(nodeKey(scope))) }).toMatchObject({
        scope,
        ue: String(admitted),
        ut: String(admitted * 10),
        re: '0',
        rk: '0',
        rt: '0',
      });
    }
    await Promise.all(replicas.map((request) => request({ type: 'exit' }).catch(() => undefined)));
  });
});
