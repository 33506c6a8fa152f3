import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RollingWindow } from '../../src/quota-store/index.js';
import { waitFor } from '../helpers/poll.js';
import { ROOT } from './helpers/redis-server.js';
import { stopReplicas, useReplicaFixture, type Replica } from './helpers/replicas.js';

/**
 * Windows across processes (issue 11): 4 processes share a Redis quota with two levels, the whole
 * app (60 runs in any rolling 2 s, in 4 buckets of 500 ms) and each conversation (20 in the same
 * window), and start runs at a steady rate for 4.5 s, across several bucket boundaries. Counted
 * by the `now` each reservation was decided by: no window holds more than its limit, every app
 * window that refused a run holds exactly its limit, and afterwards every key but the app's own
 * scope expires.
 */

const PROCESSES = 4;
const CONVERSATIONS = 4;
const APP_LIMIT = 60;
const CONVERSATION_LIMIT = 20;
const WINDOW = new RollingWindow(2_000, 4, {});
const LEVELS = [
  { name: 'app', scopeBy: 'global', windows: [{ rollingMs: 2_000, buckets: 4, maxExecutions: APP_LIMIT }] },
  { name: 'conversation', scopeBy: 'conversation', windows: [{ rollingMs: 2_000, buckets: 4, maxExecutions: CONVERSATION_LIMIT }] },
];
const REPLICA = resolve(ROOT, 'test/e2e/helpers/redis-window-replica.mjs');

interface TrialResult {
  admitted: Array<{ now: number; scopes: string[] }>;
  denied: Array<{ now: number; key: string; window: string | undefined }>;
  outcomes: Record<string, number>;
  landed: { charges: number; settlements: number };
}

const fixture = useReplicaFixture();

/** Starts one replica of the trial. */
function startTrialReplica(keyPrefix: string): Promise<Replica> {
  return fixture.start(REPLICA, { keyPrefix, levels: LEVELS, leaseTtlMs: 3_000 });
}

/** Admissions per bucket start. */
function perBucket(times: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const time of times) counts.set(WINDOW.bucketStart(time), (counts.get(WINDOW.bucketStart(time)) ?? 0) + 1);
  return counts;
}

/** The admissions of each rolling window that ends in a bucket from `first` to `last`, by the start of its last bucket. */
function perWindow(counts: Map<number, number>, first: number, last: number): Map<number, number> {
  const windows = new Map<number, number>();
  for (let end = first; end <= last; end += WINDOW.bucketMs) {
    let sum = 0;
    for (let bucket = end - 3 * WINDOW.bucketMs; bucket <= end; bucket += WINDOW.bucketMs) sum += counts.get(bucket) ?? 0;
    windows.set(end, sum);
  }
  return windows;
}

describe('a Redis quota with windows shared by 4 processes', () => {
  it('admits no more than each window allows, exactly the limit in every app window that refused a run, and expires its keys afterwards', async () => {
    const keyPrefix = 'windows:';
    const replicas = await Promise.all(Array.from({ length: PROCESSES }, () => startTrialReplica(keyPrefix)));
    const startAt = Date.now() + 300;
    const results = (await Promise.all(
      replicas.map((replica) => replica.request({ type: 'trial', startAt, durationMs: 4_500, everyMs: 10, conversations: CONVERSATIONS })),
    )) as unknown as TrialResult[];
    await stopReplicas(replicas);

    const admitted = results.flatMap((result) => result.admitted);
    const denied = results.flatMap((result) => result.denied);
    const outcomes: Record<string, number> = {};
    for (const result of results) for (const [key, count] of Object.entries(result.outcomes)) outcomes[key] = (outcomes[key] ?? 0) + count;
    const times = admitted.map((admission) => admission.now);
    const first = WINDOW.bucketStart(Math.min(...times));
    const last = WINDOW.bucketStart(Math.max(...times, ...denied.map((denial) => denial.now)));
    const app = perWindow(perBucket(times), first, last);
    console.log(`redis window trial: outcomes ${JSON.stringify(outcomes)}; app runs per rolling window ${JSON.stringify([...app.values()])}`);

    // Nothing but admissions and quota refusals by a level's window.
    for (const outcome of Object.keys(outcomes)) expect(['admitted', 'quota:app:rolling:2s', 'quota:conversation:rolling:2s']).toContain(outcome);
    for (const result of results) expect(result.landed).toEqual({ charges: result.admitted.length, settlements: result.admitted.length });

    // No window holds more than its limit, the app's nor any conversation's.
    for (const [end, count] of app) expect({ end, count: Math.min(count, APP_LIMIT) }).toEqual({ end, count });
    for (let i = 0; i < CONVERSATIONS; i++) {
      const key = `conversation:c${i}`;
      const conversation = perWindow(perBucket(admitted.filter((admission) => admission.scopes.includes(key)).map((a) => a.now)), first, last);
      for (const [end, count] of conversation) expect({ key, end, count: Math.min(count, CONVERSATION_LIMIT) }).toEqual({ key, end, count });
    }
    // A window that refused a run for the app's limit was full: it holds exactly the limit.
    const refusedAt = new Set(denied.filter((denial) => denial.key === 'app:global').map((denial) => WINDOW.bucketStart(denial.now)));
    expect(refusedAt.size).toBeGreaterThanOrEqual(4);
    for (const end of refusedAt) expect({ end, count: app.get(end) }).toEqual({ end, count: APP_LIMIT });

    // In Redis: the app scope counted every run once, holds nothing, and is kept (a level's one scope);
    // every other key (windows, conversations, leases) expires once its window has closed.
    const appKey = `${keyPrefix}{app:global}:node:app:global`;
    expect(await fixture.redis.hgetall(appKey)).toMatchObject({ ue: String(admitted.length), ut: String(admitted.length * 10), re: '0', rk: '0' });
    const windowKeys = await fixture.redis.keys(`${keyPrefix}*:win:*`);
    expect(windowKeys.length).toBe(1 + CONVERSATIONS);
    for (const key of windowKeys) {
      const ttl = await fixture.redis.pttl(key);
      expect({ key, expires: ttl > 0 && ttl <= 2_000 + 1_000 }).toEqual({ key, expires: true });
    }
    await waitFor('every key but the app scope expired', async () => ((await fixture.redis.keys(`${keyPrefix}*`)).length === 1 ? true : undefined), {
      timeoutMillis: 15_000,
      intervalMillis: 200,
    });
    expect(await fixture.redis.keys(`${keyPrefix}*`)).toEqual([appKey]);
  });
});
