import { fork, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, ROOT, startRedisServer, type RedisServer } from './helpers/redis-server.js';

/**
 * A busy client (issue 15): each of 4 processes launches 8 scopes × 250 runs in one synchronous
 * burst, then blocks its own event loop for longer than `timeoutMs` (a CPU spike). Redis answers
 * in time throughout, so no run may be refused as "store unavailable", every scope must admit
 * exactly min(demand, limit), and nothing may stay reserved.
 */

const REPLICA = resolve(ROOT, 'test/e2e/fixtures/redis-burst.mjs');
const PROCESSES = 4;
const SCOPES = 8;
const RUNS_PER_SCOPE = 250;
const LIMIT = 100;
const TIMEOUT_MS = 500;
const BUSY_MS = 1_500;

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

type Counts = Partial<Record<'admitted' | 'quota' | 'unavailable' | 'overloaded', number>> & Record<string, number>;
interface BurstResult {
  byScope: Record<string, Counts>;
  landed: { charges: number; settlements: number };
  messages: string[];
}

async function startReplica(keyPrefix: string): Promise<(message: Record<string, unknown>) => Promise<Record<string, unknown>>> {
  const options = { dist, port: server.port, keyPrefix, limits: { maxExecutions: LIMIT }, timeoutMs: TIMEOUT_MS };
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

describe('a busy client sharing a Redis quota', () => {
  it(`admits exactly min(demand, limit) per scope when ${PROCESSES} processes burst and then block their loop for ${BUSY_MS} ms`, async () => {
    const keyPrefix = 'burst:';
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
    console.log(`redis burst: outcomes per scope ${JSON.stringify(totals)}; messages ${JSON.stringify([...new Set(results.flatMap((r) => r.messages))])}`);

    expect(Object.keys(totals).sort()).toEqual(Array.from({ length: SCOPES }, (_, i) => `c${i}`));
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

    // Nothing is held any more, and each scope's usage is its admitted runs' usage, counted once.
    const nodes = (await redis.keys(`${keyPrefix}*:node:*`)).sort();
    expect(nodes).toHaveLength(SCOPES);
    for (const key of nodes) {
      const scope = key.slice(key.lastIndexOf(':') + 1);
      const admitted = totals[scope]?.admitted ?? 0;
      expect({ key, ...(await redis.hgetall(key)) }).toMatchObject({ key, ue: String(admitted), ut: String(admitted * 10), re: '0', rk: '0', rt: '0' });
    }
    await Promise.all(replicas.map((request) => request({ type: 'exit' }).catch(() => undefined)));
  });
});
